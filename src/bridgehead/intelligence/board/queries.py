"""SQL that reads what the three-gap board needs, set-wise, grouped by period and deal owner.

Effort and outcomes go through the metrics engine's own grouped queries (pipeline created,
activities, closed outcomes, cycle histogram) with a (period, owner) slice, so a win rate or a
cycle here is exactly the metrics page's. What the engine does not read (evidence behind open
deals, the forecast's inputs, initiatives, gap signals, the deals behind a gap) is read here.
Per-owner rows are rolled up to teams, regions and the company in Python (a few rows per rep).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, and_, case, exists, func, not_, or_, select
from sqlalchemy.orm import Session

from bridgehead.auth.models import User
from bridgehead.common.types import Period
from bridgehead.crm.models import Account, Activity, Opportunity, OpportunityHistory
from bridgehead.deals.models import QualificationEntry, QualificationStatus, Stakeholder
from bridgehead.governance.models import Initiative, InitiativeStage, ValueConfirmation
from bridgehead.intelligence.board.compute import Effort, Evidence, Outcomes
from bridgehead.intelligence.board.scratch import Masks, deal_mask
from bridgehead.intelligence.gaps.models import GapKind, GapSignal
from bridgehead.intelligence.metrics import queries as metric_queries
from bridgehead.intelligence.metrics.scope import Scope
from bridgehead.intelligence.slices import period_slice

# Above this many distinct masks the activities are grouped by mask in SQL rather than counted per mask.
MAX_MASK_COLUMNS = 16


def _span(periods: Sequence[Period]) -> Period:
    return Period(periods[0].start, periods[-1].end, f"{periods[0].label}…{periods[-1].label}")


def _mask_of(column: Any) -> Any:
    """The deal's mask (0 for a deal of no priority, or with no deal at all)."""
    return func.coalesce(column, 0)


def _activities_by_mask(
    session: Session, everything: Scope, periods: Sequence[Period]
) -> list[tuple[str | None, int | None, int, int]]:
    """(period label, owner, deal mask, activities) of the activities in ``periods``.

    A GROUP BY period, owner and mask sorts every activity (a million at scale); with a few distinct
    masks, one query per period grouped by owner alone streams each owner's range of the covering
    index and counts each mask with an aggregate FILTER, with no sort.
    """
    mask = _mask_of(deal_mask.c.mask)
    values = sorted({0, *(int(value) for value in session.scalars(select(deal_mask.c.mask).distinct()))})
    if len(values) > MAX_MASK_COLUMNS:
        key = period_slice(Activity.occurred_at, periods, is_datetime=True).key
        statement = (
            select(key, Activity.owner_id, mask, func.count())
            .select_from(Activity)
            .outerjoin(deal_mask, deal_mask.c.opportunity_id == Activity.opportunity_id)
            .where(
                *everything.activity,
                metric_queries.in_period(Activity.occurred_at, _span(periods), is_datetime=True),
            )
            .group_by(key, Activity.owner_id, mask)
        )
        return [
            (label, owner, int(value), int(count))
            for label, owner, value, count in session.execute(statement)
        ]
    rows: list[tuple[str | None, int | None, int, int]] = []
    for period in periods:
        statement = (
            select(Activity.owner_id, *(metric_queries.count_if(mask == value) for value in values))
            .select_from(Activity)
            .outerjoin(deal_mask, deal_mask.c.opportunity_id == Activity.opportunity_id)
            .where(
                *everything.activity, metric_queries.in_period(Activity.occurred_at, period, is_datetime=True)
            )
            .group_by(Activity.owner_id)
        )
        for owner, *counts in session.execute(statement):
            rows.extend(
                (period.label, owner, value, int(count))
                for value, count in zip(values, counts, strict=True)
                if count
            )
    return rows


def effort(
    session: Session, everything: Scope, periods: Sequence[Period], masks: Masks
) -> list[dict[tuple[str, int | None], Effort]]:
    """Effort per (period, owner) for several priorities at once: one pass over the deals created in
    the periods (pipeline created, as the engine defines it: Σ amount by created date) and one over
    the activities, both grouped by the deal's mask and split per priority here. Off-strategy means
    at a deprioritised segment and not counting toward the priority; an activity counts by its deal."""
    span = _span(periods)
    cents = func.coalesce(metric_queries.AMOUNT_CENTS, 0)
    created_key = period_slice(Opportunity.created_at, periods, is_datetime=True).key
    created_mask = _mask_of(deal_mask.c.mask)
    created = session.execute(
        select(created_key, Opportunity.owner_id, created_mask, func.coalesce(func.sum(cents), 0))
        .select_from(Opportunity)
        .outerjoin(deal_mask, deal_mask.c.opportunity_id == Opportunity.id)
        .where(
            *everything.opportunity, metric_queries.in_period(Opportunity.created_at, span, is_datetime=True)
        )
        .group_by(created_key, Opportunity.owner_id, created_mask)
    ).all()
    activities = _activities_by_mask(session, everything, periods)
    # Mutable [created, priority, off-strategy] cents and activities per (period, owner) and priority.
    totals: list[dict[tuple[str, int | None], list[int]]] = [{} for _ in range(masks.slots)]
    for offset, rows in ((0, created), (3, activities)):
        for label, owner, mask, amount in rows:
            if label is None:
                continue
            key, amount = (str(label), owner), int(amount)
            for table in totals:
                table.setdefault(key, [0] * 6)[offset] += amount
            for slot in masks.on(mask):
                totals[slot][key][offset + 1] += amount
            for slot in masks.off(mask):
                totals[slot][key][offset + 2] += amount
    return [{key: Effort(*values) for key, values in table.items()} for table in totals]


def outcomes(
    session: Session, everything: Scope, periods: Sequence[Period], masks: Masks
) -> list[dict[tuple[str, int | None], Outcomes]]:
    """Per priority: its deals closed per (period of close date, owner), won and lost, won cents and
    the won cycle days (the engine's ``cycle_days``), in one pass grouped by the deals' masks."""
    span = _span(periods)
    key = period_slice(Opportunity.close_date, periods, is_datetime=False).key
    # Only a won deal's cycle is read, so lost deals are grouped without it (fewer rows).
    days = case((Opportunity.is_won.is_(True), metric_queries.cycle_days(session)))
    statement = (
        select(
            key,
            Opportunity.owner_id,
            Opportunity.is_won,
            days,
            deal_mask.c.mask,
            func.count(),
            func.coalesce(func.sum(func.coalesce(metric_queries.AMOUNT_CENTS, 0)), 0),
        )
        .select_from(Opportunity)
        .join(deal_mask, deal_mask.c.opportunity_id == Opportunity.id)
        .where(
            *everything.opportunity,
            Opportunity.is_closed.is_(True),
            metric_queries.in_period(Opportunity.close_date, span),
            deal_mask.c.mask.bitwise_and(masks.any_on) != 0,
        )
        .group_by(key, Opportunity.owner_id, Opportunity.is_won, days, deal_mask.c.mask)
    )
    # Mutable [won, lost, won cents, {days: won deals}] per (period, owner) and priority.
    totals: list[dict[tuple[str, int | None], list[Any]]] = [{} for _ in range(masks.slots)]
    for label, owner, is_won, day, mask, count, cents in session.execute(statement):
        if label is None:
            continue
        table_key, count = (str(label), owner), int(count)
        for slot in masks.on(mask):
            parts = totals[slot].get(table_key)
            if parts is None:
                parts = totals[slot][table_key] = [0, 0, 0, {}]
            if is_won:
                parts[0] += count
                parts[2] += int(cents)
                if day is not None:
                    histogram = parts[3]
                    histogram[int(day)] = histogram.get(int(day), 0) + count
            else:
                parts[1] += count
    return [
        {key: Outcomes(won, lost, cents, histogram) for key, (won, lost, cents, histogram) in table.items()}
        for table in totals
    ]


def open_at(moment: dt.datetime) -> ColumnElement[bool]:
    """The deal existed and was not yet closed at ``moment`` (closed deals by their close date)."""
    return and_(
        Opportunity.created_at < moment,
        or_(Opportunity.is_closed.is_(False), Opportunity.close_date >= moment.date()),
    )


def has_qualification_evidence() -> ColumnElement[bool]:
    """Some qualification dimension of the deal is known: named or validated, or evidenced in words.

    Qualification entries and stakeholders carry no reliable history (imports stamp the load time),
    so their present state stands for every period; freshness is measured from activity dates.
    """
    return exists().where(
        QualificationEntry.opportunity_id == Opportunity.id,
        or_(QualificationEntry.status != QualificationStatus.UNKNOWN, QualificationEntry.evidence != ""),
    )


def touched_within(moment: dt.datetime, stale_days: int) -> ColumnElement[bool]:
    """An activity on the deal in the ``stale_days`` before ``moment``."""
    return exists().where(
        Activity.opportunity_id == Opportunity.id,
        Activity.occurred_at >= moment - dt.timedelta(days=stale_days),
        Activity.occurred_at < moment,
    )


def has_stakeholder_map() -> ColumnElement[bool]:
    """At least one stakeholder mapped on the deal."""
    return exists().where(Stakeholder.opportunity_id == Opportunity.id)


def evidence(
    session: Session,
    everything: Scope,
    moments: dict[str, dt.datetime],
    stale_days: int,
    masks: Masks,
) -> list[dict[str, dict[int | None, Evidence]]]:
    """Per priority, moment (by label) and owner: the priority's deals open at that moment and how
    many lack qualification evidence, recent activity and a stakeholder map; one pass for all.

    Qualification and the stakeholder map do not depend on the moment, so the deals are grouped by
    them (each evaluated once per deal) rather than counted once per moment."""
    qualified = case((has_qualification_evidence(), 1), else_=0)
    mapped = case((has_stakeholder_map(), 1), else_=0)
    columns: list[Any] = []
    for moment in moments.values():
        is_open = open_at(moment)
        columns.append(metric_queries.count_if(is_open))
        columns.append(metric_queries.count_if(and_(is_open, not_(touched_within(moment, stale_days)))))
    earliest, latest = min(moments.values()), max(moments.values())
    statement = (
        select(Opportunity.owner_id, deal_mask.c.mask, qualified, mapped, *columns)
        .select_from(Opportunity)
        .join(deal_mask, deal_mask.c.opportunity_id == Opportunity.id)
        .where(
            *everything.opportunity,
            Opportunity.created_at < latest,
            or_(Opportunity.is_closed.is_(False), Opportunity.close_date >= earliest.date()),
            deal_mask.c.mask.bitwise_and(masks.any_on) != 0,
        )
        .group_by(Opportunity.owner_id, deal_mask.c.mask, qualified, mapped)
    )
    result: list[dict[str, dict[int | None, Evidence]]] = [
        {label: {} for label in moments} for _ in range(masks.slots)
    ]
    for owner, mask, is_qualified, is_mapped, *counts in session.execute(statement):
        for index, label in enumerate(moments):
            open_deals, stale = int(counts[2 * index]), int(counts[2 * index + 1])
            if not open_deals:
                continue
            part = Evidence(
                open_deals,
                0 if is_qualified else open_deals,
                stale,
                0 if is_mapped else open_deals,
            )
            for slot in masks.on(mask):
                owners = result[slot][label]
                owners[owner] = owners.get(owner, Evidence()) + part
    return result


@dataclass(frozen=True)
class ForecastDeals:
    """Open deals behind a forecast: owner, amount in cents and stage probability (percent)."""

    owners: list[int | None]
    cents: list[int]
    probabilities: list[int]


def forecast_deals(
    session: Session,
    everything: Scope,
    period: Period,
    moment: dt.datetime,
    masks: Masks,
    *,
    current: bool,
) -> list[ForecastDeals]:
    """Per priority: its deals open at ``moment`` whose close date is in ``period``, with their
    probability then.

    ``current``: the moment is now, so each deal's own probability holds. Otherwise the probability is
    the last stage-history row before ``moment``; a deal without one counts with its own probability
    while still open, and is left out once closed (its probability now is the outcome, not a forecast).
    """
    if current:
        probability: Any = Opportunity.probability
    else:
        then = (
            select(OpportunityHistory.probability)
            .where(
                OpportunityHistory.opportunity_id == Opportunity.id, OpportunityHistory.changed_at < moment
            )
            .order_by(OpportunityHistory.changed_at.desc(), OpportunityHistory.id.desc())
            .limit(1)
            .scalar_subquery()
        )
        probability = func.coalesce(then, case((Opportunity.is_closed.is_(False), Opportunity.probability)))
    statement = (
        select(
            Opportunity.owner_id, func.coalesce(metric_queries.AMOUNT_CENTS, 0), probability, deal_mask.c.mask
        )
        .select_from(Opportunity)
        .join(deal_mask, deal_mask.c.opportunity_id == Opportunity.id)
        .where(
            *everything.opportunity,
            open_at(moment),
            metric_queries.in_period(Opportunity.close_date, period),
            deal_mask.c.mask.bitwise_and(masks.any_on) != 0,
        )
        # The simulation draws per deal in this order: a fixed order keeps the spread reproducible.
        .order_by(Opportunity.id)
    )
    result = [ForecastDeals([], [], []) for _ in range(masks.slots)]
    for owner, cents, chance, mask in session.execute(statement):
        if chance is None and not current:
            continue
        for slot in masks.on(mask):
            deals = result[slot]
            deals.owners.append(owner)
            deals.cents.append(int(cents))
            deals.probabilities.append(int(chance or 0))
    return result


def initiatives(
    session: Session, priority_ids: Sequence[int], owner_condition: ColumnElement[bool], moment: dt.datetime
) -> dict[int | None, tuple[int, int]]:
    """Per initiative owner: initiatives of the priorities implemented (or closed) by ``moment``, and
    how many of them had no confirmed value by then."""
    confirmed = exists().where(
        ValueConfirmation.initiative_id == Initiative.id, ValueConfirmation.confirmed_at < moment
    )
    statement = (
        select(Initiative.owner_id, func.count(), func.coalesce(func.sum(case((confirmed, 0), else_=1)), 0))
        .where(
            Initiative.priority_id.in_(list(priority_ids)),
            Initiative.stage.in_([InitiativeStage.IMPLEMENTED, InitiativeStage.CLOSED]),
            Initiative.stage_changed_at < moment,
            owner_condition,
        )
        .group_by(Initiative.owner_id)
    )
    return {owner: (int(total), int(unconfirmed)) for owner, total, unconfirmed in session.execute(statement)}


def open_signals(
    session: Session, scope: Scope, kinds: Sequence[GapKind]
) -> dict[tuple[int | None, GapKind], int]:
    """Open gap signals of ``kinds`` on deals in ``scope``, per (deal owner, kind)."""
    statement = (
        select(Opportunity.owner_id, GapSignal.kind, func.count())
        .select_from(GapSignal)
        .join(Opportunity, Opportunity.id == GapSignal.opportunity_id)
        .where(GapSignal.resolved_at.is_(None), GapSignal.kind.in_(list(kinds)), *scope.opportunity)
        .group_by(Opportunity.owner_id, GapSignal.kind)
    )
    return {(owner, GapKind(kind)): int(count) for owner, kind, count in session.execute(statement)}


def owner_units(session: Session, owner_ids: Sequence[int]) -> dict[int, tuple[str, int | None]]:
    """Name and org unit of each owner."""
    if not owner_ids:
        return {}
    statement = select(User.id, User.full_name, User.org_unit_id).where(User.id.in_(list(owner_ids)))
    return {user_id: (name, unit_id) for user_id, name, unit_id in session.execute(statement)}


@dataclass(frozen=True)
class DealRow:
    """A deal behind a gap, with the reason it counts."""

    id: int
    name: str
    account: str | None
    owner: str | None
    stage: str
    amount: Decimal | None
    close_date: dt.date | None
    flags: tuple[bool, ...]


def _deal_rows(
    session: Session,
    conditions: Sequence[ColumnElement[bool]],
    flags: Sequence[ColumnElement[bool]],
    limit: int,
    *,
    first: ColumnElement[bool] | None = None,
) -> list[DealRow]:
    """Up to ``limit`` deals matching ``conditions``, those meeting ``first`` first, then largest first."""
    order: list[Any] = [case((first, 0), else_=1)] if first is not None else []
    statement = (
        select(
            Opportunity.id,
            Opportunity.name,
            Account.name,
            User.full_name,
            Opportunity.stage,
            Opportunity.amount,
            Opportunity.close_date,
            *[case((flag, 1), else_=0) for flag in flags],
        )
        .outerjoin(Account, Account.id == Opportunity.account_id)
        .outerjoin(User, User.id == Opportunity.owner_id)
        .where(*conditions)
        .order_by(*order, Opportunity.amount.desc().nulls_last(), Opportunity.id)
        .limit(limit)
    )
    return [
        DealRow(row[0], row[1], row[2], row[3], row[4], row[5], row[6], tuple(bool(v) for v in row[7:]))
        for row in session.execute(statement)
    ]


def alignment_deals(
    session: Session,
    everything: Scope,
    priority: ColumnElement[bool],
    off_strategy: ColumnElement[bool],
    period: Period,
    limit: int,
) -> list[DealRow]:
    """Deals created in ``period`` outside the priority's pipeline, those at deprioritised segments
    first, largest first; flag: at a deprioritised segment."""
    conditions = [
        *everything.opportunity,
        metric_queries.in_period(Opportunity.created_at, period, is_datetime=True),
        not_(priority),
    ]
    return _deal_rows(session, conditions, [off_strategy], limit, first=off_strategy)


def effects_deals(
    session: Session,
    priority_scope: Scope,
    period: Period,
    cycle_days: Any,
    expected_cycle: float | None,
    limit: int,
) -> list[DealRow]:
    """Priority deals closed in ``period`` that fell short: lost, or won slower than expected;
    flags: lost, slower than expected."""
    slow = cycle_days > expected_cycle if expected_cycle is not None else Opportunity.id.is_(None)
    won_slow = and_(Opportunity.is_won.is_(True), slow)
    lost = Opportunity.is_won.is_(False)
    conditions = [
        *priority_scope.opportunity,
        Opportunity.is_closed.is_(True),
        metric_queries.in_period(Opportunity.close_date, period),
        or_(lost, won_slow),
    ]
    return _deal_rows(session, conditions, [lost, won_slow], limit)


def knowledge_deals(
    session: Session, priority_scope: Scope, moment: dt.datetime, stale_days: int, limit: int
) -> list[DealRow]:
    """Priority deals open at ``moment`` missing evidence; flags: no qualification evidence, stale,
    no stakeholder map."""
    unqualified = not_(has_qualification_evidence())
    stale = not_(touched_within(moment, stale_days))
    unmapped = not_(has_stakeholder_map())
    conditions = [*priority_scope.opportunity, open_at(moment), or_(unqualified, stale, unmapped)]
    return _deal_rows(session, conditions, [unqualified, stale, unmapped], limit)
