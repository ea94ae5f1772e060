"""Owner roll-ups: the fast path for metrics grouped by anything a deal's owner decides.

Everything, rep, manager, team and office are functions of the owner, so each additive figure is
computed once per owner in one pass over an index (CASE sums instead of one scan per figure and no
join to users or the org tree per row), then summed per group here. Medians are not additive, so
the cycle histogram joins a small (owner, group) table built once per request instead.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from sqlalchemy import Integer, and_, column, func, select, values
from sqlalchemy.orm import Session

from bridgehead.auth.models import User
from bridgehead.common.types import Period
from bridgehead.crm.models import Activity, ActivityKind, Opportunity
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
        for item in fields(self):
            setattr(self, item.name, getattr(self, item.name) + getattr(other, item.name))

    @property
    def touched(self) -> bool:
        """Whether any figure counts a deal (a group with none is not listed)."""
        return bool(self.won or self.lost or self.open_any or self.created)


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


def owner_deal_totals(
    session: Session, scope: Scope, period: Period, unqualified_stages: Sequence[str]
) -> dict[int | None, DealTotals]:
    """Every additive deal figure per owner, in one grouped pass over the owner's covering index."""
    closing = in_period(Opportunity.close_date, period)
    closed, is_open = Opportunity.is_closed.is_(True), Opportunity.is_closed.is_(False)
    won = and_(closed, Opportunity.is_won.is_(True), closing)
    lost = and_(closed, Opportunity.is_won.is_not(True), closing)
    open_closing = and_(is_open, closing)
    qualified = (
        and_(is_open, Opportunity.stage.not_in(list(unqualified_stages))) if unqualified_stages else is_open
    )
    created = in_period(Opportunity.created_at, period, is_datetime=True)
    cents = func.coalesce(AMOUNT_CENTS, 0)
    statement = (
        select(
            Opportunity.owner_id,
            count_if(won),
            count_if(lost),
            sum_if(won, cents),
            sum_if(lost, cents),
            count_if(open_closing),
            sum_if(open_closing, cents),
            sum_if(open_closing, cents * func.coalesce(Opportunity.probability, 0)),
            count_if(is_open),
            count_if(qualified),
            count_if(created),
            sum_if(created, cents),
        )
        .where(*scope.opportunity)
        .group_by(Opportunity.owner_id)
    )
    return {
        owner: DealTotals(*(int(value) for value in figures))
        for owner, *figures in session.execute(statement)
    }


def owner_activity_counts(session: Session, scope: Scope, period: Period) -> dict[int | None, dict[str, int]]:
    """Activities per owner and kind in ``period``: one pass over the owner index, kinds as CASE sums."""
    kinds = [kind.value for kind in ActivityKind]
    statement = (
        select(Activity.owner_id, *[count_if(Activity.kind == kind) for kind in kinds])
        .where(*scope.activity, in_period(Activity.occurred_at, period, is_datetime=True))
        .group_by(Activity.owner_id)
    )
    result: dict[int | None, dict[str, int]] = {}
    for owner, *counts in session.execute(statement):
        result[owner] = {kind: int(count) for kind, count in zip(kinds, counts, strict=True) if count}
    return result


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


def group_cycle_histogram(
    session: Session, scope: Scope, groups: OwnerGroups, period: Period
) -> list[tuple[int, bool, int, int]]:
    """(group, won?, cycle days, deals) for deals closed in ``period``: enough for exact medians per group.

    The (owner, group) pairs travel as a VALUES table joined to the deals, so the database walks
    each owner's closed deals through the owner index; deals without a listed owner are counted apart.
    """
    days = cycle_days(session)
    closed_in_period = [
        *scope.opportunity,
        Opportunity.is_closed.is_(True),
        Opportunity.close_date.is_not(None),
        in_period(Opportunity.close_date, period),
    ]
    pairs = [(owner, group) for owner, owned in groups.members.items() for group in owned]
    rows: list[tuple[int, bool, int, int]] = []
    if pairs and len(pairs) <= MAX_MAPPED_OWNERS:
        mapping = (
            values(column("owner_id", Integer), column("group_no", Integer), name="owner_group")
            .data(pairs)
            .cte("owner_group")
        )
        statement = (
            select(mapping.c.group_no, Opportunity.is_won, days, func.count())
            .select_from(mapping)
            .join(Opportunity, Opportunity.owner_id == mapping.c.owner_id)
            .where(*closed_in_period)
            .group_by(mapping.c.group_no, Opportunity.is_won, days)
        )
        rows.extend((group, is_won, day, count) for group, is_won, day, count in session.execute(statement))
        ownerless = (
            select(Opportunity.is_won, days, func.count())
            .where(*closed_in_period, Opportunity.owner_id.is_(None))
            .group_by(Opportunity.is_won, days)
        )
        rows.extend(
            (groups.ownerless, is_won, day, count) for is_won, day, count in session.execute(ownerless)
        )
    else:
        # Too many owners to ship: group per owner in the database and map here.
        per_owner = (
            select(Opportunity.owner_id, Opportunity.is_won, days, func.count())
            .where(*closed_in_period)
            .group_by(Opportunity.owner_id, Opportunity.is_won, days)
        )
        for owner, is_won, day, count in session.execute(per_owner):
            rows.extend((group, is_won, day, count) for group in groups.of(owner))
    return [
        (group, bool(is_won), int(day), int(count)) for group, is_won, day, count in rows if day is not None
    ]
