"""Value measured from Bridgehead's own deals, to set beside the value an initiative claims.

The target deals are those of the initiative's segment (when it names one) or those counting toward
its priority's pipeline definitions. Bookings, win rate and median cycle (DESIGN.md section 8) are
computed for the value window (the initiative's start date to its end date or today, whichever is
first) and for the baseline window of equal length just before it; the uplift is the difference
in bookings. The query half reads aggregates in SQL; the pure half turns them into figures.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
from sqlalchemy import ColumnElement, and_, case, func, select, type_coerce
from sqlalchemy.orm import Session

from bridgehead.common.types import MoneyAmount
from bridgehead.crm.models import Opportunity
from bridgehead.governance.models import Initiative, ValueKind
from bridgehead.governance.schemas import MeasuredValue, WindowFigures
from bridgehead.intelligence.metrics.compute import win_rate
from bridgehead.intelligence.metrics.queries import cycle_days
from bridgehead.strategy.models import PipelineDefinition, Priority, Segment, SegmentMember
from bridgehead.strategy.pipelines import counts_toward_any


@dataclass(frozen=True)
class WindowTotals:
    """What SQL returns for one window: won amount, won and lost counts, and won deals' cycle days."""

    bookings_amount: Decimal
    won_count: int
    lost_count: int
    cycle_days: list[float]


def summarise_window(start: dt.date, end: dt.date, totals: WindowTotals) -> WindowFigures:
    """Win rate and sales cycle as DESIGN.md section 8 defines them (the intelligence domain's functions)."""
    rate = win_rate(totals.won_count, totals.lost_count)
    cycles = np.asarray(totals.cycle_days, dtype=np.float64)
    return WindowFigures(
        start_date=start,
        end_date=end,
        bookings_amount=totals.bookings_amount,
        won_count=totals.won_count,
        lost_count=totals.lost_count,
        win_rate=None if rate is None else round(rate, 4),
        median_cycle_days=float(np.median(cycles)) if cycles.size else None,
    )


def target_condition(session: Session, initiative: Initiative) -> tuple[ColumnElement[bool] | None, str]:
    """The SQL condition picking the initiative's target deals, and words saying what they are."""
    if initiative.segment_id is not None:
        segment = session.get(Segment, initiative.segment_id)
        name = segment.name if segment else f"segment {initiative.segment_id}"
        members = select(SegmentMember.account_id).where(SegmentMember.segment_id == initiative.segment_id)
        return Opportunity.account_id.in_(members), f"deals with accounts in segment {name!r}"
    if initiative.priority_id is not None:
        definitions = session.scalars(
            select(PipelineDefinition).where(PipelineDefinition.priority_id == initiative.priority_id)
        ).all()
        if definitions:
            priority = session.get(Priority, initiative.priority_id)
            title = priority.title if priority else f"priority {initiative.priority_id}"
            return counts_toward_any(definitions), f"deals counting toward {title!r}"
    return None, "no target segment, and the priority has no pipeline definition"


def read_window(
    session: Session, condition: ColumnElement[bool], start: dt.date, end: dt.date
) -> WindowTotals:
    """Aggregate the closed target deals whose close date lies in ``[start, end)``."""
    in_window = and_(
        condition,
        Opportunity.is_closed.is_(True),
        Opportunity.close_date >= start,
        Opportunity.close_date < end,
    )
    won_amount = case((Opportunity.is_won.is_(True), Opportunity.amount), else_=None)
    row = session.execute(
        select(
            type_coerce(func.coalesce(func.sum(won_amount), 0), MoneyAmount()),
            func.count().filter(Opportunity.is_won.is_(True)),
            func.count().filter(Opportunity.is_won.is_(False)),
        ).where(in_window)
    ).one()
    cycles = session.scalars(select(cycle_days(session)).where(in_window, Opportunity.is_won.is_(True))).all()
    return WindowTotals(
        bookings_amount=Decimal(row[0] or 0),
        won_count=int(row[1] or 0),
        lost_count=int(row[2] or 0),
        cycle_days=[float(days) for days in cycles if days is not None],
    )


def measure_value(session: Session, *, initiative: Initiative, as_of: dt.date | None = None) -> MeasuredValue:
    """The initiative's value as Bridgehead's deals show it, or why it cannot be measured."""
    as_of = as_of or dt.date.today()
    if initiative.value_kind == ValueKind.COST_SAVING:
        return MeasuredValue(
            measurable=False,
            reason="a cost saving does not show in deal data; the controller checks the ledger",
            target="",
        )
    condition, target = target_condition(session, initiative)
    if condition is None:
        return MeasuredValue(measurable=False, reason=target, target="")
    if initiative.start_date is None:
        return MeasuredValue(measurable=False, reason="the initiative has no start date", target=target)
    end = min(initiative.end_date or as_of, as_of)
    if end <= initiative.start_date:
        return MeasuredValue(measurable=False, reason="the value window has not started yet", target=target)
    length = end - initiative.start_date
    baseline_start = initiative.start_date - length
    value = summarise_window(
        initiative.start_date, end, read_window(session, condition, initiative.start_date, end)
    )
    baseline = summarise_window(
        baseline_start,
        initiative.start_date,
        read_window(session, condition, baseline_start, initiative.start_date),
    )
    return MeasuredValue(
        measurable=True,
        reason="",
        target=target,
        value_window=value,
        baseline_window=baseline,
        bookings_uplift_amount=value.bookings_amount - baseline.bookings_amount,
    )
