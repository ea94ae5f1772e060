"""Owner roll-ups: the fast path for metrics grouped by anything a deal's owner decides.

Everything, rep, manager, team and office are functions of the owner, so each additive figure is
computed per owner from the owner's part of a covering index (a seek per owner for open deals,
deals closed in the period and activities; CASE sums instead of one scan per figure; no join to
users or the org tree per row), then summed per group here. Medians are not additive, so the
closed-deal histogram (which also gives won and lost counts) joins a small (owner, group) table
built once per call instead.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Select,
    cast,
    func,
    literal_column,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.orm import Session

from bridgehead.auth.models import User
from bridgehead.common.sql import integer_rows
from bridgehead.common.types import Period
from bridgehead.crm.models import (
    Activity,
    ActivityKind,
    ActivityMonth,
    OpenOpportunityStage,
    Opportunity,
    OpportunityMonth,
)
from bridgehead.intelligence.metrics.queries import AMOUNT_CENTS, count_if, cycle_days, in_period, sum_if
from bridgehead.intelligence.metrics.scope import Scope
from bridgehead.intelligence.slices import Dimension, Subject, build_slice

OWNER_DIMENSIONS = frozenset(
    {Dimension.ALL, Dimension.REP, Dimension.MANAGER, Dimension.TEAM, Dimension.OFFICE}
)
# Above this many owners the (owner, group) table would need too many bound parameters.
MAX_MAPPED_OWNERS = 10_000
USER_SUBJECT = Subject(owner=User.id, account=None, opportunity_id=None, is_opportunity=False)


@dataclass
class DealTotals:
    """Additive deal figures of one owner or group for a period."""

    won: int = 0
    lost: int = 0
    won_cents: int = 0
    lost_cents: int = 0
    open_closing: int = 0
    open_closing_cents: int = 0
    weighted_cents_percent: int = 0
    open_any: int = 0
    qualified: int = 0
    created: int = 0
    created_cents: int = 0

    def add(self, other: DealTotals) -> None:
        """Add ``other``'s figures to these."""
        # A page adds a thousand owners' figures; reading the dataclass's fields each time cost more.
        for name in _DEAL_FIGURES:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @property
    def touched(self) -> bool:
        """Whether any figure counts a deal (a group with none is not listed)."""
        return bool(self.won or self.lost or self.open_any or self.created)


_DEAL_FIGURES = tuple(item.name for item in fields(DealTotals))


@dataclass(frozen=True)
class OwnerGroups:
    """Groups of a dimension and which group each owner belongs to (an owner may be in several)."""

    dimension: Dimension
    groups: list[tuple[Any, Any]]
    members: dict[int, list[int]]
    ownerless: int
    group_index: dict[tuple[Any, Any], int] = field(default_factory=dict)

    def of(self, owner_id: int | None) -> list[int]:
        """The groups of an owner (deals without an owner, or with an unlisted one, go to ``ownerless``)."""
        if owner_id is None:
            return [self.ownerless]
        return self.members.get(owner_id, [self.ownerless])


def owner_groups(session: Session, dimension: Dimension) -> OwnerGroups:
    """Every user's group(s) for an owner dimension, resolved with one small query over users."""
    groups: list[tuple[Any, Any]] = []
    index: dict[tuple[Any, Any], int] = {}

    def number(key: Any, label: Any) -> int:
        if (key, label) not in index:
            index[(key, label)] = len(groups)
            groups.append((key, label))
        return index[(key, label)]

    members: dict[int, list[int]] = defaultdict(list)
    if dimension == Dimension.ALL:
        everyone = number("all", "All")
        for user_id in session.scalars(select(User.id)):
            members[user_id].append(everyone)
        return OwnerGroups(dimension, groups, dict(members), everyone, index)
    grouping = build_slice(session, dimension, USER_SUBJECT)
    statement = grouping.apply(select(User.id, grouping.key, grouping.label).select_from(User))
    for user_id, key, label in session.execute(statement):
        members[user_id].append(number(key, label))
    return OwnerGroups(dimension, groups, dict(members), number(None, None), index)


def owner_ids(session: Session) -> list[int]:
    """Every user id: the owners whose rows are read owner by owner."""
    return list(session.scalars(select(User.id)))


def _per_owner(
    session: Session,
    entity: Any,
    owner_column: Any,
    figures: Sequence[Any],
    conditions: Sequence[ColumnElement[bool]],
) -> list[tuple[Any, ...]]:
    """(owner, *figures) per owner of the rows meeting ``conditions``.

    The store seeks each owner's range in the index that starts with the owner (and, when the next
    index columns are constrained, only that part of it) whether or not it holds statistics; rows
    without an owner are read apart. On SQLite the owners are ``IN (SELECT id FROM user)``: it
    walks the user ids in order, so the rows come grouped and the index covers the query (open
    deals at 1,000,000 deals: 188-237 ms, against 419-474 ms joined to a VALUES table of the
    owners, whose 357,000 rows SQLite sorted for the GROUP BY). Elsewhere the owners travel as a
    VALUES table the rows are joined to.
    """
    if session.get_bind().dialect.name == "sqlite":
        statement = (
            select(owner_column, *figures)
            .where(*conditions, owner_column.in_(select(User.id)))
            .group_by(owner_column)
        )
    else:
        owners = owner_ids(session)
        if not owners or len(owners) > MAX_MAPPED_OWNERS:
            statement = select(owner_column, *figures).where(*conditions).group_by(owner_column)
            return [tuple(row) for row in session.execute(statement)]
        listed = integer_rows("listed_owner", ["owner_id"], ((owner,) for owner in owners))
        statement = (
            select(listed.c.owner_id, *figures)
            .select_from(listed)
            .join(entity, owner_column == listed.c.owner_id)
            .where(*conditions)
            .group_by(listed.c.owner_id)
        )
    ownerless = (
        select(owner_column, *figures).where(*conditions, owner_column.is_(None)).group_by(owner_column)
    )
    return [tuple(row) for row in session.execute(statement)] + [
        tuple(row) for row in session.execute(ownerless)
    ]


def owner_deal_totals(
    session: Session, scope: Scope, period: Period, unqualified_stages: Sequence[str]
) -> dict[int | None, DealTotals]:
    """The additive figures of open and created deals per owner. (Closed deals come with the
    cycle histogram: ``group_closed_histogram``.)

    A period of whole months under conditions on the owner alone is read from the sums the
    database keeps (``OpportunityMonth``, ``OpenOpportunityStage``): a row per owner and month or
    stage instead of every open deal and every deal created in the period (at 1,000,000 deals:
    0.43-0.5 s read from the deals on SQLite, 0.02 s from the sums). Otherwise the deals are read
    (``_read_deal_totals``).
    """
    if not month_sums_answer(scope, period):
        return _read_deal_totals(session, scope, period, unqualified_stages)
    totals: dict[int | None, DealTotals] = defaultdict(DealTotals)
    owner, in_months = _months_in_scope(OpportunityMonth, scope, period)
    month_sums = [
        func.sum(OpportunityMonth.created),
        func.sum(OpportunityMonth.created_cents),
        func.sum(OpportunityMonth.open_closing),
        func.sum(OpportunityMonth.open_closing_cents),
        func.sum(OpportunityMonth.open_weighted_cents_percent),
    ]
    months = (
        select(owner, *month_sums)
        .where(*in_months)
        .group_by(OpportunityMonth.owner_key)
        .having(or_(month_sums[0] != 0, month_sums[2] != 0))
    )
    for owner_id, created, created_cents, closing, closing_cents, weighted in session.execute(months):
        figures = totals[owner_id]
        figures.created, figures.created_cents = int(created), int(created_cents)
        figures.open_closing, figures.open_closing_cents = int(closing), int(closing_cents)
        figures.weighted_cents_percent = int(weighted)
    assert scope.owner_only is not None  # month_sums_answer
    stage_owner = func.nullif(OpenOpportunityStage.owner_key, 0)
    open_deals = func.sum(OpenOpportunityStage.open_deals)
    qualified = (
        sum_if(OpenOpportunityStage.stage.not_in(list(unqualified_stages)), OpenOpportunityStage.open_deals)
        if unqualified_stages
        else open_deals
    )
    stages = (
        select(stage_owner, open_deals, qualified)
        .where(*scope.owner_only(stage_owner))
        .group_by(OpenOpportunityStage.owner_key)
        .having(open_deals != 0)
    )
    for owner_id, open_any, qualified_count in session.execute(stages):
        figures = totals[owner_id]
        figures.open_any, figures.qualified = int(open_any), int(qualified_count)
    return dict(totals)


def _read_deal_totals(
    session: Session, scope: Scope, period: Period, unqualified_stages: Sequence[str]
) -> dict[int | None, DealTotals]:
    """``owner_deal_totals`` from the deals themselves: open deals from the owner's open part of the
    covering index, deals created from the creation-date index."""
    closing = in_period(Opportunity.close_date, period)
    cents = func.coalesce(AMOUNT_CENTS, 0)
    totals: dict[int | None, DealTotals] = defaultdict(DealTotals)
    qualified = Opportunity.stage.not_in(list(unqualified_stages)) if unqualified_stages else None
    open_rows = _per_owner(
        session,
        Opportunity,
        Opportunity.owner_id,
        [
            func.count(),
            count_if(closing),
            sum_if(closing, cents),
            sum_if(closing, cents * func.coalesce(Opportunity.probability, 0)),
            func.count() if qualified is None else count_if(qualified),
        ],
        [*scope.opportunity, Opportunity.is_closed.is_(False)],
    )
    for owner, open_any, open_closing, open_cents, weighted, qualified_count in open_rows:
        figures = totals[owner]
        figures.open_any, figures.open_closing, figures.open_closing_cents = (
            int(open_any),
            int(open_closing),
            int(open_cents),
        )
        figures.weighted_cents_percent, figures.qualified = int(weighted), int(qualified_count)
    created = (
        select(Opportunity.owner_id, func.count(), func.coalesce(func.sum(AMOUNT_CENTS), 0))
        .where(*scope.opportunity, in_period(Opportunity.created_at, period, is_datetime=True))
        .group_by(Opportunity.owner_id)
    )
    for owner, count, created_cents in session.execute(created):
        totals[owner].created, totals[owner].created_cents = int(count), int(created_cents)
    return dict(totals)


def owner_activity_counts(session: Session, scope: Scope, period: Period) -> dict[int | None, dict[str, int]]:
    """Activities per owner and kind in ``period``.

    A period of whole months under conditions on the owner alone (any viewer, org unit or rep; not
    a segment, product or priority) is read from ``ActivityMonth``, the per-month counts the
    database keeps: a few rows per owner and month instead of every activity of the period
    (at 2,500,000 activities in the year: 0.33 s counted on PostgreSQL, 0.39 s on SQLite; 0.03-0.04 s
    read from the month counts).
    Otherwise the activities are counted (``_counted_activities``).
    """
    if not month_sums_answer(scope, period):
        return _counted_activities(session, scope, period)
    counts: dict[int | None, dict[str, int]] = defaultdict(dict)
    for owner_id, kind, count in session.execute(_kept_activities(scope, period, ActivityMonth.kind)):
        counts[owner_id][kind] = int(count)
    return dict(counts)


def owner_month_activities(
    session: Session, scope: Scope, span: Period
) -> list[tuple[int | None, dt.date, int]]:
    """(owner, month, activities) for each month of ``span`` from ``ActivityMonth``: for whole
    months under a scope on the owner alone (``scope.owner_only``); a ``ValueError`` otherwise."""
    if not month_sums_answer(scope, span):
        raise ValueError("the month counts answer whole months under conditions on the owner alone")
    rows = session.execute(_kept_activities(scope, span, ActivityMonth.month))
    return [(owner_id, month, int(count)) for owner_id, month, count in rows]


def owner_month_created(
    session: Session, scope: Scope, span: Period
) -> list[tuple[int | None, dt.date, int]]:
    """(owner, month, cents) of the deals created in each month of ``span`` (months with any), from
    ``OpportunityMonth``: for whole months under a scope on the owner alone (``scope.owner_only``);
    a ``ValueError`` otherwise."""
    if not month_sums_answer(scope, span):
        raise ValueError("the month sums answer whole months under conditions on the owner alone")
    owner, in_months = _months_in_scope(OpportunityMonth, scope, span)
    statement = (
        select(owner, OpportunityMonth.month, func.sum(OpportunityMonth.created_cents))
        .where(*in_months, OpportunityMonth.created != 0)
        .group_by(OpportunityMonth.owner_key, OpportunityMonth.month)
    )
    return [(owner_id, month, int(cents)) for owner_id, month, cents in session.execute(statement)]


def _kept_activities(scope: Scope, period: Period, per: Any) -> Select[Any]:
    """(owner, ``per``, activities) from ``ActivityMonth`` for the months of ``period`` in scope."""
    owner, in_months = _months_in_scope(ActivityMonth, scope, period)
    activities = func.sum(ActivityMonth.activities)
    return (
        select(owner, per, activities)
        .where(*in_months)
        .group_by(ActivityMonth.owner_key, per)
        .having(activities > 0)
    )


def _months_in_scope(
    table: type[ActivityMonth] | type[OpportunityMonth], scope: Scope, period: Period
) -> tuple[ColumnElement[Any], list[ColumnElement[bool]]]:
    """A month table's owner (NULL for key 0) and the conditions selecting its rows for the
    months of ``period`` under ``scope``'s owner conditions (callers check ``month_sums_answer``)."""
    assert scope.owner_only is not None
    owner = func.nullif(table.owner_key, 0)
    return owner, [table.month >= period.start, table.month < period.end, *scope.owner_only(owner)]


def whole_months(period: Period) -> bool:
    """Whether ``period`` starts and ends on the first of a month (a month, quarter or year does)."""
    return period.start.day == 1 and period.end.day == 1


def month_sums_answer(scope: Scope, period: Period) -> bool:
    """Whether the per-owner month tables the database keeps answer ``period`` under ``scope``:
    whole months, and conditions on the owner alone (any viewer, org unit or rep; not a segment,
    product or priority)."""
    return scope.owner_only is not None and whole_months(period)


def _counted_activities(session: Session, scope: Scope, period: Period) -> dict[int | None, dict[str, int]]:
    """Activities per owner and kind in ``period``, counted from the activities themselves.

    SQLite: from each owner's date range of the covering index, joined from the user table (in id
    order, so SQLite groups without sorting; it picks this order with or without statistics);
    activities without an owner are read apart. PostgreSQL: one ``GROUP BY owner, kind``, which it
    runs as a parallel scan with hashed groups (542 ms at 2.5 million activities, against 660 ms
    for the per-owner seeks with four filtered counts).
    """
    conditions = [*scope.activity, in_period(Activity.occurred_at, period, is_datetime=True)]
    if session.get_bind().dialect.name == "postgresql":
        grouped = (
            select(Activity.owner_id, Activity.kind, func.count())
            .where(*conditions)
            .group_by(Activity.owner_id, Activity.kind)
        )
        counts: dict[int | None, dict[str, int]] = defaultdict(dict)
        for owner, kind, count in session.execute(grouped):
            counts[owner][ActivityKind(kind).value] = int(count)
        return dict(counts)
    kinds = [kind.value for kind in ActivityKind]
    figures = [count_if(Activity.kind == kind) for kind in kinds]
    statement = (
        select(User.id, *figures)
        .select_from(User)
        .join(Activity, Activity.owner_id == User.id)
        .where(*conditions)
        .group_by(User.id)
    )
    ownerless = (
        select(Activity.owner_id, *figures)
        .where(*conditions, Activity.owner_id.is_(None))
        .group_by(Activity.owner_id)
    )
    rows = [*session.execute(statement), *session.execute(ownerless)]
    return {
        owner: {kind: int(count) for kind, count in zip(kinds, counts, strict=True) if count}
        for owner, *counts in rows
    }


def group_totals(groups: OwnerGroups, per_owner: dict[int | None, DealTotals]) -> dict[int, DealTotals]:
    """Owner totals summed per group."""
    totals: dict[int, DealTotals] = defaultdict(DealTotals)
    for owner, figures in per_owner.items():
        for group in groups.of(owner):
            totals[group].add(figures)
    return dict(totals)


def group_activities(
    groups: OwnerGroups, per_owner: dict[int | None, dict[str, int]]
) -> dict[int, dict[str, int]]:
    """Owner activity counts summed per group and kind."""
    totals: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for owner, by_kind in per_owner.items():
        for group in groups.of(owner):
            for kind, count in by_kind.items():
                totals[group][kind] += count
    return {group: dict(by_kind) for group, by_kind in totals.items()}


ClosedRow = tuple[int, bool, int | None, int, int]

# The histogram groups on one integer, (group * 2 + won) * _DAY_SPAN + cycle days + _DAY_OFFSET
# (0 when the cycle is unknown), instead of three columns: SQLite sorts a million-deal year's
# closed deals to group them, and one integer key sorts faster (0.51 s against 0.61 s at 332,000).
_DAY_OFFSET = 1 << 21
_DAY_SPAN = 1 << 22


def _histogram_key(session: Session, group: Any) -> ColumnElement[int]:
    """The grouping key of a closed deal in ``group`` (a column or a number)."""
    won = cast(Opportunity.is_won, Integer)
    days = func.coalesce(cycle_days(session) + literal_column(str(_DAY_OFFSET)), 0)
    # A BIGINT factor: PostgreSQL's integer product would overflow from group 512 on.
    span = cast(literal_column(str(_DAY_SPAN)), BigInteger)
    return type_coerce((group * 2 + won) * span + days, Integer)


def _from_key(key: int) -> tuple[int, bool, int | None]:
    """(group, won?, cycle days) back from ``_histogram_key``."""
    pair, days = divmod(int(key), _DAY_SPAN)
    group, won = divmod(pair, 2)
    return group, bool(won), None if days == 0 else days - _DAY_OFFSET


def group_closed_histogram(
    session: Session, scope: Scope, groups: OwnerGroups, period: Period
) -> list[ClosedRow]:
    """(group, won?, cycle days, deals, cents) for deals closed in ``period``: won and lost counts and
    amounts per group, and enough for exact median cycles, from one seek per owner.

    The (owner, group) pairs travel as a VALUES table joined to the deals, so the database reads
    each owner's closed deals of the period from the covering owner index; deals without a listed
    owner are counted apart.
    """
    cents = func.coalesce(func.sum(func.coalesce(AMOUNT_CENTS, 0)), 0)
    closed_in_period = [
        *scope.opportunity,
        Opportunity.is_closed.is_(True),
        in_period(Opportunity.close_date, period),
    ]
    pairs = [(owner, group) for owner, owned in groups.members.items() for group in owned]
    rows: list[ClosedRow] = []

    def add(group: int | None, key: int, count: int, total: int) -> None:
        keyed_group, is_won, days = _from_key(key)
        rows.append((keyed_group if group is None else group, is_won, days, int(count), int(total)))

    if pairs and len(pairs) <= MAX_MAPPED_OWNERS:
        mapping = integer_rows("owner_group", ["owner_id", "group_no"], pairs)
        key = _histogram_key(session, mapping.c.group_no)
        statement = (
            select(key, func.count(), cents)
            .select_from(mapping)
            .join(Opportunity, Opportunity.owner_id == mapping.c.owner_id)
            .where(*closed_in_period)
            .group_by(key)
        )
        for key_value, count, total in session.execute(statement):
            add(None, key_value, count, total)
        ownerless_key = _histogram_key(session, 0)
        ownerless = (
            select(ownerless_key, func.count(), cents)
            .where(*closed_in_period, Opportunity.owner_id.is_(None))
            .group_by(ownerless_key)
        )
        for key_value, count, total in session.execute(ownerless):
            add(groups.ownerless, key_value, count, total)
    else:
        # Too many owners to ship: group per owner in the database and map here.
        owner_key = _histogram_key(session, 0)
        per_owner = (
            select(Opportunity.owner_id, owner_key, func.count(), cents)
            .where(*closed_in_period)
            .group_by(Opportunity.owner_id, owner_key)
        )
        for owner, key_value, count, total in session.execute(per_owner):
            for group in groups.of(owner):
                add(group, key_value, count, total)
    return rows


def is_partition(groups: OwnerGroups) -> bool:
    """Whether every owner is in exactly one group (so the groups' figures add up to the whole)."""
    return all(len(owned) == 1 for owned in groups.members.values())


def add_closed(totals: dict[int, DealTotals], histogram: Sequence[ClosedRow]) -> None:
    """Won and lost deals and amounts per group, from the closed histogram."""
    for group, is_won, _days, count, cents in histogram:
        figures = totals.setdefault(group, DealTotals())
        if is_won:
            figures.won, figures.won_cents = figures.won + count, figures.won_cents + cents
        else:
            figures.lost, figures.lost_cents = figures.lost + count, figures.lost_cents + cents
