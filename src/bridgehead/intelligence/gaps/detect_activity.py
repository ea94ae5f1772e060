"""Detectors over what happens to a deal over time: follow-up, staleness, close dates, off-strategy effort."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import String, cast, exists, false, func, literal, select, true, union_all
from sqlalchemy.orm import Session, aliased

from bridgehead.crm.models import Account, Activity, ActivityDirection, Opportunity, OpportunityHistory
from bridgehead.intelligence.gaps.models import GapKind
from bridgehead.intelligence.gaps.sqltools import (
    MATERIALIZED,
    DetectContext,
    Detection,
    deal_columns,
    deal_hit_columns,
    in_deal_order,
    json_object,
    open_deals,
    subject_key,
)
from bridgehead.strategy.models import Segment, SegmentMember, SegmentStance


def slow_follow_up(session: Session, context: DetectContext) -> Detection:
    """Open deals with inbound buyer activity that no later outbound activity on the deal answered in time."""
    hours = context.rule.number("follow_up_hours")
    since = context.moment(context.now - dt.timedelta(days=context.rule.number("lookback_days")))
    answer = aliased(Activity)
    # A scoped scan's deals only, before the grouping: otherwise every inbound activity of the
    # last ``lookback_days`` is grouped and checked for an answer (1,000 deals of 1,000,000:
    # 0.6 s on PostgreSQL, 1.1 s on SQLite).
    scoped = context.scope_deal_ids
    in_scope = Activity.opportunity_id.in_(scoped) if scoped is not None else true()
    unanswered = (
        select(
            Activity.opportunity_id.label("opportunity_id"),
            func.min(Activity.occurred_at).label("first_at"),
            func.count().label("unanswered"),
        )
        .where(
            Activity.direction == ActivityDirection.INBOUND,
            Activity.opportunity_id.is_not(None),
            in_scope,
            Activity.occurred_at >= since,
            Activity.occurred_at <= context.moment(context.now),
            ~exists().where(
                answer.opportunity_id == Activity.opportunity_id,
                answer.direction == ActivityDirection.OUTBOUND,
                answer.occurred_at >= Activity.occurred_at,
                # Implied by the line above (the inbound one is at or after ``since``), but the
                # planner does not infer it: PostgreSQL hashed all 2.5 million outbound
                # activities to answer 100,000 inbound ones (0.67 of the detector's 1.4 s).
                answer.occurred_at >= since,
            ),
        )
        .group_by(Activity.opportunity_id)
        .subquery()
    )
    inner = (
        select(*deal_columns(), unanswered.c.first_at, unanswered.c.unanswered)
        .join(unanswered, unanswered.c.opportunity_id == Opportunity.id)
        .where(
            *open_deals(context),
            unanswered.c.first_at < context.moment(context.now - dt.timedelta(hours=hours)),
        )
        .subquery()
    )
    # No hours waited: they grow every hour, and a re-scan would rewrite every such signal. They are
    # counted from the first inbound activity when the signal is read (``explain.with_elapsed``).
    evidence = {
        "unanswered": inner.c.unanswered,
        "first_inbound_at": cast(inner.c.first_at, String),
        "follow_up_hours": hours,
    }
    return Detection(
        GapKind.SLOW_FOLLOW_UP,
        in_deal_order(context, select(*deal_hit_columns(context, inner, evidence)), inner.c.id),
        "opportunity",
    )


def stale_deal(session: Session, context: DetectContext) -> Detection:
    """Open deals with no activity for ``stale_days`` (counted from creation when there was never any)."""
    days = context.rule.number("stale_days")
    last = (
        select(func.max(Activity.occurred_at))
        .where(Activity.opportunity_id == Opportunity.id, Activity.occurred_at <= context.moment(context.now))
        .scalar_subquery()
    )
    inner = (
        in_deal_order(
            context,
            select(*deal_columns(), last.label("last_at"), Opportunity.created_at).where(
                *open_deals(context),
                Opportunity.created_at < context.moment(context.now - dt.timedelta(days=days)),
            ),
            Opportunity.id,
        )
        .cte()
        .prefix_with(MATERIALIZED)
    )
    # When the deal went quiet, not for how many days: those grow daily, and a nightly re-scan
    # rewrote every stale deal's signal for it (PostgreSQL, 1,000,000 deals: 7 of 25 s). The days
    # are counted when the signal is read (``explain.with_elapsed``).
    evidence = {
        "last_activity_at": inner.c.last_at,
        "idle_since": func.coalesce(inner.c.last_at, inner.c.created_at),
        "stale_days": days,
    }
    rows = select(*deal_hit_columns(context, inner, evidence)).where(
        func.coalesce(inner.c.last_at, inner.c.created_at)
        < context.moment(context.now - dt.timedelta(days=days))
    )
    return Detection(GapKind.STALE_DEAL, rows, "opportunity")


def close_date_pushed(session: Session, context: DetectContext) -> Detection:
    """Open deals whose close date moved later ``min_pushes`` times or more (from stage history).

    One window (each change's previous close date) finds the pushes; the first close date is read
    only for the deals pushed often enough, each by one seek of the history index. A second
    window for it cost more than the first (SQLite, 1,000,000 deals: 4.7 s with both, 1.8 s with
    one).
    """
    minimum = context.rule.number("min_pushes")
    order = (OpportunityHistory.changed_at, OpportunityHistory.id)
    steps = (
        select(
            OpportunityHistory.opportunity_id,
            OpportunityHistory.close_date,
            func.lag(OpportunityHistory.close_date)
            .over(partition_by=OpportunityHistory.opportunity_id, order_by=order)
            .label("previous"),
        )
        .where(OpportunityHistory.opportunity_id.in_(select(Opportunity.id).where(*open_deals(context))))
        .subquery()
    )
    pushed = (
        select(steps.c.opportunity_id, func.count().label("pushes"))
        .where(steps.c.close_date > steps.c.previous)
        .group_by(steps.c.opportunity_id)
        .having(func.count() >= minimum)
        .subquery()
    )
    first_change = aliased(OpportunityHistory)
    first = (
        select(first_change.close_date)
        .where(first_change.opportunity_id == pushed.c.opportunity_id)
        .order_by(first_change.changed_at, first_change.id)
        .limit(1)
        .scalar_subquery()
    )
    pushes = select(pushed.c.opportunity_id, pushed.c.pushes, first.label("first")).subquery()
    inner = (
        select(*deal_columns(), Opportunity.close_date, pushes.c.pushes, pushes.c.first)
        .join(pushes, pushes.c.opportunity_id == Opportunity.id)
        .where(*open_deals(context))
        .subquery()
    )
    evidence = {
        "pushes": inner.c.pushes,
        "first_close_date": inner.c.first,
        "close_date": inner.c.close_date,
        "min_pushes": minimum,
    }
    return Detection(
        GapKind.CLOSE_DATE_PUSHED,
        in_deal_order(context, select(*deal_hit_columns(context, inner, evidence)), inner.c.id),
        "opportunity",
    )


def close_date_past(session: Session, context: DetectContext) -> Detection:
    """Open deals whose close date is in the past (beyond the grace days)."""
    grace = context.rule.number("grace_days")
    inner = (
        select(*deal_columns(), Opportunity.close_date)
        .where(*open_deals(context), Opportunity.close_date < context.today - dt.timedelta(days=grace))
        .subquery()
    )
    # The days past are counted from the close date when the signal is read (as for stale deals).
    evidence = {"close_date": inner.c.close_date}
    return Detection(
        GapKind.CLOSE_DATE_PAST,
        in_deal_order(context, select(*deal_hit_columns(context, inner, evidence)), inner.c.id),
        "opportunity",
    )


def off_strategy(session: Session, context: DetectContext) -> Detection:
    """Open deals, and accounts with recent activity but no open deal, in a deprioritised segment."""

    def deprioritised_segment(account_id: Any) -> Any:
        """The (first, by name) deprioritised segment of an account: an indexed lookup per account."""
        return (
            select(func.min(Segment.name))
            .join(SegmentMember, SegmentMember.segment_id == Segment.id)
            .where(
                SegmentMember.account_id == account_id,
                Segment.stance == SegmentStance.DEPRIORITISE,
                Segment.is_active.is_(True),
            )
            .scalar_subquery()
        )

    deal_segment = deprioritised_segment(Opportunity.account_id)
    deals = (
        select(*deal_columns(), deal_segment.label("segment"))
        .where(*open_deals(context), deal_segment.is_not(None))
        .cte()
        .prefix_with(MATERIALIZED)
    )
    deal_rows = select(
        *deal_hit_columns(
            context,
            deals,
            {"segment": deals.c.segment, "subject": "opportunity"},
        )
    )
    days = context.rule.number("activity_days")
    minimum = context.rule.number("min_activities")
    recent = (
        select(Activity.account_id, func.count().label("activities"))
        .where(
            Activity.occurred_at >= context.moment(context.now - dt.timedelta(days=days)),
            Activity.occurred_at <= context.moment(context.now),
            Activity.account_id.is_not(None),
        )
        .group_by(Activity.account_id)
        .having(func.count() >= minimum)
        .subquery()
    )
    account_scope = Account.id.in_(context.account_scope) if context.account_scope is not None else true()
    # One list of accounts with open deals (NOT IN), not a lookup per account: without table
    # statistics SQLite would answer the lookup from the is_closed index, scanning every open deal.
    with_open_deals = select(Opportunity.account_id).where(
        Opportunity.is_closed.is_(False), Opportunity.account_id.is_not(None)
    )
    account_segment = deprioritised_segment(Account.id)
    accounts = (
        select(Account.id, Account.owner_id, account_segment.label("segment"), recent.c.activities)
        .join(recent, recent.c.account_id == Account.id)
        .where(account_scope, Account.id.not_in(with_open_deals), account_segment.is_not(None))
        .cte()
        .prefix_with(MATERIALIZED)
    )
    account_rows = select(
        subject_key("account", accounts.c.id).label("subject_key"),
        cast(literal(None), Opportunity.id.type).label("opportunity_id"),
        accounts.c.id.label("account_id"),
        accounts.c.owner_id.label("owner_id"),
        literal(0).label("amount_at_risk"),
        json_object(
            context.dialect,
            {
                "segment": accounts.c.segment,
                "activities": accounts.c.activities,
                "activity_days": days,
                "subject": "account",
            },
        ).label("evidence"),
    )
    union = union_all(deal_rows, account_rows).subquery()
    # Without an active deprioritised segment nothing can be off strategy: the detector reads no
    # deal and no activity (both databases skip a query whose WHERE is constant false).
    deprioritised = select(Segment.id).where(
        Segment.stance == SegmentStance.DEPRIORITISE, Segment.is_active.is_(True)
    )
    anything = session.scalar(deprioritised.limit(1)) is not None
    return Detection(GapKind.OFF_STRATEGY, select(union).where(true() if anything else false()), "both")
