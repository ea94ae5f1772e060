"""The two headline metrics that read gap signals: agility and strategy adoption rate (DESIGN.md section 8).

Both take a resolved ``intelligence.metrics.scope.Scope``, so they slice exactly like every other
metric (visibility, org unit, rep, segment, product, priority). Queries are grouped in SQL; the
median is taken from a histogram by the metrics engine's own pure function.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Integer, case, cast, exists, func, literal, select
from sqlalchemy.orm import Session

from bridgehead.auth.models import Role, User
from bridgehead.common.sql import integer_rows
from bridgehead.common.types import UTCDateTime
from bridgehead.crm.models import Opportunity
from bridgehead.intelligence.gaps.models import GapKind, GapSignal
from bridgehead.intelligence.gaps.sqltools import elapsed
from bridgehead.intelligence.metrics.compute import median_from_histogram
from bridgehead.intelligence.metrics.rollup import MAX_MAPPED_OWNERS, owner_ids
from bridgehead.intelligence.metrics.scope import Scope

# The playbook standard of DESIGN.md: qualified for the stage, multi-threaded, fresh activity.
PLAYBOOK_STANDARD_KINDS = (
    GapKind.SINGLE_THREADED,
    GapKind.NO_ECONOMIC_BUYER,
    GapKind.QUALIFICATION_INCOMPLETE,
    GapKind.STALE_DEAL,
)


@dataclass(frozen=True)
class Agility:
    """Median days from a signal being raised to it being resolved, over the signals resolved in the period."""

    median_days: float | None
    resolved_signals: int


@dataclass(frozen=True)
class Adoption:
    """Share of active reps (with open deals in scope) whose open deals meet the playbook standard."""

    rate: float | None
    reps_meeting: int
    active_reps: int
    # The same standard per deal: the share of those reps' open deals in scope that meet it.
    deal_share: float | None = None


def _moment(day: dt.date) -> ColumnElement[dt.datetime]:
    return literal(dt.datetime.combine(day, dt.time(), dt.UTC), UTCDateTime())


def agility(session: Session, scope: Scope) -> Agility:
    """Median raised-to-resolved days of deal signals resolved in the scope's period, in the scope."""
    dialect = session.get_bind().dialect.name
    period = scope.filters.period
    hours = elapsed(dialect, GapSignal.resolved_at, GapSignal.raised_at, unit_seconds=3600).label("hours")
    resolved_in_period = [
        GapSignal.resolved_at >= _moment(period.start),
        GapSignal.resolved_at < _moment(period.end),
        # Seeking every deal's signals would cost a lookup per deal; unfiltered, none is needed.
        GapSignal.opportunity_id.is_not(None)
        if scope.unrestricted
        else GapSignal.opportunity_id.in_(select(Opportunity.id).where(*scope.opportunity)),
    ]
    histogram: Counter[int] = Counter()
    owners = owner_ids(session)
    if owners and len(owners) <= MAX_MAPPED_OWNERS:
        # Each owner's signals resolved in the period are one range of the covering owner index;
        # without the owner the store would read every signal ever raised.
        listed = integer_rows("listed_owner", ["owner_id"], ((owner,) for owner in owners))
        statements = [
            select(hours, func.count())
            .select_from(listed)
            .join(GapSignal, GapSignal.owner_id == listed.c.owner_id)
            .where(*resolved_in_period)
            .group_by(hours),
            select(hours, func.count())
            .where(*resolved_in_period, GapSignal.owner_id.is_(None))
            .group_by(hours),
        ]
    else:
        statements = [select(hours, func.count()).where(*resolved_in_period).group_by(hours)]
    for statement in statements:
        for hour, count in session.execute(statement):
            histogram[int(hour)] += int(count)
    hours_seen = sorted(histogram)
    resolved = sum(histogram.values())
    median_hours = (
        median_from_histogram(hours_seen, [histogram[hour] for hour in hours_seen]) if hours_seen else None
    )
    return Agility(
        median_days=None if median_hours is None else round(median_hours / 24, 2), resolved_signals=resolved
    )


def strategy_adoption(
    session: Session, scope: Scope, kinds: Collection[GapKind] = PLAYBOOK_STANDARD_KINDS
) -> Adoption:
    """Active reps with open deals in scope, and how many have no open standard-breaking signal on them.

    ``kinds`` is the standard's detectors that are switched on; an open signal of a detector switched
    off later does not count against anyone.
    """
    kind_values = [kind.value for kind in kinds]
    # A semi-join on the reps lets the database seek each rep's open deals in the owner index.
    open_rep_deals = [
        Opportunity.owner_id.in_(select(User.id).where(User.role == Role.REP, User.is_active.is_(True))),
        Opportunity.is_closed.is_(False),
        *scope.opportunity,
    ]
    if session.get_bind().dialect.name == "postgresql":
        return _postgres_adoption(session, open_rep_deals, kind_values)
    # The deals with an open standard-breaking signal, read once (not a correlated lookup per deal).
    breaking = (
        select(GapSignal.opportunity_id)
        .where(
            GapSignal.opportunity_id.is_not(None),
            GapSignal.resolved_at.is_(None),
            GapSignal.kind.in_(kind_values),
        )
        .distinct()
        .subquery()
    )
    breaks = case((breaking.c.opportunity_id.is_not(None), 1), else_=0)
    per_rep = (
        select(
            Opportunity.owner_id,
            func.max(breaks).label("breaks"),
            func.sum(breaks).label("breaking_deals"),
            func.count().label("deals"),
        )
        .outerjoin(breaking, breaking.c.opportunity_id == Opportunity.id)
        .where(*open_rep_deals)
        .group_by(Opportunity.owner_id)
        .subquery()
    )
    active, breaking_reps, breaking_deals, deals = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(cast(per_rep.c.breaks, Integer)), 0),
            func.coalesce(func.sum(cast(per_rep.c.breaking_deals, Integer)), 0),
            func.coalesce(func.sum(cast(per_rep.c.deals, Integer)), 0),
        )
    ).one()
    return _adoption(int(active), int(breaking_reps), int(breaking_deals), int(deals))


def _postgres_adoption(
    session: Session, open_rep_deals: list[ColumnElement[bool]], kinds: list[str]
) -> Adoption:
    """Strategy adoption on PostgreSQL: open deals per rep, and per rep those with an open
    standard-breaking signal as an ``EXISTS`` semi-join.

    PostgreSQL ran the distinct-signals join in each parallel worker, hashing every open signal
    three times (1.56-1.62 s at 1,000,000 deals and 930,000 such signals); the semi-join hashes
    the open deals once (0.54-0.58 s).
    """
    breaks = exists().where(
        GapSignal.opportunity_id == Opportunity.id,
        GapSignal.resolved_at.is_(None),
        GapSignal.kind.in_(kinds),
    )
    per_rep = select(Opportunity.owner_id, func.count()).where(*open_rep_deals).group_by(Opportunity.owner_id)
    deals = {owner: int(count) for owner, count in session.execute(per_rep)}
    breaking = {owner: int(count) for owner, count in session.execute(per_rep.where(breaks))}
    return _adoption(len(deals), len(breaking), sum(breaking.values()), sum(deals.values()))


def _adoption(active: int, breaking_reps: int, breaking_deals: int, deals: int) -> Adoption:
    meeting = active - breaking_reps
    return Adoption(
        rate=None if not active else meeting / active,
        reps_meeting=meeting,
        active_reps=active,
        deal_share=None if not deals else (deals - breaking_deals) / deals,
    )


__all__ = ["PLAYBOOK_STANDARD_KINDS", "Adoption", "Agility", "agility", "strategy_adoption"]
