"""Shared set-up for governance tests: the cast of users, a priority, and initiatives at a given stage."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy.orm import Session

from bridgehead.auth.models import Role, User
from bridgehead.governance import gates, initiatives
from bridgehead.governance.models import ApprovalDecision, Initiative, InitiativeStage
from bridgehead.governance.schemas import InitiativeCreate, MilestoneCreate
from bridgehead.strategy.models import Priority, TargetMetric
from tests.factories import make_org_unit, make_user

TODAY = dt.date.today()
WINDOW_START = TODAY - dt.timedelta(days=120)
WINDOW_END = TODAY + dt.timedelta(days=60)


@dataclass
class Cast:
    """Who plays which part: the creator/sponsor, the owner, the controller, and bystanders."""

    executive: User
    sponsor: User
    owner: User
    controller: User
    other_controller: User
    manager: User
    rep: User
    planner: User
    priority: Priority


def make_priority(session: Session, **fields: object) -> Priority:
    """A company priority."""
    unit = make_org_unit(session)
    values: dict[str, object] = {
        "org_unit_id": unit.id,
        "title": "Win enterprise financial services",
        "intent_what": "More enterprise FS logos",
        "intent_why": "They buy the platform",
        "target_metric": TargetMetric.BOOKINGS_AMOUNT,
        "target_value": Decimal("5000000"),
        "target_period": "2026",
        "effective_from": TODAY - dt.timedelta(days=365),
    }
    values.update(fields)
    priority = Priority(**values)
    session.add(priority)
    session.flush()
    return priority


def make_cast(session: Session) -> Cast:
    """Every role an initiative involves."""
    return Cast(
        executive=make_user(session, role=Role.EXECUTIVE),
        sponsor=make_user(session, role=Role.EXECUTIVE),
        owner=make_user(session, role=Role.MANAGER),
        controller=make_user(session, role=Role.CONTROLLER),
        other_controller=make_user(session, role=Role.CONTROLLER),
        manager=make_user(session, role=Role.MANAGER),
        rep=make_user(session, role=Role.REP),
        planner=make_user(session, role=Role.PLANNER),
        priority=make_priority(session),
    )


def bare_initiative(session: Session, cast: Cast, **fields: object) -> Initiative:
    """An Identified initiative with only a title, owner and sponsor."""
    values: dict[str, object] = {
        "title": "Enter enterprise FS",
        "owner_id": cast.owner.id,
        "sponsor_id": cast.sponsor.id,
    }
    values.update(fields)
    return initiatives.create_initiative(
        session, actor=cast.executive, data=InitiativeCreate.model_validate(values)
    )


def full_initiative(session: Session, cast: Cast, **fields: object) -> Initiative:
    """An Identified initiative whose business case and milestone meet the Detailed gate."""
    values: dict[str, object] = {
        "priority_id": cast.priority.id,
        "controller_id": cast.controller.id,
        "value_kind": "revenue_uplift",
        "expected_value_amount": Decimal("1200000"),
        "cost_amount": Decimal("150000"),
        "business_case": "Two FS-specialist AEs and a compliance pack open the segment.",
        "start_date": WINDOW_START,
        "end_date": WINDOW_END,
    }
    values.update(fields)
    initiative = bare_initiative(session, cast, **values)
    initiatives.add_milestone(
        session,
        actor=cast.owner,
        initiative_id=initiative.id,
        data=MilestoneCreate(title="Hire two FS AEs", due_date=WINDOW_START + dt.timedelta(days=30)),
    )
    return initiative


def walk_to(session: Session, cast: Cast, initiative: Initiative, stage: InitiativeStage) -> Initiative:
    """Move a full initiative through the gates, meeting each one, until it reaches ``stage``."""
    order = [
        InitiativeStage.DETAILED,
        InitiativeStage.DECIDED,
        InitiativeStage.IMPLEMENTED,
        InitiativeStage.CLOSED,
    ]
    for target in order:
        if initiative.stage == stage:
            break
        if target == InitiativeStage.DECIDED:
            gates.decide(
                session, actor=cast.sponsor, initiative_id=initiative.id, decision=ApprovalDecision.APPROVED
            )
        if target == InitiativeStage.IMPLEMENTED:
            for milestone in initiatives.milestones_of(session, initiative_id=initiative.id):
                if milestone.done_at is None:
                    initiatives.complete_milestone(
                        session, actor=cast.owner, initiative_id=initiative.id, milestone_id=milestone.id
                    )
        if target == InitiativeStage.CLOSED:
            gates.confirm_value(
                session,
                actor=cast.controller,
                initiative_id=initiative.id,
                realised_value_amount=Decimal("900000"),
                evidence="Finance ledger FY26, bookings report",
            )
            actor = cast.controller
        else:
            actor = cast.owner
        gates.transition(session, actor=actor, initiative_id=initiative.id, to=target.value)
    assert initiative.stage == stage
    return initiative
