"""Funnel, win/loss and pipeline waterfall: the metrics that need the stage ladder or stage history."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session

from bridgehead.auth.models import User
from bridgehead.auth.service import everything_visible, visibility_for, visible_user_names
from bridgehead.common.sql import distinct_by_seeks
from bridgehead.crm.models import Opportunity, OrgUnit
from bridgehead.errors import ValidationFailed
from bridgehead.intelligence import waterfall as waterfall_queries
from bridgehead.intelligence.metrics import compute, queries
from bridgehead.intelligence.metrics.periods import parse_period
from bridgehead.intelligence.metrics.scope import MetricFilters, resolve_scope
from bridgehead.intelligence.schemas import (
    BreakdownRow,
    FilterOption,
    FilterOptions,
    Funnel,
    FunnelStepRead,
    Waterfall,
    WaterfallBarRead,
    WinLoss,
)
from bridgehead.intelligence.slices import Dimension, Slice, build_slice
from bridgehead.intelligence.stages import stage_ladder
from bridgehead.strategy.models import Priority, Segment

MAX_WATERFALL_DAYS = 3 * 366
EARLIEST = dt.date(1900, 1, 8)
LATEST = dt.date(2999, 12, 30)
NO_DECISION = ("no decision", "no_decision", "no-decision", "nodecision")


def funnel(session: Session, *, viewer: User | None, filters: MetricFilters) -> Funnel:
    """Stage conversion of the deals created in the period, from their stage history."""
    scope = resolve_scope(session, viewer=viewer, filters=filters)
    ladder = stage_ladder(session)
    ranks = {stage: index for index, stage in enumerate(ladder.open_stages)}
    reach = queries.stage_reach(session, scope, filters.period, ranks, ladder.won_stages)
    steps = compute.funnel(ladder.open_stages, reach)
    with_history = sum(count for _, _, count in reach)
    note = ""
    if with_history == 0:
        note = (
            "no stage history for deals created in this period: import opportunity history to see the funnel"
        )
    elif not ladder.ordered:
        note = "stages have no probabilities, so their order is a guess (alphabetical)"
    return Funnel(
        period=filters.period.label,
        deals_with_history=with_history,
        steps=[
            FunnelStepRead(stage=s.stage, reached=s.reached, conversion_to_next=s.conversion_to_next)
            for s in steps
        ],
        note=note,
    )


def _breakdown(rows: list[queries.OutcomeRow], none_label: str) -> list[BreakdownRow]:
    result = [
        BreakdownRow(
            label=none_label if row.label is None else str(row.label),
            won=row.won,
            lost=row.lost,
            win_rate=compute.win_rate(row.won, row.lost),
            won_amount=compute.cents_to_money(row.won_cents),
            lost_amount=compute.cents_to_money(row.lost_cents),
        )
        for row in rows
    ]
    return sorted(result, key=lambda row: (-row.lost, row.label))


def loss_kind() -> Any:
    """'no_decision', 'competitive' or 'other' for a lost deal: no decision is never a competitive loss."""
    reason = func.lower(func.coalesce(Opportunity.loss_reason, ""))
    no_decision = or_(*[reason.like(f"%{text}%") for text in NO_DECISION])
    competitive = or_(Opportunity.primary_competitor.is_not(None), reason.like("%competitor%"))
    return case((no_decision, "no_decision"), (competitive, "competitive"), else_="other")


def win_loss(session: Session, *, viewer: User | None, filters: MetricFilters) -> WinLoss:
    """Deals closed in the period by loss reason, by competitor and by segment."""
    scope = resolve_scope(session, viewer=viewer, filters=filters)
    period = filters.period

    def by(slice_: Slice) -> list[queries.OutcomeRow]:
        return queries.closed_outcomes(session, scope, slice_, period)

    kinds = {row.key: row.lost for row in by(Slice(Dimension.ALL, loss_kind(), loss_kind()))}
    reasons = by(Slice(Dimension.ALL, Opportunity.loss_reason, Opportunity.loss_reason))
    competitors = by(Slice(Dimension.ALL, Opportunity.primary_competitor, Opportunity.primary_competitor))
    segments = by(build_slice(session, Dimension.SEGMENT))
    won = sum(row.won for row in reasons)
    lost = sum(row.lost for row in reasons)
    return WinLoss(
        period=period.label,
        won=won,
        lost=lost,
        win_rate=compute.win_rate(won, lost),
        lost_competitive=kinds.get("competitive", 0),
        lost_no_decision=kinds.get("no_decision", 0),
        lost_other=kinds.get("other", 0),
        by_reason=[row for row in _breakdown(reasons, "(no reason given)") if row.lost > 0],
        by_competitor=_breakdown(competitors, "(no competitor)"),
        by_segment=_breakdown(segments, "(no segment)"),
    )


def pipeline_waterfall(
    session: Session,
    *,
    viewer: User | None,
    filters: MetricFilters,
    from_date: dt.date | None,
    to_date: dt.date | None,
    close_period: str | None,
    today: dt.date | None = None,
) -> Waterfall:
    """How the open pipeline moved from the end of ``from_date`` to the end of ``to_date`` (default:
    the last seven days), optionally only deals closing in ``close_period``."""
    for name, day in (("from", from_date), ("to", to_date)):
        if day is not None and not EARLIEST <= day <= LATEST:
            raise ValidationFailed("dates must lie between 1900 and 2999", field=name, value=day.isoformat())
    end = to_date or (today or dt.date.today())
    start = from_date or end - dt.timedelta(days=7)
    if start > end:
        raise ValidationFailed("'from' must not be after 'to'", field="from", value=start.isoformat())
    if (end - start).days > MAX_WATERFALL_DAYS:
        raise ValidationFailed(
            "compare dates at most three years apart", field="from", value=start.isoformat()
        )
    window = parse_period(close_period, field="close_period") if close_period else None
    scope = resolve_scope(session, viewer=viewer, filters=filters)
    ladder = stage_ladder(session)
    stages = waterfall_queries.StageSets(ladder.open_stages, ladder.won_stages, ladder.closed_stages)
    counts = waterfall_queries.waterfall_counts(
        session, scope, start=start, end=end, stages=stages, window=window
    )
    start_cents, moves = waterfall_queries.movements(counts)
    bars = compute.bridge(start_cents, moves)
    kept = next((row for row in counts if row.category == "kept"), None)
    return Waterfall(
        from_date=start,
        to_date=end,
        close_period=window.label if window else None,
        bars=[
            WaterfallBarRead(label=b.label, amount=b.amount, start=b.start, end=b.end, deals=b.deals)
            for b in bars
        ],
        advanced=kept.advanced if kept else 0,
        regressed=kept.regressed if kept else 0,
        close_date_later=kept.date_later if kept else 0,
        close_date_earlier=kept.date_earlier if kept else 0,
        note=""
        if counts
        else "no stage history between these dates: import opportunity history to see the waterfall",
    )


def filter_options(session: Session, *, viewer: User | None) -> FilterOptions:
    """The choices of every metric filter, limited to what ``viewer`` may see."""
    visibility = visibility_for(viewer) if viewer is not None else everything_visible()
    units = session.execute(
        select(OrgUnit.id, OrgUnit.name, OrgUnit.kind).order_by(OrgUnit.kind, OrgUnit.name)
    ).all()
    reps = (
        visible_user_names(session, viewer=viewer)
        if viewer is not None
        else [
            (user_id, name)
            for user_id, name in session.execute(select(User.id, User.full_name).order_by(User.full_name))
        ]
    )
    if visibility.sees_everything:
        products = session.scalars(distinct_by_seeks(Opportunity.product)).all()
    else:
        products = session.scalars(
            select(Opportunity.product)
            .where(Opportunity.product.is_not(None), visibility.owned_by_visible(Opportunity.owner_id))
            .distinct()
            .order_by(Opportunity.product)
        ).all()
    segments = session.execute(select(Segment.id, Segment.name).order_by(Segment.name)).all()
    priorities = session.execute(select(Priority.id, Priority.title).order_by(Priority.title)).all()
    return FilterOptions(
        org_units=[FilterOption(id=uid, label=f"{name} ({kind.value})") for uid, name, kind in units],
        reps=[FilterOption(id=user_id, label=name) for user_id, name in reps],
        segments=[FilterOption(id=sid, label=name) for sid, name in segments],
        products=[FilterOption(id=str(product), label=str(product)) for product in products if product],
        priorities=[FilterOption(id=pid, label=title) for pid, title in priorities],
    )
