"""JSON endpoints of the three-gap board under ``/api/v1/board``; ``format=csv`` gives the same table as CSV."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from starlette.responses import Response

from bridgehead.common.types import MAX_ID
from bridgehead.intelligence import tables
from bridgehead.intelligence.api import CHART_RESPONSES, ChartExtension, chart_file
from bridgehead.intelligence.board import charts, plan, service, snapshot
from bridgehead.intelligence.board.schemas import (
    GAP_TITLES,
    Board,
    BoardQuery,
    GapDrill,
    GapName,
    PlanRead,
    PlanWrite,
)
from bridgehead.intelligence.schemas import OutputFormat
from bridgehead.web.deps import ApiUser, SessionDep, SettingsDep

router = APIRouter(prefix="/board", tags=["board"])
_CSV: dict[str, Any] = {"text/csv": {}}
PriorityId = Annotated[int, Path(ge=1, le=MAX_ID)]


def _csv(columns: list[str], rows: list[dict[str, Any]], name: str) -> Response:
    return Response(
        tables.to_csv(columns, rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


def board_table(result: Board) -> tuple[list[str], list[dict[str, Any]]]:
    """One row per priority and gap, with the trend as one column per period."""
    columns = ["org_unit_id", "org_unit", "priority_id", "priority", "gap", "value", "severity", "summary"]
    rows = []
    for row in result.rows:
        for cell in row.cells:
            rows.append(
                {
                    "org_unit_id": result.org_unit_id,
                    "org_unit": result.org_unit_name,
                    "priority_id": row.priority_id,
                    "priority": row.title,
                    "gap": cell.gap.value,
                    "value": None if cell.value is None else round(cell.value, 2),
                    "severity": cell.severity,
                    "summary": cell.summary,
                    **{
                        point.period: None if point.value is None else round(point.value, 2)
                        for point in cell.trend
                    },
                }
            )
    return [*columns, *result.periods], rows


def drill_table(result: GapDrill) -> tuple[list[str], list[dict[str, Any]]]:
    """The units and reps ranked by contribution, then the deals causing the gap (``section`` says which)."""
    rows: list[dict[str, Any]] = [
        {"section": member.kind, **member.model_dump(exclude={"kind"})} for member in result.members
    ]
    rows.extend(
        {"section": "deal", **deal.model_dump(exclude={"reasons"}), "reasons": "; ".join(deal.reasons)}
        for deal in result.deals
    )
    columns = [
        "section", "id", "name", "value", "weight", "contribution", "open_signals",
        "account", "owner", "stage", "amount", "close_date", "reasons", "url",
    ]  # fmt: skip
    return columns, rows


@router.get("", response_model=Board, responses={200: {"content": _CSV}})
def get_board(
    query: Annotated[BoardQuery, Query()], user: ApiUser, session: SessionDep, settings: SettingsDep
) -> Any:
    """Every active priority x the alignment, effects and knowledge gaps (0-100, higher is worse)
    at an org unit, with the trend over the period and the three before it. ``as_of`` is the moment
    the figures describe (a snapshot's when ``from_snapshot``); ``refresh=true`` reads them afresh."""
    result = service.board(
        session,
        viewer=user,
        period=query.period,
        org_unit_id=query.org_unit_id,
        freshness=snapshot.freshness_for(settings.board_snapshot_minutes, refresh=query.refresh),
    )
    if query.format == OutputFormat.CSV:
        return _csv(*board_table(result), f"gap-board-{result.period}")
    return result


@router.get("/plans/{priority_id}", response_model=PlanRead)
def get_plan(priority_id: PriorityId, user: ApiUser, session: SessionDep) -> PlanRead:
    """The plan figures the board uses for a priority (planned share, assumed win rate and cycle)."""
    service.require_board(user)
    return plan.plan_read(session, priority_id)


@router.put("/plans/{priority_id}", response_model=PlanRead)
def put_plan(priority_id: PriorityId, data: PlanWrite, user: ApiUser, session: SessionDep) -> PlanRead:
    """Store the plan figures for a priority (admins, executives, planners)."""
    return plan.set_plan(session, actor=user, priority_id=priority_id, data=data)


@router.get("/{priority_id}/{gap}/trend.{extension}", responses=CHART_RESPONSES)
def get_trend_chart(
    priority_id: PriorityId,
    gap: GapName,
    extension: ChartExtension,
    query: Annotated[BoardQuery, Query()],
    user: ApiUser,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    """The drill-down's trend chart of a gap: its Vega-Lite spec (json), drawn on the server (png,
    svg), or its points (csv); figures from the board's snapshot, as ``get_board``."""
    result = service.trend(
        session,
        viewer=user,
        priority_id=priority_id,
        gap=gap,
        period=query.period,
        org_unit_id=query.org_unit_id,
        freshness=snapshot.freshness_for(settings.board_snapshot_minutes, refresh=query.refresh),
    )
    rows = [
        {
            "org_unit_id": result.org_unit_id,
            "org_unit": result.org_unit_name,
            "priority_id": result.priority_id,
            "priority": result.title,
            "gap": gap.value,
            "period": point.period,
            "value": None if point.value is None else round(point.value, 2),
        }
        for point in result.points
    ]
    spec = charts.trend_chart(
        result.points,
        f"{GAP_TITLES[gap]} of {result.title} · {result.org_unit_name} (as of {result.as_of:%Y-%m-%d})",
    )
    name = f"gap-{gap.value}-{priority_id}-{result.org_unit_id}-{result.period}-trend"
    columns = ["org_unit_id", "org_unit", "priority_id", "priority", "gap", "period", "value"]
    return chart_file(spec, columns, rows, name, extension)


@router.get("/{priority_id}/{gap}", response_model=GapDrill, responses={200: {"content": _CSV}})
def get_drill_down(
    priority_id: PriorityId,
    gap: GapName,
    query: Annotated[BoardQuery, Query()],
    user: ApiUser,
    session: SessionDep,
    settings: SettingsDep,
) -> Any:
    """A gap of a priority at a unit: its parts, the units and reps ranked by contribution, the
    deals that cause it, and links to the gap inbox filtered the same way (figures from the
    board's snapshot, as ``get_board``)."""
    result = service.drill_down(
        session,
        viewer=user,
        priority_id=priority_id,
        gap=gap,
        period=query.period,
        org_unit_id=query.org_unit_id,
        freshness=snapshot.freshness_for(settings.board_snapshot_minutes, refresh=query.refresh),
    )
    if query.format == OutputFormat.CSV:
        return _csv(*drill_table(result), f"gap-{gap.value}-{priority_id}-{result.period}")
    return result
