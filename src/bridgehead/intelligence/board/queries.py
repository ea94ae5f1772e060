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
from bridgehead.intelligence.gaps.models import GapKind, GapSignal
from bridgehead.intelligence.metrics import queries as metric_queries
from bridgehead.intelligence.metrics.scope import Scope
from bridgehead.intelligence.slices import period_slice


def _span(periods: Sequence[Period]) -> Period:
    return Period(periods[0].start, periods[-1].end, f"{periods[0].label}…{periods[-1].label}")


@dataclass(frozen=True)
class EffortConditions:
    """Which deals count toward a priority, and which are off-strategy for it (both over ``Opportunity``)."""

    priority: ColumnElement[bool]
    off_strategy: ColumnElement[bool]


def effort(
    session: Session, everything: Scope, periods: Sequence[Period], conditions: Sequence[EffortConditions]
) -> list[dict[tuple[str, int | None], Effort]]:
    """Effort per (period, owner) for several priorities at once: one pass over the deals created in
    the periods (pipeline created, as the engine defines it: Σ amount by created date) and one over
    the activities, each priority's shares as conditional sums. Off-strategy means at a
    deprioritised segment and not counting toward the priority; an activity counts by its deal."""
    span = _span(periods)
    cents = func.coalesce(metric_queries.AMOUNT_CENTS, 0)
    created_key = period_slice(Opportunity.created_at, periods, is_datetime=True).key
    created_columns: list[Any] = [func.coalesce(func.sum(cents), 0)]
    for item in conditions:
        created_columns.append(func.coalesce(func.sum(case((item.priority, cents), else_=0)), 0))
        off = and_(item.off_strategy, not_(item.priority))
        created_columns.append(func.coalesce(func.sum(case((off, cents), else_=0)), 0))
    created = session.execute(
        select(created_key, Opportunity.owner_id, *created_columns)
        .where(
            *everything.opportunity, metric_queries.in_period(Opportunity.created_at, span, is_datetime=True)
        )
        .group_by(created_key, Opportunity.owner_id)
    ).all()
    # Each deal's flags once (a few per deal), not once per activity: the conditions hold subqueries.
    flag_columns: list[Any] = [Opportunity.id.label("id")]
    for index, item in enumerate(conditions):
        off = and_(item.off_strategy, not_(item.priority))
        flag_columns.append(case((item.priority, 1), else_=0).label(f"on_{index}"))
        flag_columns.append(case((off, 1), else_=0).label(f"off_{index}"))
    flags = (
        select(*flag_columns)
        .where(
            Opportunity.id.in_(
                select(Activity.opportunity_id).where(
                    *everything.activity,
                    metric_queries.in_period(Activity.occurred_at, span, is_datetime=True),
                )
            )
        )
        .cte("deal_flags")
        .prefix_with("MATERIALIZED")
    )
    # Activities counted per (period, owner, deal) first, so each deal's flags are joined once per
    # group rather than once per activity.
    activity_key = period_slice(Activity.occurred_at, periods, is_datetime=True).key
    per_deal = (
        select(
            activity_key.label("period"),
            Activity.owner_id.label("owner_id"),
            Activity.opportunity_id.label("opportunity_id"),
            func.count().label("activities"),
        )
        .where(*everything.activity, metric_queries.in_period(Activity.occurred_at, span, is_datetime=True))
        .group_by(activity_key, Activity.owner_id, Activity.opportunity_id)
        .subquery("activity_per_deal")
    )
    activity_columns: list[Any] = [func.sum(per_deal.c.activities)]
    for index in range(len(conditions)):
        for prefix in ("on", "off"):
            flag = func.coalesce(flags.c[f"{prefix}_{index}"], 0)
            activity_columns.append(func.coalesce(func.sum(flag * per_deal.c.activities), 0))
    activities = session.execute(
        select(per_deal.c.period, per_deal.c.owner_id, *activity_columns)
        .select_from(per_deal)
        .outerjoin(flags, flags.c.id == per_deal.c.opportunity_id)
        .group_by(per_deal.c.period, per_deal.c.owner_id)
    ).all()
    result: list[dict[tuple[str, int | None], Effort]] = [{} for _ in conditions]
    for row in created:
        if row[0] is None:
            continue
        for index, table in enumerate(result):
            table[(str(row[0]), row[1])] = Effort(
                created_cents=int(row[2]),
                priority_cents=int(row[3 + 2 * index]),
                off_strategy_cents=int(row[4 + 2 * index]),
            )
    for row in activities:
        if row[0] is None:
            continue
        for index, table in enumerate(result):
            key = (str(row[0]), row[1])
            table[key] = table.get(key, Effort()) + Effort(
                activities=int(row[2]),
                priority_activities=int(row[3 + 2 * index]),
                off_strategy_activities=int(row[4 + 2 * index]),
            )
    return result


def _flags(priorities: Sequence[ColumnElement[bool]]) -> list[Any]:
    return [case((condition, 1), else_=0) for condition in priorities]


def outcomes(
    session: Session, everything: Scope, periods: Sequence[Period], priorities: Sequence[ColumnElement[bool]]
) -> list[dict[tuple[str, int | None], Outcomes]]:
    """Per priority: its deals closed per (period of close date, owner), won and lost, won cents and
    the won cycle days (the engine's ``cycle_days``), in one grouped pass for every priority."""
    span = _span(periods)
    key = period_slice(Opportunity.close_date, periods, is_datetime=False).key
    days = metric_queries.cycle_days(session)
    flags = _flags(priorities)
    statement = (
        select(
            key,
            Opportunity.owner_id,
            Opportunity.is_won,
            days,
            func.count(),
            func.coalesce(func.sum(func.coalesce(metric_queries.AMOUNT_CENTS, 0)), 0),
            *flags,
        )
        .where(
            *everything.opportunity,
            Opportunity.is_closed.is_(True),
            metric_queries.in_period(Opportunity.close_date, span),
            or_(*priorities),
        )
        .group_by(key, Opportunity.owner_id, Opportunity.is_won, days, *flags)
    )
    result: list[dict[tuple[str, int | None], Outcomes]] = [{} for _ in priorities]
    for row in session.execute(statement):
        if row[0] is None:
            continue
        won, count, cents = bool(row[2]), int(row[4]), int(row[5])
        part = Outcomes(
            won=count if won else 0,
            lost=0 if won else count,
            won_cents=cents if won else 0,
            cycle_days={int(row[3]): count} if won and row[3] is not None else {},
        )
        for index, table in enumerate(result):
            if row[6 + index]:
                table_key = (str(row[0]), row[1])
                table[table_key] = table.get(table_key, Outcomes()) + part
    return result


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
    priorities: Sequence[ColumnElement[bool]],
) -> list[dict[str, dict[int | None, Evidence]]]:
    """Per priority, moment (by label) and owner: the priority's deals open at that moment and how
    many lack qualification evidence, recent activity and a stakeholder map; one pass for all."""
    columns: list[Any] = []
    qualified, mapped = has_qualification_evidence(), has_stakeholder_map()
    for moment in moments.values():
        is_open = open_at(moment)
        for lacking in (None, not_(qualified), not_(touched_within(moment, stale_days)), not_(mapped)):
            condition = is_open if lacking is None else and_(is_open, lacking)
            columns.append(func.coalesce(func.sum(case((condition, 1), else_=0)), 0))
    earliest, latest = min(moments.values()), max(moments.values())
    flags = _flags(priorities)
    statement = (
        select(Opportunity.owner_id, *flags, *columns)
        .where(
            *everything.opportunity,
            Opportunity.created_at < latest,
            or_(Opportunity.is_closed.is_(False), Opportunity.close_date >= earliest.date()),
            or_(*priorities),
        )
        .group_by(Opportunity.owner_id, *flags)
    )
    result: list[dict[str, dict[int | None, Evidence]]] = [
        {label: {} for label in moments} for _ in priorities
    ]
    offset = 1 + len(priorities)
    for row in session.execute(statement):
        for index, label in enumerate(moments):
            values = [int(value) for value in row[offset + 4 * index : offset + 4 + 4 * index]]
            if not values[0]:
                continue
            for priority_index, table in enumerate(result):
                if row[1 + priority_index]:
                    owners = table[label]
                    owners[row[0]] = owners.get(row[0], Evidence()) + Evidence(*values)
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
    priorities: Sequence[ColumnElement[bool]],
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
    statement = select(
        Opportunity.owner_id, func.coalesce(metric_queries.AMOUNT_CENTS, 0), probability, *_flags(priorities)
    ).where(
        *everything.opportunity,
        open_at(moment),
        metric_queries.in_period(Opportunity.close_date, period),
        or_(*priorities),
    )
    rows = [row for row in session.execute(statement) if current or row[2] is not None]
    result = []
    for index in range(len(priorities)):
        mine = [row for row in rows if row[3 + index]]
        result.append(
            ForecastDeals(
                [row[0] for row in mine], [int(row[1]) for row in mine], [int(row[2] or 0) for row in mine]
            )
        )
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
