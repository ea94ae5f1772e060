"""The portfolio read model: initiatives by stage, the value funnel, overdue gates, motion without progress.

Every figure is one set-wise SQL query over all initiatives (or one priority's), never a loop that
queries per initiative.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import ColumnElement, and_, case, func, select, true, type_coerce
from sqlalchemy.orm import Session

from bridgehead.audit.models import AuditEntry
from bridgehead.auth.models import User
from bridgehead.common.types import MoneyAmount
from bridgehead.governance.gates import NEXT_STAGE
from bridgehead.governance.initiatives import AUDIT_TYPE, OPEN_STAGES
from bridgehead.governance.models import (
    GateTransition,
    Initiative,
    InitiativeStage,
    Milestone,
    ValueConfirmation,
)
from bridgehead.governance.schemas import Board, BoardCard, FunnelStep, MotionItem, OverdueItem

# Fewer events than this in the window is too little to call "motion".
MOTION_MIN_EVENTS = 3
_DECIDED_OR_LATER = (InitiativeStage.DECIDED, InitiativeStage.IMPLEMENTED, InitiativeStage.CLOSED)
_IMPLEMENTED_OR_LATER = (InitiativeStage.IMPLEMENTED, InitiativeStage.CLOSED)
_FORWARD_STAGES = tuple(NEXT_STAGE.values())


def _in_scope(priority_id: int | None) -> ColumnElement[bool]:
    return Initiative.priority_id == priority_id if priority_id is not None else true()


def _money_sum(condition: ColumnElement[bool]) -> ColumnElement[Decimal]:
    return type_coerce(
        func.coalesce(func.sum(case((condition, Initiative.expected_value_amount), else_=None)), 0),
        MoneyAmount(),
    )


def value_funnel(session: Session, *, priority_id: int | None = None) -> list[FunnelStep]:
    """Expected → decided → implemented → confirmed: how much promised value reached each degree.

    Cancelled initiatives are left out; "confirmed" is the controller-confirmed value of closed ones.
    """
    live = Initiative.stage != InitiativeStage.CANCELLED
    decided = Initiative.stage.in_(_DECIDED_OR_LATER)
    implemented = Initiative.stage.in_(_IMPLEMENTED_OR_LATER)
    row = session.execute(
        select(
            _money_sum(live),
            func.count().filter(live),
            _money_sum(decided),
            func.count().filter(decided),
            _money_sum(implemented),
            func.count().filter(implemented),
        ).where(_in_scope(priority_id))
    ).one()
    latest = (
        select(func.max(ValueConfirmation.id).label("id"))
        .group_by(ValueConfirmation.initiative_id)
        .subquery()
    )
    confirmed = session.execute(
        select(
            type_coerce(func.coalesce(func.sum(ValueConfirmation.realised_value_amount), 0), MoneyAmount()),
            func.count(),
        )
        .join(latest, latest.c.id == ValueConfirmation.id)
        .join(Initiative, Initiative.id == ValueConfirmation.initiative_id)
        .where(Initiative.stage == InitiativeStage.CLOSED, _in_scope(priority_id))
    ).one()
    return [
        FunnelStep(label="Expected", amount=Decimal(row[0]), count=int(row[1])),
        FunnelStep(label="Decided", amount=Decimal(row[2]), count=int(row[3])),
        FunnelStep(label="Implemented", amount=Decimal(row[4]), count=int(row[5])),
        FunnelStep(label="Confirmed", amount=Decimal(confirmed[0]), count=int(confirmed[1])),
    ]


def overdue_gates(session: Session, *, as_of: dt.date, priority_id: int | None = None) -> list[OverdueItem]:
    """Open initiatives whose next-gate date or an unfinished milestone's due date has passed."""
    open_in_scope = and_(Initiative.stage.in_(OPEN_STAGES), _in_scope(priority_id))
    items: list[OverdueItem] = []
    gate_rows = session.execute(
        select(Initiative.id, Initiative.title, Initiative.stage, Initiative.next_gate_due_date).where(
            open_in_scope, Initiative.next_gate_due_date < as_of
        )
    ).all()
    for initiative_id, title, stage, due in gate_rows:
        assert due is not None  # the query keeps only rows with a date
        items.append(
            OverdueItem(
                id=initiative_id,
                title=title,
                stage=stage,
                what=f"{NEXT_STAGE[stage].value} gate",
                due_date=due,
                days_overdue=(as_of - due).days,
            )
        )
    milestone_rows = session.execute(
        select(Initiative.id, Initiative.title, Initiative.stage, Milestone.title, Milestone.due_date)
        .join(Milestone, Milestone.initiative_id == Initiative.id)
        .where(open_in_scope, Milestone.done_at.is_(None), Milestone.due_date < as_of)
    ).all()
    for initiative_id, title, stage, milestone_title, due in milestone_rows:
        items.append(
            OverdueItem(
                id=initiative_id,
                title=title,
                stage=stage,
                what=f"milestone: {milestone_title}",
                due_date=due,
                days_overdue=(as_of - due).days,
            )
        )
    return sorted(items, key=lambda item: (-item.days_overdue, item.id))


def motion_without_progress(
    session: Session, *, as_of: dt.date, days: int, priority_id: int | None = None
) -> list[MotionItem]:
    """Open initiatives with at least ``MOTION_MIN_EVENTS`` audited changes in the last ``days`` days
    but no milestone done and no gate passed in that time."""
    since = dt.datetime.combine(as_of - dt.timedelta(days=days), dt.time.min, tzinfo=dt.UTC)
    until = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC)
    activity = session.execute(
        select(AuditEntry.object_id, func.count(), func.max(AuditEntry.occurred_at))
        .where(
            AuditEntry.object_type == AUDIT_TYPE,
            AuditEntry.occurred_at >= since,
            AuditEntry.occurred_at < until,
        )
        .group_by(AuditEntry.object_id)
        .having(func.count() >= MOTION_MIN_EVENTS)
    ).all()
    busy = {
        int(object_id): (int(count), last) for object_id, count, last in activity if str(object_id).isdigit()
    }
    if not busy:
        return []
    progressed = set(
        session.scalars(
            select(Milestone.initiative_id).where(
                Milestone.initiative_id.in_(busy), Milestone.done_at >= since, Milestone.done_at < until
            )
        )
    ) | set(
        session.scalars(
            select(GateTransition.initiative_id).where(
                GateTransition.initiative_id.in_(busy),
                GateTransition.to_stage.in_(_FORWARD_STAGES),
                GateTransition.occurred_at >= since,
                GateTransition.occurred_at < until,
            )
        )
    )
    rows = session.execute(
        select(Initiative.id, Initiative.title, Initiative.stage).where(
            Initiative.id.in_(set(busy) - progressed),
            Initiative.stage.in_(OPEN_STAGES),
            _in_scope(priority_id),
        )
    ).all()
    items = [
        MotionItem(
            id=initiative_id,
            title=title,
            stage=stage,
            events=busy[initiative_id][0],
            last_event_at=busy[initiative_id][1],
        )
        for initiative_id, title, stage in rows
    ]
    return sorted(items, key=lambda item: (-item.events, item.id))


def portfolio_board(
    session: Session, *, priority_id: int | None = None, as_of: dt.date | None = None, days: int = 30
) -> Board:
    """The whole board for all initiatives or one priority's."""
    as_of = as_of or dt.date.today()
    overdue = overdue_gates(session, as_of=as_of, priority_id=priority_id)
    motion = motion_without_progress(session, as_of=as_of, days=days, priority_id=priority_id)
    overdue_ids = {item.id for item in overdue}
    motion_ids = {item.id for item in motion}
    rows = session.execute(
        select(
            Initiative.id,
            Initiative.title,
            Initiative.stage,
            Initiative.priority_id,
            Initiative.expected_value_amount,
            User.full_name,
        )
        .join(User, User.id == Initiative.owner_id)
        .where(_in_scope(priority_id))
        .order_by(Initiative.expected_value_amount.desc().nulls_last(), Initiative.id)
    ).all()
    columns: dict[str, list[BoardCard]] = {stage.value: [] for stage in InitiativeStage}
    for initiative_id, title, stage, linked_priority, expected, owner_name in rows:
        columns[stage.value].append(
            BoardCard(
                id=initiative_id,
                title=title,
                stage=stage,
                priority_id=linked_priority,
                owner_name=owner_name,
                expected_value_amount=expected,
                overdue=initiative_id in overdue_ids,
                motion_without_progress=initiative_id in motion_ids,
            )
        )
    return Board(
        priority_id=priority_id,
        as_of=as_of,
        days=days,
        columns=columns,
        funnel=value_funnel(session, priority_id=priority_id),
        overdue=overdue,
        motion=motion,
    )
