"""Trace: pure queries from a record up to the priorities it serves, and from a priority down to what executes it.

An account or opportunity serves a priority through a segment it is a member of (stance invest or
maintain) or a pipeline definition it counts toward; a deprioritised segment links it to a priority
it works *against*. A priority is executed by the accounts of its segments and the opportunities its
pipeline definitions count; a restatement without its own definitions inherits its parent's, scoped
to the deals and activities owned inside its unit. Every figure is computed in SQL within the
viewer's visibility.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from decimal import Decimal

import numpy as np
from sqlalchemy import ColumnElement, Select, and_, case, exists, false, func, or_, select, true, type_coerce
from sqlalchemy.orm import Session

from bridgehead.auth.models import User
from bridgehead.auth.service import Visibility, visibility_for
from bridgehead.common.types import MoneyAmount
from bridgehead.crm import service as crm_service
from bridgehead.crm.models import Account, Activity, Opportunity
from bridgehead.errors import ValidationFailed
from bridgehead.strategy import backbriefs, orgtree, statements
from bridgehead.strategy import service as priorities
from bridgehead.strategy.models import (
    PipelineDefinition,
    Priority,
    PriorityStatus,
    Segment,
    SegmentMember,
    SegmentPriority,
    SegmentStance,
    TargetMetric,
)
from bridgehead.strategy.pipelines import counts_toward, counts_toward_any, is_existing_business
from bridgehead.strategy.schemas import (
    ExecutionFigures,
    PipelineDefinitionRef,
    PriorityChain,
    PriorityRead,
    PriorityTrace,
    RecordTrace,
    SegmentLink,
)

TRACE_KINDS = ("account", "opportunity", "quota", "priority")


def check_kind(kind: str) -> str:
    """A trace kind (account, opportunity, quota, priority) or ``ValidationFailed``."""
    if kind not in TRACE_KINDS:
        raise ValidationFailed(
            f"unknown trace kind; use one of {', '.join(TRACE_KINDS)}", field="kind", value=kind
        )
    return kind


# --- from a record up --------------------------------------------------------------------------


def _segments_of_account(session: Session, account_id: int | None) -> list[Segment]:
    if account_id is None:
        return []
    return list(
        session.scalars(
            select(Segment)
            .join(SegmentMember, SegmentMember.segment_id == Segment.id)
            .where(SegmentMember.account_id == account_id, Segment.is_active.is_(True))
            .order_by(Segment.name)
        )
    )


def _definitions_matching(
    session: Session, definitions: Sequence[PipelineDefinition], opportunities: Select[int]
) -> list[PipelineDefinition]:
    """The definitions at least one of ``opportunities`` counts toward, all tested in one query."""
    if not definitions:
        return []
    tests = [
        exists(
            select(Opportunity.id).where(Opportunity.id.in_(opportunities), counts_toward(definition))
        ).label(f"d{index}")
        for index, definition in enumerate(definitions)
    ]
    row = session.execute(select(*tests)).one()
    return [definition for definition, matched in zip(definitions, row, strict=True) if matched]


def _segment_priorities(session: Session, segment_ids: Iterable[int]) -> dict[int, list[int]]:
    ids = list(segment_ids)
    if not ids:
        return {}
    links: dict[int, list[int]] = {}
    for segment_id, priority_id in session.execute(
        select(SegmentPriority.segment_id, SegmentPriority.priority_id).where(
            SegmentPriority.segment_id.in_(ids)
        )
    ):
        links.setdefault(priority_id, []).append(segment_id)
    return links


def _restatement_for(session: Session, priority_id: int, owner_unit_id: int | None) -> Priority | None:
    """The most specific live restatement of ``priority_id`` whose unit holds ``owner_unit_id`` (the
    record owner's team restatement before their region's), or None."""
    if owner_unit_id is None:
        return None
    below = priorities.descendant_ids(session, priority_id)
    if not below:
        return None
    closure = orgtree.unit_closure()
    return session.scalars(
        select(Priority)
        .join(closure, closure.c.ancestor_id == Priority.org_unit_id)
        .where(
            Priority.id.in_(below),
            Priority.status != PriorityStatus.DROPPED,
            closure.c.unit_id == owner_unit_id,
        )
        .order_by(closure.c.depth, Priority.id)
        .limit(1)
    ).first()


def _chains(
    session: Session,
    priority_ids: Iterable[int],
    segments_by_priority: dict[int, list[SegmentLink]],
    definitions_by_priority: dict[int, list[PipelineDefinitionRef]],
    owner_unit_id: int | None,
) -> list[PriorityChain]:
    chains = []
    for priority_id in sorted(set(priority_ids)):
        priority = session.get(Priority, priority_id)
        if priority is None:
            continue
        # Start from what the priority means for the owner's own unit, when that unit restated it.
        start = _restatement_for(session, priority_id, owner_unit_id) or priority
        ancestors = priorities.ancestors_of(session, start)
        reads = priorities.to_read([start, *ancestors], session)
        chains.append(
            PriorityChain(
                priority=reads[0],
                ancestors=reads[1:],
                via_segments=segments_by_priority.get(priority_id, []),
                via_definitions=definitions_by_priority.get(priority_id, []),
            )
        )
    return chains


def _record_trace(
    session: Session,
    *,
    kind: str,
    record_id: int,
    name: str,
    account_id: int | None,
    owner_id: int | None,
    opportunities: Select[int] | None,
    segments: list[Segment] | None = None,
) -> RecordTrace:
    if segments is None:
        segments = _segments_of_account(session, account_id)
    links = {
        segment.id: SegmentLink(id=segment.id, name=segment.name, stance=segment.stance.value)
        for segment in segments
    }
    definitions = (
        _definitions_matching(
            session,
            list(session.scalars(select(PipelineDefinition).order_by(PipelineDefinition.id))),
            opportunities,
        )
        if opportunities is not None
        else []
    )
    definition_refs = [
        PipelineDefinitionRef(id=definition.id, name=definition.name, priority_id=definition.priority_id)
        for definition in definitions
    ]
    serving_segments: dict[int, list[SegmentLink]] = {}
    against_segments: dict[int, list[SegmentLink]] = {}
    for priority_id, segment_ids in _segment_priorities(session, links).items():
        for segment_id in segment_ids:
            link = links[segment_id]
            target = against_segments if link.stance == SegmentStance.DEPRIORITISE.value else serving_segments
            target.setdefault(priority_id, []).append(link)
    by_definition: dict[int, list[PipelineDefinitionRef]] = {}
    for ref in definition_refs:
        by_definition.setdefault(ref.priority_id, []).append(ref)
    owner_unit_id = session.scalar(select(User.org_unit_id).where(User.id == owner_id)) if owner_id else None
    serves = _chains(
        session, [*serving_segments, *by_definition], serving_segments, by_definition, owner_unit_id
    )
    against = _chains(session, against_segments, against_segments, {}, owner_unit_id)
    deprioritised = any(link.stance == SegmentStance.DEPRIORITISE.value for link in links.values())
    return RecordTrace(
        kind=kind,
        id=record_id,
        name=name,
        account_id=account_id,
        segments=list(links.values()),
        definitions=definition_refs,
        serves=serves,
        deprioritised_by=against,
        in_deprioritised_segment=deprioritised,
        serves_no_priority=not serves,
        summary=_summary(serves, against, deprioritised),
    )


def _titles(chains: list[PriorityChain]) -> str:
    return "; ".join(
        f"“{chain.priority.title}”"
        + (f" (restating “{chain.ancestors[-1].title}”)" if chain.ancestors else "")
        for chain in chains
    )


def _summary(serves: list[PriorityChain], against: list[PriorityChain], deprioritised: bool) -> str:
    parts = [f"Serves {_titles(serves)}." if serves else "Serves no priority."]
    if deprioritised:
        if against:
            parts.append(f"In a deprioritised segment: effort here works against {_titles(against)}.")
        else:
            parts.append("In a deprioritised segment.")
    return " ".join(parts)


def trace_account(session: Session, *, viewer: User, account_id: int) -> RecordTrace:
    """The chain from an account up to the priorities it serves (``NotFound`` outside visibility)."""
    account = crm_service.get_account(session, viewer=viewer, account_id=account_id)
    visibility = visibility_for(viewer)
    opportunities = select(Opportunity.id).where(
        Opportunity.account_id == account.id, visibility.owned_by_visible(Opportunity.owner_id)
    )
    return _record_trace(
        session,
        kind="account",
        record_id=account.id,
        name=account.name,
        account_id=account.id,
        owner_id=account.owner_id,
        opportunities=opportunities,
    )


def trace_opportunity(session: Session, *, viewer: User, opportunity_id: int) -> RecordTrace:
    """The chain from an opportunity up to the priorities it serves (``NotFound`` outside visibility)."""
    opportunity = crm_service.get_opportunity(session, viewer=viewer, opportunity_id=opportunity_id)
    return _record_trace(
        session,
        kind="opportunity",
        record_id=opportunity.id,
        name=opportunity.name,
        account_id=opportunity.account_id,
        owner_id=opportunity.owner_id,
        opportunities=select(Opportunity.id).where(Opportunity.id == opportunity.id),
    )


def trace_quota(session: Session, *, viewer: User, quota_id: int) -> RecordTrace:
    """The chain from a quota up to the priorities its segment serves (or works against, when the
    segment is deprioritised: a quota there contradicts the strategy). ``NotFound`` outside visibility."""
    from bridgehead.planning.service import get_quota

    quota = get_quota(session, viewer=viewer, quota_id=quota_id)
    segment = session.get(Segment, quota.segment_id) if quota.segment_id is not None else None
    owner_name = session.scalar(select(User.full_name).where(User.id == quota.owner_id)) or "(unknown)"
    return _record_trace(
        session,
        kind="quota",
        record_id=quota.id,
        name=f"{owner_name}, {quota.period} {quota.basis.value.replace('_', ' ')}",
        account_id=None,
        owner_id=quota.owner_id,
        opportunities=None,
        segments=[segment] if segment is not None and segment.is_active else [],
    )


# --- from a priority down ----------------------------------------------------------------------


def _linked_segments(session: Session, priority_id: int) -> list[Segment]:
    return list(
        session.scalars(
            select(Segment)
            .join(SegmentPriority, SegmentPriority.segment_id == Segment.id)
            .where(SegmentPriority.priority_id == priority_id, Segment.is_active.is_(True))
            .order_by(Segment.name)
        )
    )


def _definitions_of(session: Session, priority_id: int) -> list[PipelineDefinition]:
    return list(
        session.scalars(
            select(PipelineDefinition)
            .where(PipelineDefinition.priority_id == priority_id)
            .order_by(PipelineDefinition.id)
        )
    )


def _visible_account(visibility: Visibility) -> ColumnElement[bool]:
    if visibility.sees_everything:
        return true()
    deal_at_account = exists().where(
        Opportunity.account_id == Account.id, visibility.owned_by_visible(Opportunity.owner_id)
    )
    return or_(visibility.owned_by_visible(Account.owner_id), deal_at_account)


def _start(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def _members(segment_ids: list[int]) -> Select[int]:
    return select(SegmentMember.account_id).where(SegmentMember.segment_id.in_(segment_ids))


def _money(value: object) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(0)


def execution_figures(
    session: Session,
    *,
    viewer: User,
    priority: Priority,
    segments: Sequence[Segment],
    definitions: Sequence[PipelineDefinition],
    inherited_from: int | None,
) -> ExecutionFigures:
    """Accounts, open pipeline, won, win rate, pipeline created and activities that execute ``priority``
    in its target period, as ``viewer`` may see them; scoped to the priority's unit below the company."""
    period = statements.parse_target_period(priority.target_period)
    start, end = _start(period.start), _start(period.end)
    visibility = visibility_for(viewer)
    unit = orgtree.get_unit(session, priority.org_unit_id)
    scoped = unit.parent_id is not None
    unit_people = select(User.id).where(User.org_unit_id.in_(orgtree.subtree_ids(unit.id)))

    serving = [segment.id for segment in segments if segment.stance != SegmentStance.DEPRIORITISE]
    against = [segment.id for segment in segments if segment.stance == SegmentStance.DEPRIORITISE]
    if definitions:
        counting = counts_toward_any(definitions)
    elif serving:
        counting = Opportunity.account_id.in_(_members(serving))
    else:
        counting = false()
    deal_scope = [visibility.owned_by_visible(Opportunity.owner_id)]
    if scoped:
        deal_scope.append(Opportunity.owner_id.in_(unit_people))

    in_period = and_(Opportunity.close_date >= period.start, Opportunity.close_date < period.end)
    is_open = Opportunity.is_closed.is_(False)
    won = and_(Opportunity.is_won.is_(True), in_period)
    lost = and_(Opportunity.is_closed.is_(True), Opportunity.is_won.is_(False), in_period)
    created = and_(Opportunity.created_at >= start, Opportunity.created_at < end)

    def money_sum(condition: ColumnElement[bool]) -> ColumnElement[Decimal]:
        return type_coerce(func.sum(case((condition, Opportunity.amount), else_=None)), MoneyAmount())

    def count(condition: ColumnElement[bool]) -> ColumnElement[int]:
        return func.sum(case((condition, 1), else_=0))

    figures = session.execute(
        select(
            count(is_open),
            money_sum(is_open),
            count(won),
            money_sum(won),
            count(lost),
            money_sum(created),
            func.count(
                func.distinct(case((and_(won, ~is_existing_business()), Opportunity.account_id), else_=None))
            ),
        ).where(counting, *deal_scope)
    ).one()
    open_count, open_amount, won_count, won_amount, lost_count, created_amount, new_logos = figures

    account_conditions: list[ColumnElement[bool]] = [_visible_account(visibility)]
    if serving:
        account_conditions.append(Account.id.in_(_members(serving)))
    else:
        account_conditions.append(Account.id.in_(select(Opportunity.account_id).where(counting, *deal_scope)))
    if scoped:
        account_conditions.append(
            or_(
                Account.owner_id.in_(unit_people),
                Account.id.in_(select(Opportunity.account_id).where(Opportunity.owner_id.in_(unit_people))),
            )
        )
    accounts = session.scalar(select(func.count()).select_from(Account).where(*account_conditions)) or 0

    counting_deals = select(Opportunity.id).where(counting, *deal_scope)
    activity_link: ColumnElement[bool] = Activity.opportunity_id.in_(counting_deals)
    if serving:
        activity_link = or_(
            activity_link, and_(Activity.opportunity_id.is_(None), Activity.account_id.in_(_members(serving)))
        )
    activity_conditions = [
        activity_link,
        Activity.occurred_at >= start,
        Activity.occurred_at < end,
        visibility.owned_by_visible(Activity.owner_id),
    ]
    if scoped:
        activity_conditions.append(Activity.owner_id.in_(unit_people))
    activities = session.scalar(select(func.count()).select_from(Activity).where(*activity_conditions)) or 0

    drift_count, drift_amount = 0, Decimal(0)
    if against:
        drift = session.execute(
            select(count(true()), money_sum(true())).where(
                Opportunity.account_id.in_(_members(against)), is_open, *deal_scope
            )
        ).one()
        drift_count, drift_amount = int(drift[0] or 0), _money(drift[1])

    won_total, lost_total = int(won_count or 0), int(lost_count or 0)
    win_rate = (
        (Decimal(won_total) * 100 / Decimal(won_total + lost_total)).quantize(Decimal("0.1"))
        if won_total + lost_total
        else None
    )
    actual = _actual(
        session,
        metric=priority.target_metric,
        won_amount=_money(won_amount),
        won_count=won_total,
        win_rate=win_rate,
        created_amount=_money(created_amount),
        new_logos=int(new_logos or 0),
        cycle_deals=select(Opportunity.created_at, Opportunity.close_date).where(counting, won, *deal_scope),
        all_created=select(money_sum(created)).where(*deal_scope),
    )
    return ExecutionFigures(
        period_start=period.start,
        period_end=period.end,
        scoped_to_unit=scoped,
        inherited_from_priority_id=inherited_from,
        accounts=int(accounts),
        open_count=int(open_count or 0),
        open_amount=_money(open_amount),
        won_count=won_total,
        won_amount=_money(won_amount),
        lost_count=lost_total,
        win_rate=win_rate,
        pipeline_created_amount=_money(created_amount),
        activities=int(activities),
        actual=actual,
        actual_label=statements.metric_label(priority.target_metric.value),
        deprioritised_open_count=drift_count,
        deprioritised_open_amount=drift_amount,
    )


def _actual(
    session: Session,
    *,
    metric: TargetMetric,
    won_amount: Decimal,
    won_count: int,
    win_rate: Decimal | None,
    created_amount: Decimal,
    new_logos: int,
    cycle_deals: Select[dt.datetime, dt.date | None],
    all_created: Select[Decimal],
) -> Decimal | None:
    """The priority's target metric measured over what executes it (None when there is nothing to measure)."""
    if metric == TargetMetric.BOOKINGS_AMOUNT:
        return won_amount
    if metric == TargetMetric.PIPELINE_CREATED_AMOUNT:
        return created_amount
    if metric == TargetMetric.WIN_RATE:
        return win_rate
    if metric == TargetMetric.NEW_LOGOS:
        return Decimal(new_logos)
    if metric == TargetMetric.AVERAGE_DEAL_SIZE:
        return (won_amount / won_count).quantize(Decimal("0.01")) if won_count else None
    if metric == TargetMetric.SALES_CYCLE_DAYS:
        rows = session.execute(cycle_deals).all()
        if not rows:
            return None
        # Read in bulk, reduced by numpy: the median cycle (DESIGN.md section 8) of the won deals.
        created = np.array([row[0].date() for row in rows], dtype="datetime64[D]")
        closed = np.array([row[1] for row in rows], dtype="datetime64[D]")
        return Decimal(str(float(np.median((closed - created).astype(np.int64))))).quantize(Decimal("0.1"))
    total = _money(session.scalar(all_created))
    return (created_amount * 100 / total).quantize(Decimal("0.1")) if total else None


def trace_priority(session: Session, *, viewer: User, priority_id: int) -> PriorityTrace:
    """For a priority: its chain, restatements, segments, definitions, execution figures and back-briefs."""
    priority = priorities.get_priority(session, priority_id)
    ancestors = priorities.ancestors_of(session, priority)
    segments = _linked_segments(session, priority.id)
    definitions = _definitions_of(session, priority.id)
    inherited_from = None
    if not segments and not definitions:
        # A restatement usually names no segments of its own: it executes its parent's, in its unit.
        for ancestor in ancestors:
            segments = _linked_segments(session, ancestor.id)
            definitions = _definitions_of(session, ancestor.id)
            if segments or definitions:
                inherited_from = ancestor.id
                break
    execution = execution_figures(
        session,
        viewer=viewer,
        priority=priority,
        segments=segments,
        definitions=definitions,
        inherited_from=inherited_from,
    )
    visibility = visibility_for(viewer)
    segment_links = _segment_links(session, segments, visibility)
    reads = priorities.to_read([priority, *ancestors], session)
    restatements = priorities.to_read(priorities.restatements_of(session, priority.id), session)
    counts = backbriefs.status_counts(session)
    for read in [*reads, *restatements]:
        read.back_briefs = counts.get(read.id, read.back_briefs)
    slots = backbriefs.back_brief_slots(session, priority_id=priority.id)
    return PriorityTrace(
        priority=reads[0],
        ancestors=reads[1:],
        restatements=restatements,
        segments=segment_links,
        definitions=[
            PipelineDefinitionRef(id=definition.id, name=definition.name, priority_id=definition.priority_id)
            for definition in definitions
        ],
        execution=execution,
        back_briefs=slots,
        counts=backbriefs.count_slots(slots),
    )


def _segment_links(
    session: Session, segments: Sequence[Segment], visibility: Visibility
) -> list[SegmentLink]:
    """The segments with how many visible member accounts each has (one grouped query)."""
    if not segments:
        return []
    counted = dict(
        session.execute(
            select(SegmentMember.segment_id, func.count())
            .join(Account, Account.id == SegmentMember.account_id)
            .where(
                SegmentMember.segment_id.in_([segment.id for segment in segments]),
                _visible_account(visibility),
            )
            .group_by(SegmentMember.segment_id)
        ).all()
    )
    return [
        SegmentLink(
            id=segment.id,
            name=segment.name,
            stance=segment.stance.value,
            accounts=int(counted.get(segment.id, 0)),
        )
        for segment in segments
    ]


def priority_chain_reads(session: Session, priority: Priority) -> list[PriorityRead]:
    """The priority and its ancestors as read models, the priority first."""
    return priorities.to_read([priority, *priorities.ancestors_of(session, priority)], session)
