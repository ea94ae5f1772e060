"""The three-gap board pages: the grid at ``/board`` and a gap's drill-down at ``/board/{priority_id}/{gap}``."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import RedirectResponse
from pydantic import ValidationError as PydanticValidationError
from starlette.responses import Response

from bridgehead.auth.models import User
from bridgehead.common.types import MAX_ID
from bridgehead.config import Settings
from bridgehead.errors import NotFound, ValidationFailed
from bridgehead.intelligence.board import charts, plan, service, snapshot
from bridgehead.intelligence.board.describe import format_gap
from bridgehead.intelligence.board.schemas import GAP_SUBTITLES, GAP_TITLES, BoardQuery, GapName, PlanWrite
from bridgehead.web.deps import CsrfProtected, PageUser, SessionDep, SettingsDep
from bridgehead.web.templating import render

router = APIRouter(include_in_schema=False)
PriorityId = Annotated[int, Path(ge=1, le=MAX_ID)]
PageQuery = Annotated[BoardQuery, Query()]


def _spec_json(spec: dict[str, Any]) -> str:
    # Inside <script type="application/json">: "</" must not close the element early.
    return json.dumps(spec).replace("</", "<\\/")


def _error_text(exc: ValidationFailed) -> str:
    return f"{exc.message} ({exc.context.get('field')}: {exc.context.get('value')})"


def _base_context(query: BoardQuery) -> dict[str, Any]:
    return {
        "query": query,
        "gap_titles": {name.value: title for name, title in GAP_TITLES.items()},
        "gap_subtitles": {name.value: text for name, text in GAP_SUBTITLES.items()},
        "format_gap": format_gap,
        "error": None,
    }


def _without_refresh(request: Request) -> RedirectResponse:
    """After a refresh, the same page without ``refresh`` (reloading it must not read afresh again)."""
    params = [(key, value) for key, value in request.query_params.multi_items() if key != "refresh"]
    return RedirectResponse(request.url.path + ("?" + urlencode(params) if params else ""), status_code=303)


@router.get("/board")
def board_page(
    request: Request, query: PageQuery, user: PageUser, session: SessionDep, settings: SettingsDep
) -> Response:
    """Priorities x the three gaps at a unit, each with its number, severity and trend; ``refresh``
    reads the figures afresh and shows the page again."""
    context = _base_context(query)
    try:
        result = service.board(
            session,
            viewer=user,
            period=query.period,
            org_unit_id=query.org_unit_id,
            freshness=snapshot.freshness_for(settings.board_snapshot_minutes, refresh=query.refresh),
        )
    except ValidationFailed as exc:
        context["error"] = _error_text(exc)
        return render(request, "board/board.html", {**context, "board": None}, status_code=422)
    except NotFound:
        if query.org_unit_id is not None:
            raise
        # No unit to show yet (an empty organisation, or a manager without a unit): say what to do.
        return render(request, "board/board.html", {**context, "board": None, "no_units": True})
    if query.refresh:
        return _without_refresh(request)
    sparks = {
        f"spark-{row.priority_id}-{cell.gap.value}": _spec_json(
            charts.sparkline(cell.trend, f"{GAP_TITLES[cell.gap]} of {row.title}")
        )
        for row in result.rows
        for cell in row.cells
    }
    return render(request, "board/board.html", {**context, "board": result, "sparks": sparks})


@router.get("/board/{priority_id}/{gap}")
def drill_page(
    request: Request,
    priority_id: PriorityId,
    gap: GapName,
    query: PageQuery,
    user: PageUser,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    """A gap of a priority at a unit: parts, trend, units and reps by contribution, deals, gap inbox."""
    return _drill(request, priority_id, gap, query, user, session, settings)


def _drill(
    request: Request,
    priority_id: int,
    gap: GapName,
    query: BoardQuery,
    user: User,
    session: SessionDep,
    settings: Settings,
    *,
    form_error: str | None = None,
) -> Response:
    context = _base_context(query)
    try:
        result = service.drill_down(
            session,
            viewer=user,
            priority_id=priority_id,
            gap=gap,
            period=query.period,
            org_unit_id=query.org_unit_id,
            freshness=snapshot.freshness_for(settings.board_snapshot_minutes, refresh=query.refresh),
        )
    except ValidationFailed as exc:
        context["error"] = _error_text(exc)
        return render(request, "board/drill.html", {**context, "drill": None}, status_code=422)
    if query.refresh and form_error is None:
        return _without_refresh(request)
    context.update(
        {
            "drill": result,
            "trend_spec": _spec_json(charts.trend_chart(result.trend, f"{GAP_TITLES[gap]} by period")),
            "may_edit_plan": user.role in plan.PLAN_EDITORS,
            "form_error": form_error,
        }
    )
    return render(request, "board/drill.html", context, status_code=422 if form_error else 200)


def _optional_decimal(text: str, field: str) -> Decimal | None:
    if not text.strip():
        return None
    try:
        return Decimal(text.strip())
    except InvalidOperation:
        raise ValidationFailed("must be a number", field=field, value=text) from None


@router.post("/board/plans/{priority_id}", dependencies=[CsrfProtected])
def save_plan(
    request: Request,
    priority_id: PriorityId,
    user: PageUser,
    session: SessionDep,
    settings: SettingsDep,
    gap: Annotated[GapName, Form()] = GapName.ALIGNMENT,
    org_unit_id: Annotated[str, Form(max_length=20)] = "",
    period: Annotated[str, Form(max_length=20)] = "",
    planned_share_percent: Annotated[str, Form(max_length=20)] = "",
    assumed_win_rate_percent: Annotated[str, Form(max_length=20)] = "",
    assumed_cycle_days: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """Store the plan figures from the drill-down's form, then show the drill-down again."""
    query = BoardQuery(period=period or None, org_unit_id=int(org_unit_id) if org_unit_id.isdigit() else None)
    try:
        cycle = assumed_cycle_days.strip()
        if cycle and not cycle.isdigit():
            raise ValidationFailed("must be a whole number of days", field="assumed_cycle_days", value=cycle)
        data = PlanWrite.model_validate(
            {
                "planned_share_percent": _optional_decimal(planned_share_percent, "planned_share_percent"),
                "assumed_win_rate_percent": _optional_decimal(
                    assumed_win_rate_percent, "assumed_win_rate_percent"
                ),
                "assumed_cycle_days": int(cycle) if cycle else None,
            }
        )
        plan.set_plan(session, actor=user, priority_id=priority_id, data=data)
    except ValidationFailed as exc:
        return _drill(request, priority_id, gap, query, user, session, settings, form_error=_error_text(exc))
    except PydanticValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        message = f"{first['msg']} ({field}: {first.get('input')})"
        return _drill(request, priority_id, gap, query, user, session, settings, form_error=message)
    target = f"/board/{priority_id}/{gap.value}"
    params = [
        f"{key}={value}"
        for key, value in (("org_unit_id", query.org_unit_id), ("period", query.period))
        if value
    ]
    return RedirectResponse(target + ("?" + "&".join(params) if params else ""), status_code=303)
