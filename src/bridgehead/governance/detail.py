"""The initiative read model: everything its page and ``GET /initiatives/{id}`` show, in one place."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridgehead.auth.models import User
from bridgehead.governance.gates import NEXT_STAGE, missing_for
from bridgehead.governance.initiatives import get_initiative, kpis_of, milestones_of
from bridgehead.governance.models import Approval, GateTransition, ValueConfirmation
from bridgehead.governance.schemas import (
    ApprovalRead,
    GateCheck,
    GateTransitionRead,
    InitiativeDetail,
    InitiativeRead,
    KpiRead,
    MilestoneRead,
    ValueConfirmationRead,
)


def initiative_detail(session: Session, *, initiative_id: int) -> InitiativeDetail:
    """An initiative with its plan, approvals, gate history, value confirmations and what the next gate lacks."""
    initiative = get_initiative(session, initiative_id=initiative_id)
    next_stage = NEXT_STAGE.get(initiative.stage)
    approvals = session.scalars(
        select(Approval)
        .where(Approval.initiative_id == initiative.id)
        .order_by(Approval.decided_at, Approval.id)
    ).all()
    history = session.scalars(
        select(GateTransition)
        .where(GateTransition.initiative_id == initiative.id)
        .order_by(GateTransition.occurred_at, GateTransition.id)
    ).all()
    confirmations = session.scalars(
        select(ValueConfirmation)
        .where(ValueConfirmation.initiative_id == initiative.id)
        .order_by(ValueConfirmation.confirmed_at, ValueConfirmation.id)
    ).all()
    return InitiativeDetail(
        **InitiativeRead.model_validate(initiative).model_dump(),
        milestones=[
            MilestoneRead.model_validate(row) for row in milestones_of(session, initiative_id=initiative.id)
        ],
        kpis=[KpiRead.model_validate(row) for row in kpis_of(session, initiative_id=initiative.id)],
        approvals=[ApprovalRead.model_validate(row) for row in approvals],
        gate_history=[GateTransitionRead.model_validate(row) for row in history],
        confirmations=[ValueConfirmationRead.model_validate(row) for row in confirmations],
        next_gate=GateCheck(
            stage=initiative.stage,
            next_stage=next_stage,
            missing=missing_for(session, initiative=initiative, target=next_stage) if next_stage else [],
        ),
    )


def user_names(session: Session, user_ids: Iterable[int | None]) -> dict[int, str]:
    """Full names of the given users, by id, in one query."""
    wanted = {user_id for user_id in user_ids if user_id is not None}
    if not wanted:
        return {}
    rows = session.execute(select(User.id, User.full_name).where(User.id.in_(wanted))).all()
    names: dict[int, str] = {}
    for user_id, full_name in rows:
        names[user_id] = full_name
    return names
