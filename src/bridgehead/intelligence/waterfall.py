"""The pipeline waterfall between two dates, rebuilt from stage history.

Each deal's state at a date is its last stage-history row up to the end of that day. A deal is
"in the pipeline" when that state is an open stage (and, with a close window, its close date then
fell inside the window). Comparing the two states puts every deal in one category, grouped in SQL:
new, pulled in, changed amount, pushed out, won, lost. The bars reconcile exactly:
start + new + pulled in + changed amount - pushed - won - lost = end.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, and_, case, func, literal, or_, select, type_coerce
from sqlalchemy.orm import Session

from bridgehead.common.types import Period
from bridgehead.crm.models import Opportunity, OpportunityHistory
from bridgehead.intelligence.metrics.scope import Scope


@dataclass(frozen=True)
class StageSets:
    """Open stages in ladder order, and the stages that mean won and closed."""

    open_stages: list[str]
    won_stages: list[str]
    closed_stages: list[str]


@dataclass(frozen=True)
class WaterfallCounts:
    """Per category: deals, cents at the start date, cents at the end date, and stage/date moves."""

    category: str
    deals: int
    start_cents: int
    end_cents: int
    advanced: int
    regressed: int
    date_later: int
    date_earlier: int
    amount_changed: int


def _state_at(scope: Scope, moment: dt.datetime, name: str) -> Any:
    """Each in-scope deal's last history row before ``moment``."""
    ranked = (
        select(
            OpportunityHistory.opportunity_id.label("opportunity_id"),
            OpportunityHistory.stage.label("stage"),
            func.coalesce(type_coerce(OpportunityHistory.amount, BigInteger), 0).label("cents"),
            OpportunityHistory.close_date.label("close_date"),
            func.row_number()
            .over(
                partition_by=OpportunityHistory.opportunity_id,
                order_by=(OpportunityHistory.changed_at.desc(), OpportunityHistory.id.desc()),
            )
            .label("position"),
        )
        .join(Opportunity, Opportunity.id == OpportunityHistory.opportunity_id)
        .where(*scope.opportunity, OpportunityHistory.changed_at < moment)
        .subquery(f"{name}_ranked")
    )
    return select(ranked).where(ranked.c.position == 1).subquery(name)


def _in_pipeline(state: Any, stages: StageSets, window: Period | None) -> ColumnElement[bool]:
    is_open = and_(state.c.opportunity_id.is_not(None), state.c.stage.in_(stages.open_stages))
    if window is None:
        return is_open
    return and_(is_open, state.c.close_date >= window.start, state.c.close_date < window.end)


def _rank(state: Any, stages: Sequence[str]) -> Any:
    return case(*[(state.c.stage == stage, index) for index, stage in enumerate(stages)], else_=-1)


def waterfall_counts(
    session: Session,
    scope: Scope,
    *,
    start: dt.date,
    end: dt.date,
    stages: StageSets,
    window: Period | None,
) -> list[WaterfallCounts]:
    """Deals and money per waterfall category between the ends of ``start`` and ``end`` (one query)."""
    if not stages.open_stages:
        return []
    one_day = dt.timedelta(days=1)
    at_start = _state_at(scope, dt.datetime.combine(start + one_day, dt.time(), tzinfo=dt.UTC), "state_start")
    at_end = _state_at(scope, dt.datetime.combine(end + one_day, dt.time(), tzinfo=dt.UTC), "state_end")
    in_start = _in_pipeline(at_start, stages, window)
    in_end = _in_pipeline(at_end, stages, window)
    open_at_start = and_(at_start.c.opportunity_id.is_not(None), at_start.c.stage.in_(stages.open_stages))
    won_at_end = at_end.c.stage.in_(stages.won_stages) if stages.won_stages else literal(False)
    closed_at_end = at_end.c.stage.in_(stages.closed_stages) if stages.closed_stages else literal(False)
    category = case(
        (and_(in_start, in_end), "kept"),
        (and_(in_start, won_at_end), "won"),
        (and_(in_start, closed_at_end), "lost"),
        (in_start, "pushed"),
        (and_(in_end, open_at_start), "pulled_in"),
        (in_end, "new"),
        else_="outside",
    ).label("category")
    both = and_(in_start, in_end)
    start_cents = func.coalesce(at_start.c.cents, 0)

    def flag(condition: ColumnElement[bool]) -> Any:
        return func.sum(case((and_(both, condition), 1), else_=0))

    statement = (
        select(
            category,
            func.count(),
            func.sum(case((in_start, start_cents), else_=0)),
            func.sum(case((in_end, at_end.c.cents), else_=0)),
            flag(_rank(at_end, stages.open_stages) > _rank(at_start, stages.open_stages)),
            flag(_rank(at_end, stages.open_stages) < _rank(at_start, stages.open_stages)),
            flag(at_end.c.close_date > at_start.c.close_date),
            flag(at_end.c.close_date < at_start.c.close_date),
            flag(at_end.c.cents != start_cents),
        )
        .select_from(at_end)
        .outerjoin(at_start, at_start.c.opportunity_id == at_end.c.opportunity_id)
        .where(or_(in_start, in_end))
        .group_by(category)
    )
    return [
        WaterfallCounts(
            str(row[0]), int(row[1]), int(row[2] or 0), int(row[3] or 0), *(int(v or 0) for v in row[4:])
        )
        for row in session.execute(statement)
    ]


def movements(counts: Sequence[WaterfallCounts]) -> tuple[int, dict[str, tuple[int, int]]]:
    """Starting cents and the (deals, cents) of each bridge movement, from the category counts."""
    by_category = {row.category: row for row in counts}
    start = sum(row.start_cents for row in counts if row.category in {"kept", "won", "lost", "pushed"})
    kept = by_category.get("kept")
    result: dict[str, tuple[int, int]] = {}
    for name in ("new", "pulled_in"):
        if name in by_category:
            result[name] = (by_category[name].deals, by_category[name].end_cents)
    for name in ("pushed", "won", "lost"):
        if name in by_category:
            result[name] = (by_category[name].deals, by_category[name].start_cents)
    if kept is not None:
        result["changed_amount"] = (kept.amount_changed, kept.end_cents - kept.start_cents)
    return start, result
