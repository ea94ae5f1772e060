"""What the plan says for a priority at an org unit: which deals count, what is off-strategy, what is expected.

A priority restated for a region or team is the plan there: the board measures a unit against the
most specific restatement at or above it (the team's before the region's before the company's).
The priority's deals are those its pipeline definitions count (the restatement's own, else the
nearest priority's above it) and those at accounts of the segments linked to it with an invest or
maintain stance; deals at its deprioritised segments are off-strategy. Plan figures come from the priority's own target when
its target metric says them, else from the stored ``priority_plan`` row, else from the default.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, false, or_, select
from sqlalchemy.orm import Session

from bridgehead.audit.service import record_change
from bridgehead.auth.models import Role, User
from bridgehead.auth.service import require_role
from bridgehead.common.types import Period
from bridgehead.crm.models import Opportunity
from bridgehead.errors import NotFound
from bridgehead.intelligence.board.compute import Expectations
from bridgehead.intelligence.board.models import PriorityPlan
from bridgehead.intelligence.board.schemas import PlanRead, PlanWrite
from bridgehead.strategy.models import (
    Priority,
    PriorityStatus,
    Segment,
    SegmentMember,
    SegmentPriority,
    SegmentStance,
    TargetMetric,
)
from bridgehead.strategy.pipelines import counts_toward_any, list_definitions
from bridgehead.strategy.service import ancestors_of
from bridgehead.strategy.statements import parse_target_period
from bridgehead.strategy.trace import _restatement_for as restatement_for

# Share of new pipeline and activities a priority should get when nothing says otherwise.
DEFAULT_PLANNED_SHARE_PERCENT = Decimal(50)
PLAN_EDITORS = (Role.ADMIN, Role.EXECUTIVE, Role.PLANNER)


@dataclass(frozen=True)
class PlanContext:
    """A priority as planned at one unit: the conditions over deals and the plan's figures."""

    priority: Priority
    plan: Priority
    chain: list[Priority]
    counts_toward: ColumnElement[bool]
    off_strategy: ColumnElement[bool]
    deprioritised: list[str]
    planned_share_percent: Decimal
    planned_share_source: str
    assumed_win_rate_percent: Decimal | None
    assumed_cycle_days: int | None
    unit_id: int

    @property
    def planned_share(self) -> float:
        """The planned share as a fraction."""
        return float(self.planned_share_percent) / 100

    @property
    def chain_ids(self) -> list[int]:
        """Ids of the plan priority and every priority above it."""
        return [item.id for item in self.chain]


def active_priorities(session: Session) -> list[Priority]:
    """Active top-level priorities: the rows of the board."""
    statement = select(Priority).where(Priority.parent_id.is_(None), Priority.status == PriorityStatus.ACTIVE)
    return list(session.scalars(statement.order_by(Priority.id)))


def get_priority(session: Session, priority_id: int) -> Priority:
    """A priority that is not dropped, or ``NotFound`` naming ``priority_id``."""
    priority = session.get(Priority, priority_id)
    if priority is None or priority.status == PriorityStatus.DROPPED:
        raise NotFound("no such priority", field="priority_id", value=priority_id)
    return priority


def _stored(session: Session, chain_ids: list[int]) -> dict[int, PriorityPlan]:
    rows = session.scalars(select(PriorityPlan).where(PriorityPlan.priority_id.in_(chain_ids)))
    return {row.priority_id: row for row in rows}


def _first(chain: list[Priority], stored: dict[int, PriorityPlan], attribute: str) -> Any:
    for item in chain:
        row = stored.get(item.id)
        if row is not None and getattr(row, attribute) is not None:
            return getattr(row, attribute)
    return None


def _members(segment_ids: list[int]) -> Any:
    return select(SegmentMember.account_id).where(SegmentMember.segment_id.in_(segment_ids))


def plan_for(session: Session, priority: Priority, unit_id: int) -> PlanContext:
    """The plan of ``priority`` that holds at ``unit_id``."""
    plan = restatement_for(session, priority.id, unit_id) or priority
    chain = [plan, *ancestors_of(session, plan)]
    definitions = []
    for item in chain:
        definitions = list_definitions(session, priority_id=item.id)
        if definitions:
            break
    linked = session.execute(
        select(Segment.id, Segment.name, Segment.stance)
        .join(SegmentPriority, SegmentPriority.segment_id == Segment.id)
        .where(SegmentPriority.priority_id.in_([item.id for item in chain]), Segment.is_active.is_(True))
        .distinct()
        .order_by(Segment.name)
    ).all()
    segments = [row for row in linked if row[2] == SegmentStance.DEPRIORITISE]
    served = [row[0] for row in linked if row[2] != SegmentStance.DEPRIORITISE]
    counts_toward: ColumnElement[bool] = counts_toward_any(definitions)
    if served:
        # Effort at the accounts of the segments the priority invests in (or maintains) goes where
        # the plan says as well, whether or not the deal is new business.
        counts_toward = or_(counts_toward, Opportunity.account_id.in_(_members(served)))
    off_strategy: ColumnElement[bool] = (
        Opportunity.account_id.in_(_members([row[0] for row in segments])) if segments else false()
    )
    stored = _stored(session, [item.id for item in chain])
    if plan.target_metric == TargetMetric.SHARE_OF_PIPELINE:
        share, source = plan.target_value, f"target of “{plan.title}”"
    elif (stored_share := _first(chain, stored, "planned_share_percent")) is not None:
        share, source = stored_share, "stored plan figure"
    else:
        share, source = DEFAULT_PLANNED_SHARE_PERCENT, "default (no target or stored figure)"
    return PlanContext(
        priority=priority,
        plan=plan,
        chain=chain,
        counts_toward=counts_toward,
        off_strategy=off_strategy,
        deprioritised=[row[1] for row in segments],
        planned_share_percent=Decimal(share),
        planned_share_source=source,
        assumed_win_rate_percent=_first(chain, stored, "assumed_win_rate_percent"),
        assumed_cycle_days=_first(chain, stored, "assumed_cycle_days"),
        unit_id=unit_id,
    )


def _overlap_days(first: Period, second: Period) -> int:
    return max(0, (min(first.end, second.end) - max(first.start, second.start)).days)


def expectations(context: PlanContext, period: Period) -> Expectations:
    """What the plan expects in ``period``: win rate and cycle from a target anywhere up the chain,
    else the stored assumption; won value only from a bookings target stated for this very unit,
    pro-rated to the days of the period inside the target period."""
    win_rate = cycle = None
    for item in context.chain:
        if win_rate is None and item.target_metric == TargetMetric.WIN_RATE:
            win_rate = float(item.target_value) / 100
        if cycle is None and item.target_metric == TargetMetric.SALES_CYCLE_DAYS:
            cycle = float(item.target_value)
    if win_rate is None and context.assumed_win_rate_percent is not None:
        win_rate = float(context.assumed_win_rate_percent) / 100
    if cycle is None and context.assumed_cycle_days is not None:
        cycle = float(context.assumed_cycle_days)
    won_cents = None
    plan = context.plan
    if plan.target_metric == TargetMetric.BOOKINGS_AMOUNT and plan.org_unit_id == context.unit_id:
        target_period = parse_target_period(plan.target_period)
        overlap = _overlap_days(period, target_period)
        if overlap:
            length = (target_period.end - target_period.start).days
            won_cents = float(plan.target_value) * 100 * overlap / length
    return Expectations(win_rate=win_rate, cycle_days=cycle, won_cents=won_cents)


def plan_read(session: Session, priority_id: int) -> PlanRead:
    """The plan figures of a priority as the board uses them at the priority's own unit."""
    priority = get_priority(session, priority_id)
    context = plan_for(session, priority, priority.org_unit_id)
    return PlanRead(
        priority_id=priority.id,
        planned_share_percent=context.planned_share_percent,
        planned_share_source=context.planned_share_source,
        assumed_win_rate_percent=context.assumed_win_rate_percent,
        assumed_cycle_days=context.assumed_cycle_days,
    )


def _state(row: PriorityPlan | None) -> dict[str, Any]:
    if row is None:
        return {}
    return {
        "planned_share_percent": row.planned_share_percent,
        "assumed_win_rate_percent": row.assumed_win_rate_percent,
        "assumed_cycle_days": row.assumed_cycle_days,
    }


def set_plan(session: Session, *, actor: User, priority_id: int, data: PlanWrite) -> PlanRead:
    """Store the board's plan figures for a priority (admins, executives, planners); audited."""
    require_role(actor, *PLAN_EDITORS)
    priority = get_priority(session, priority_id)
    row = session.get(PriorityPlan, priority.id)
    before = _state(row)
    if row is None:
        row = PriorityPlan(priority_id=priority.id)
        session.add(row)
    row.planned_share_percent = data.planned_share_percent
    row.assumed_win_rate_percent = data.assumed_win_rate_percent
    row.assumed_cycle_days = data.assumed_cycle_days
    row.updated_by_id = actor.id
    row.updated_at = dt.datetime.now(dt.UTC)
    session.flush()
    record_change(
        session,
        actor_id=actor.id,
        action="update" if before else "create",
        object_type="priority_plan",
        object_id=priority.id,
        before=before or None,
        after=_state(row),
    )
    return plan_read(session, priority.id)
