"""Handoffs: a won deal passed to customer success with the commitments made during the cycle."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from bridgehead.audit.service import record_change
from bridgehead.auth.models import Role, User
from bridgehead.auth.service import visibility_for
from bridgehead.common.types import utcnow
from bridgehead.crm.models import Opportunity
from bridgehead.crm.schemas import UserRef
from bridgehead.deals.access import check_text, deal_for_edit
from bridgehead.deals.models import (
    ActionPlan,
    ActionStep,
    Handoff,
    HandoffStatus,
    QualificationDimension,
    QualificationEntry,
)
from bridgehead.deals.schemas import HandoffRead
from bridgehead.errors import Conflict, NotFound, PermissionDenied, ValidationFailed

MAX_COMMITMENT_LENGTH = 500


def commitments_of(session: Session, opportunity_id: int) -> list[str]:
    """What was promised in the cycle: the action plan's steps and the metrics the buyer expects."""
    steps = session.execute(
        select(ActionStep.title, ActionStep.milestone, ActionStep.due_date)
        .join(ActionPlan, ActionPlan.id == ActionStep.plan_id)
        .where(ActionPlan.opportunity_id == opportunity_id)
        .order_by(ActionStep.due_date, ActionStep.id)
    ).all()
    items = [
        f"{title}" + (f" (proves: {milestone})" if milestone else "") + f", due {due.isoformat()}"
        for title, milestone, due in steps
    ]
    evidence = session.execute(
        select(QualificationDimension.name, QualificationEntry.evidence)
        .join(QualificationDimension, QualificationDimension.id == QualificationEntry.dimension_id)
        .where(
            QualificationEntry.opportunity_id == opportunity_id,
            QualificationDimension.key.in_(["metrics", "decision_criteria", "paper_process"]),
            QualificationEntry.evidence != "",
        )
        .order_by(QualificationDimension.position)
    ).all()
    items.extend(f"{name}: {text[:MAX_COMMITMENT_LENGTH]}" for name, text in evidence)
    return items


def start_handoff(
    session: Session,
    *,
    opportunity: Opportunity,
    actor_id: int | None,
    recipient_id: int | None = None,
    commitments: list[str] | None = None,
    notes: str = "",
) -> Handoff:
    """Open the handoff of a won deal (once); by default to the owner's manager."""
    if not opportunity.is_won:
        raise ValidationFailed(
            "only a won deal is handed to customer success", field="opportunity_id", value=opportunity.id
        )
    existing = session.scalar(select(Handoff).where(Handoff.opportunity_id == opportunity.id))
    if existing is not None:
        return existing
    if recipient_id is None and opportunity.owner_id is not None:
        owner = session.get(User, opportunity.owner_id)
        recipient_id = owner.manager_id if owner is not None else None
    cleaned = [
        check_text(item, field="commitments", max_length=MAX_COMMITMENT_LENGTH)
        for item in (commitments or [])
    ]
    cleaned = [item for item in cleaned if item]
    handoff = Handoff(
        opportunity_id=opportunity.id,
        created_by_id=actor_id,
        recipient_id=recipient_id,
        commitments=commitments_of(session, opportunity.id) + cleaned,
        notes=check_text(notes, field="notes", max_length=10_000),
        status=HandoffStatus.PENDING,
    )
    session.add(handoff)
    session.flush()
    record_change(
        session,
        actor_id=actor_id,
        action="create",
        object_type="handoff",
        object_id=handoff.id,
        before=None,
        after={
            "opportunity_id": opportunity.id,
            "recipient_id": recipient_id,
            "commitments": handoff.commitments,
        },
    )
    return handoff


def create_handoff(
    session: Session,
    *,
    viewer: User,
    opportunity_id: int,
    recipient_id: int | None,
    commitments: list[str],
    notes: str,
) -> Handoff:
    """Hand a won deal over (its owner or their manager); a second handoff of the same deal is a conflict."""
    opportunity = deal_for_edit(session, viewer=viewer, opportunity_id=opportunity_id)
    if session.scalar(select(Handoff.id).where(Handoff.opportunity_id == opportunity.id)) is not None:
        raise Conflict("this deal has been handed off already", field="opportunity_id", value=opportunity_id)
    if recipient_id is not None and session.get(User, recipient_id) is None:
        raise ValidationFailed("no such user", field="recipient_id", value=recipient_id)
    return start_handoff(
        session,
        opportunity=opportunity,
        actor_id=viewer.id,
        recipient_id=recipient_id,
        commitments=commitments,
        notes=notes,
    )


def _visible(viewer: User) -> object:
    visibility = visibility_for(viewer)
    return or_(Handoff.recipient_id == viewer.id, visibility.owned_by_visible(Opportunity.owner_id))


def _read(handoff: Handoff, opportunity: Opportunity, names: dict[int, str]) -> HandoffRead:
    def ref(user_id: int | None) -> UserRef | None:
        return UserRef(id=user_id, full_name=names.get(user_id, "")) if user_id is not None else None

    return HandoffRead(
        id=handoff.id,
        opportunity_id=opportunity.id,
        opportunity_name=opportunity.name,
        amount=opportunity.amount,
        recipient=ref(handoff.recipient_id),
        created_by=ref(handoff.created_by_id),
        commitments=list(handoff.commitments),
        notes=handoff.notes,
        status=handoff.status.value,
        accepted_by=ref(handoff.accepted_by_id),
        accepted_at=handoff.accepted_at,
        created_at=handoff.created_at,
    )


def _names(session: Session, handoffs: list[Handoff]) -> dict[int, str]:
    ids = {
        user_id
        for h in handoffs
        for user_id in (h.recipient_id, h.created_by_id, h.accepted_by_id)
        if user_id
    }
    if not ids:
        return {}
    rows = session.execute(select(User.id, User.full_name).where(User.id.in_(ids))).all()
    return {int(user_id): str(name) for user_id, name in rows}


def list_handoffs(
    session: Session, *, viewer: User, status: str | None = None, limit: int = 200
) -> list[HandoffRead]:
    """Handoffs addressed to the viewer or of deals they see, newest first."""
    statement = (
        select(Handoff, Opportunity)
        .join(Opportunity, Opportunity.id == Handoff.opportunity_id)
        .where(_visible(viewer))  # type: ignore[arg-type]
        .order_by(Handoff.created_at.desc(), Handoff.id.desc())
        .limit(limit)
    )
    if status is not None:
        try:
            statement = statement.where(Handoff.status == HandoffStatus(status))
        except ValueError:
            raise ValidationFailed(
                "unknown status; use pending or accepted", field="status", value=status
            ) from None
    rows = session.execute(statement).all()
    names = _names(session, [handoff for handoff, _ in rows])
    return [_read(handoff, opportunity, names) for handoff, opportunity in rows]


def handoff_for_deal(session: Session, *, opportunity: Opportunity) -> HandoffRead | None:
    """The deal's handoff, if any (the caller has checked the deal is visible)."""
    handoff = session.scalar(select(Handoff).where(Handoff.opportunity_id == opportunity.id))
    return None if handoff is None else _read(handoff, opportunity, _names(session, [handoff]))


def accept_handoff(session: Session, *, viewer: User, handoff_id: int) -> HandoffRead:
    """Customer success accepts: the named recipient, a manager of the owner's line, or an admin."""
    row = session.execute(
        select(Handoff, Opportunity)
        .join(Opportunity, Opportunity.id == Handoff.opportunity_id)
        .where(Handoff.id == handoff_id)
    ).first()
    if row is None:
        raise NotFound("no such handoff", field="handoff_id", value=handoff_id)
    handoff, opportunity = row
    visibility = visibility_for(viewer)
    is_recipient = handoff.recipient_id == viewer.id
    line_manager = viewer.role == Role.MANAGER and visibility.may_see_owner(session, opportunity.owner_id)
    if not (is_recipient or line_manager or viewer.role == Role.ADMIN):
        if not (is_recipient or visibility.may_see_owner(session, opportunity.owner_id)):
            raise NotFound("no such handoff", field="handoff_id", value=handoff_id)
        raise PermissionDenied(
            "only the recipient, a manager of the owner's team or an admin accepts a handoff"
        )
    if handoff.status == HandoffStatus.ACCEPTED:
        raise Conflict("this handoff was accepted already", field="handoff_id", value=handoff_id)
    handoff.status = HandoffStatus.ACCEPTED
    handoff.accepted_by_id = viewer.id
    handoff.accepted_at = utcnow()
    session.flush()
    record_change(
        session,
        actor_id=viewer.id,
        action="accept",
        object_type="handoff",
        object_id=handoff.id,
        before={"status": HandoffStatus.PENDING.value},
        after={"status": HandoffStatus.ACCEPTED.value},
    )
    return _read(handoff, opportunity, _names(session, [handoff]))
