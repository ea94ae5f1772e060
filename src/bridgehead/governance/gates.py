"""The Degree-of-Implementation state machine: gates, their prerequisites, approvals, value confirmation.

Stages move forward one gate at a time (identified → detailed → decided → implemented → closed);
any open stage may be cancelled with a reason. No call moves an initiative without the checks here:

- Detailed needs a linked priority, a controller, a business case (value kind, expected value above
  zero, a summary, a start and end date) and at least one milestone;
- Decided needs the sponsor's approval (the sponsor's latest decision on it is an approval);
- Implemented needs every milestone done;
- Closed needs the controller's confirmation of realised value, and only a controller may close.

A cancelled initiative comes back only through ``reopen``, which needs the sponsor's fresh approval
given after the cancellation; it returns to the stage it was cancelled from.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bridgehead.audit.service import snapshot
from bridgehead.auth.models import Role, User
from bridgehead.common.types import utcnow
from bridgehead.errors import Conflict, PermissionDenied, ValidationFailed
from bridgehead.governance.initiatives import (
    AUDIT_FIELDS,
    OPEN_STAGES,
    audit_initiative,
    check_amount,
    check_text,
    get_initiative,
)
from bridgehead.governance.models import (
    Approval,
    ApprovalDecision,
    ApprovalGate,
    GateTransition,
    Initiative,
    InitiativeStage,
    Milestone,
    ValueConfirmation,
)
from bridgehead.governance.value import measure_value

NEXT_STAGE: dict[InitiativeStage, InitiativeStage] = {
    InitiativeStage.IDENTIFIED: InitiativeStage.DETAILED,
    InitiativeStage.DETAILED: InitiativeStage.DECIDED,
    InitiativeStage.DECIDED: InitiativeStage.IMPLEMENTED,
    InitiativeStage.IMPLEMENTED: InitiativeStage.CLOSED,
}
# Besides the sponsor, whose decision opens the gate, these roles may record an opinion.
ADVISORY_APPROVER_ROLES = frozenset({Role.EXECUTIVE, Role.ADMIN, Role.CONTROLLER})
CANCELLER_ROLES = frozenset({Role.EXECUTIVE, Role.ADMIN})
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def parse_stage(value: str) -> InitiativeStage:
    """A stage name, or ``ValidationFailed`` listing the stages that exist."""
    try:
        return InitiativeStage(value.strip().lower())
    except ValueError:
        valid = ", ".join(stage.value for stage in InitiativeStage)
        raise ValidationFailed(f"no such stage; use one of {valid}", field="to", value=value) from None


# --- prerequisites -----------------------------------------------------------------------------


def sponsor_decision(session: Session, *, initiative: Initiative, gate: ApprovalGate) -> Approval | None:
    """The sponsor's latest decision on ``gate`` that still counts.

    For the Decided gate, decisions before the last reopening no longer count; for reopening, only
    decisions after the cancellation do.
    """
    since = initiative.cancelled_at if gate == ApprovalGate.REOPEN else initiative.reopened_at
    statement = select(Approval).where(
        Approval.initiative_id == initiative.id,
        Approval.gate == gate,
        Approval.approver_id == initiative.sponsor_id,
        Approval.as_sponsor.is_(True),
    )
    if since is not None:
        statement = statement.where(Approval.decided_at > since)
    return session.scalars(
        statement.order_by(Approval.decided_at.desc(), Approval.id.desc()).limit(1)
    ).first()


def _sponsor_approved(session: Session, initiative: Initiative, gate: ApprovalGate) -> bool:
    decision = sponsor_decision(session, initiative=initiative, gate=gate)
    return decision is not None and decision.decision == ApprovalDecision.APPROVED


def current_confirmation(session: Session, *, initiative: Initiative) -> ValueConfirmation | None:
    """The latest value confirmation (made since the last reopening), if any."""
    statement = select(ValueConfirmation).where(ValueConfirmation.initiative_id == initiative.id)
    if initiative.reopened_at is not None:
        statement = statement.where(ValueConfirmation.confirmed_at > initiative.reopened_at)
    return session.scalars(
        statement.order_by(ValueConfirmation.confirmed_at.desc(), ValueConfirmation.id.desc()).limit(1)
    ).first()


def missing_for(session: Session, *, initiative: Initiative, target: InitiativeStage) -> list[str]:
    """What ``initiative`` still lacks to pass into ``target`` (empty when the gate is met)."""
    missing: list[str] = []
    if target == InitiativeStage.DETAILED:
        if initiative.priority_id is None:
            missing.append("a linked priority")
        if initiative.controller_id is None:
            missing.append("a controller")
        if initiative.value_kind is None:
            missing.append("a value kind (revenue uplift or cost saving)")
        if not initiative.expected_value_amount:
            missing.append("an expected value above zero")
        if not initiative.business_case.strip():
            missing.append("a business-case summary")
        if initiative.start_date is None or initiative.end_date is None:
            missing.append("a start and an end date")
        milestones = session.scalar(
            select(func.count()).select_from(Milestone).where(Milestone.initiative_id == initiative.id)
        )
        if not milestones:
            missing.append("at least one milestone")
    elif target == InitiativeStage.DECIDED:
        if not _sponsor_approved(session, initiative, ApprovalGate.DECIDED):
            missing.append("the sponsor's approval")
    elif target == InitiativeStage.IMPLEMENTED:
        open_titles = session.scalars(
            select(Milestone.title)
            .where(Milestone.initiative_id == initiative.id, Milestone.done_at.is_(None))
            .order_by(Milestone.due_date, Milestone.id)
        ).all()
        if open_titles:
            missing.append(f"every milestone done ({len(open_titles)} open: {', '.join(open_titles)})")
    elif target == InitiativeStage.CLOSED and current_confirmation(session, initiative=initiative) is None:
        missing.append("the controller's confirmation of realised value")
    return missing


# --- rights ------------------------------------------------------------------------------------


def may_advance(user: User, initiative: Initiative, target: InitiativeStage) -> bool:
    """Only a controller (the initiative's own, once one is named) closes; the owner, sponsor or an admin moves the rest."""
    if target == InitiativeStage.CLOSED:
        return user.role == Role.CONTROLLER and initiative.controller_id in (None, user.id)
    return user.id in (initiative.owner_id, initiative.sponsor_id) or user.role == Role.ADMIN


def may_cancel(user: User, initiative: Initiative) -> bool:
    """The owner, the sponsor, executives and admins may cancel."""
    return user.id in (initiative.owner_id, initiative.sponsor_id) or user.role in CANCELLER_ROLES


def may_reopen(user: User, initiative: Initiative) -> bool:
    """The owner, the sponsor or an admin may ask to reopen (the sponsor's approval is still needed)."""
    return user.id in (initiative.owner_id, initiative.sponsor_id) or user.role == Role.ADMIN


def may_decide(user: User, initiative: Initiative) -> bool:
    """The sponsor decides; executives, admins and controllers may record an advisory opinion."""
    return user.id == initiative.sponsor_id or user.role in ADVISORY_APPROVER_ROLES


def may_confirm_value(user: User, initiative: Initiative) -> bool:
    """Only a controller, and the initiative's own once one is named."""
    return user.role == Role.CONTROLLER and initiative.controller_id in (None, user.id)


def pending_gate(initiative: Initiative) -> ApprovalGate | None:
    """What an approval would decide now: the Decided gate while Detailed, reopening while Cancelled."""
    if initiative.stage == InitiativeStage.DETAILED:
        return ApprovalGate.DECIDED
    if initiative.stage == InitiativeStage.CANCELLED:
        return ApprovalGate.REOPEN
    return None


# --- moves -------------------------------------------------------------------------------------


def _move(
    session: Session, *, actor: User, initiative: Initiative, to: InitiativeStage, note: str, action: str
) -> None:
    before = snapshot(initiative, AUDIT_FIELDS)
    session.add(
        GateTransition(
            initiative_id=initiative.id,
            from_stage=initiative.stage,
            to_stage=to,
            actor_id=actor.id,
            note=note,
        )
    )
    initiative.stage = to
    initiative.stage_changed_at = utcnow()
    # The due date belonged to the gate just passed; the owner sets the next one.
    initiative.next_gate_due_date = None
    session.flush()
    audit_initiative(
        session,
        actor=actor,
        initiative_id=initiative.id,
        action=action,
        before=before,
        after=snapshot(initiative, AUDIT_FIELDS),
    )


def transition(session: Session, *, actor: User, initiative_id: int, to: str, reason: str = "") -> Initiative:
    """Move to stage ``to``: the next gate once its prerequisites hold, or cancelled with a reason.

    Unknown stages are ``ValidationFailed``; skipping, going back or moving a closed or cancelled
    initiative is ``Conflict``; a gate not met is ``Conflict`` naming everything missing; a role that
    may not make the move is ``PermissionDenied``.
    """
    target = parse_stage(to)
    if target == InitiativeStage.CANCELLED:
        return cancel(session, actor=actor, initiative_id=initiative_id, reason=reason)
    initiative = get_initiative(session, initiative_id=initiative_id)
    if initiative.stage == InitiativeStage.CANCELLED:
        raise Conflict(
            "the initiative is cancelled; reopen it (with the sponsor's approval) first", field="to", value=to
        )
    if initiative.stage == InitiativeStage.CLOSED:
        raise Conflict("the initiative is closed; it moves no further", field="to", value=to)
    expected = NEXT_STAGE[initiative.stage]
    if target != expected:
        raise Conflict(
            f"cannot go from {initiative.stage.value} to {target.value}: stages move forward one gate at a time, "
            f"and the next gate is {expected.value}",
            field="to",
            value=to,
            next_stage=expected.value,
        )
    if not may_advance(actor, initiative, target):
        who = (
            "the initiative's controller"
            if target == InitiativeStage.CLOSED
            else "the owner, the sponsor or an admin"
        )
        raise PermissionDenied(f"only {who} may move it to {target.value}", role=actor.role.value)
    missing = missing_for(session, initiative=initiative, target=target)
    if missing:
        raise Conflict(
            f"the {target.value} gate is not met; missing: " + "; ".join(missing),
            field="to",
            value=to,
            missing=missing,
        )
    _move(
        session,
        actor=actor,
        initiative=initiative,
        to=target,
        note=check_text(reason, field="reason"),
        action="transition",
    )
    return initiative


def advance(session: Session, *, actor: User, initiative_id: int, note: str = "") -> Initiative:
    """Pass the next gate (whatever it is), under the same checks as ``transition``."""
    initiative = get_initiative(session, initiative_id=initiative_id)
    if initiative.stage not in NEXT_STAGE:
        raise Conflict(
            f"a {initiative.stage.value} initiative has no next gate", stage=initiative.stage.value
        )
    return transition(
        session, actor=actor, initiative_id=initiative_id, to=NEXT_STAGE[initiative.stage].value, reason=note
    )


def cancel(session: Session, *, actor: User, initiative_id: int, reason: str) -> Initiative:
    """Cancel from any open stage; the reason is required and kept."""
    initiative = get_initiative(session, initiative_id=initiative_id)
    if not may_cancel(actor, initiative):
        raise PermissionDenied(
            "only the owner, the sponsor, an executive or an admin may cancel", role=actor.role.value
        )
    if initiative.stage not in OPEN_STAGES:
        raise Conflict(
            f"a {initiative.stage.value} initiative cannot be cancelled", stage=initiative.stage.value
        )
    cleaned = check_text(reason, field="reason", required=True)
    initiative.cancelled_from_stage = initiative.stage
    initiative.cancellation_reason = cleaned
    initiative.cancelled_at = utcnow()
    _move(
        session,
        actor=actor,
        initiative=initiative,
        to=InitiativeStage.CANCELLED,
        note=cleaned,
        action="cancel",
    )
    return initiative


def reopen(session: Session, *, actor: User, initiative_id: int, note: str = "") -> Initiative:
    """Bring a cancelled initiative back to the stage it left, once the sponsor has approved anew."""
    initiative = get_initiative(session, initiative_id=initiative_id)
    if initiative.stage != InitiativeStage.CANCELLED:
        raise Conflict("only a cancelled initiative can be reopened", stage=initiative.stage.value)
    if not may_reopen(actor, initiative):
        raise PermissionDenied("only the owner, the sponsor or an admin may reopen", role=actor.role.value)
    if not _sponsor_approved(session, initiative, ApprovalGate.REOPEN):
        missing = ["the sponsor's fresh approval to reopen, given after the cancellation"]
        raise Conflict("reopening needs a new approval; missing: " + missing[0], missing=missing)
    back_to = initiative.cancelled_from_stage or InitiativeStage.IDENTIFIED
    initiative.reopened_at = utcnow()
    initiative.cancelled_from_stage = None
    initiative.cancellation_reason = None
    _move(
        session,
        actor=actor,
        initiative=initiative,
        to=back_to,
        note=check_text(note, field="note"),
        action="reopen",
    )
    return initiative


# --- approvals and value -----------------------------------------------------------------------


def decide(
    session: Session, *, actor: User, initiative_id: int, decision: ApprovalDecision, comment: str = ""
) -> Approval:
    """Record an approval or rejection of what awaits a decision (the Decided gate, or reopening).

    Only the sponsor's decision opens a gate; executives, admins and controllers may add theirs,
    recorded with their role. A rejection needs a comment.
    """
    initiative = get_initiative(session, initiative_id=initiative_id)
    if not may_decide(actor, initiative):
        raise PermissionDenied(
            "only the sponsor (or an executive, admin or controller, as advice) may approve or reject",
            role=actor.role.value,
        )
    gate = pending_gate(initiative)
    if gate is None:
        raise Conflict(
            f"nothing awaits approval: approvals decide the Decided gate (from detailed) or reopening (from cancelled), "
            f"and the initiative is {initiative.stage.value}",
            stage=initiative.stage.value,
        )
    cleaned = check_text(comment, field="comment", required=decision == ApprovalDecision.REJECTED)
    approval = Approval(
        initiative_id=initiative.id,
        gate=gate,
        decision=decision,
        approver_id=actor.id,
        approver_role=actor.role,
        as_sponsor=actor.id == initiative.sponsor_id,
        comment=cleaned,
        decided_at=utcnow(),
    )
    session.add(approval)
    session.flush()
    audit_initiative(
        session,
        actor=actor,
        initiative_id=initiative.id,
        action="approve" if decision == ApprovalDecision.APPROVED else "reject",
        before=None,
        after={
            "approval_id": approval.id,
            "gate": gate,
            "decision": decision,
            "as_sponsor": approval.as_sponsor,
            "role": actor.role,
            "comment": cleaned,
        },
    )
    return approval


def confirm_value(
    session: Session,
    *,
    actor: User,
    initiative_id: int,
    realised_value_amount: Decimal,
    evidence: str,
    close: bool = False,
    as_of: dt.date | None = None,
) -> ValueConfirmation:
    """The controller confirms realised value with evidence (Implemented only); ``close`` then passes Closed.

    The figure Bridgehead measures from its own deals is stored beside the confirmation.
    """
    initiative = get_initiative(session, initiative_id=initiative_id)
    if not may_confirm_value(actor, initiative):
        raise PermissionDenied(
            "only the initiative's controller may confirm realised value", role=actor.role.value
        )
    if initiative.stage != InitiativeStage.IMPLEMENTED:
        raise Conflict(
            f"value is confirmed once the initiative is implemented; it is {initiative.stage.value}",
            stage=initiative.stage.value,
        )
    amount = check_amount(realised_value_amount, field="realised_value_amount")
    cleaned = check_text(evidence, field="evidence", required=True)
    measured = measure_value(session, initiative=initiative, as_of=as_of)
    confirmation = ValueConfirmation(
        initiative_id=initiative.id,
        controller_id=actor.id,
        realised_value_amount=amount,
        measured_value_amount=measured.bookings_uplift_amount,
        evidence=cleaned,
        confirmed_at=utcnow(),
    )
    session.add(confirmation)
    session.flush()
    audit_initiative(
        session,
        actor=actor,
        initiative_id=initiative.id,
        action="confirm_value",
        before=None,
        after={
            "confirmation_id": confirmation.id,
            "realised_value_amount": amount,
            "measured_value_amount": measured.bookings_uplift_amount,
            "evidence": cleaned,
        },
    )
    if close:
        transition(session, actor=actor, initiative_id=initiative.id, to=InitiativeStage.CLOSED.value)
    return confirmation
