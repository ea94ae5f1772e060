"""Mutual action plans: steps with buyer and seller owners, and a signed, expiring link for the buyer."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridgehead.audit.service import record_change, snapshot
from bridgehead.auth.models import User
from bridgehead.common.types import utcnow
from bridgehead.crm.models import Opportunity
from bridgehead.crm.schemas import UserRef
from bridgehead.deals.access import check_text, deal_for_edit
from bridgehead.deals.models import ActionPlan, ActionStep
from bridgehead.deals.schemas import ActionPlanRead, ShareLink, StepCreate, StepRead, StepUpdate
from bridgehead.errors import BridgeheadError, NotFound, PermissionDenied, ValidationFailed

SHARE_PATH = "/share/action-plans/"
_STEP_AUDIT_FIELDS = ["title", "buyer_owner", "seller_owner_id", "due_date", "milestone", "completed_at"]


class LinkExpired(BridgeheadError):
    """A buyer's link whose time is up: 410 Gone, so the buyer knows to ask for a new one."""

    http_status = 410
    exit_code = 7


def plan_of(session: Session, opportunity_id: int) -> ActionPlan | None:
    """The deal's action plan, if it has one."""
    return session.scalar(select(ActionPlan).where(ActionPlan.opportunity_id == opportunity_id))


def _ensure_plan(session: Session, opportunity: Opportunity, viewer: User) -> ActionPlan:
    plan = plan_of(session, opportunity.id)
    if plan is None:
        plan = ActionPlan(
            opportunity_id=opportunity.id,
            title=f"Path to decision: {opportunity.name}"[:200],
            created_by_id=viewer.id,
        )
        session.add(plan)
        session.flush()
        record_change(
            session,
            actor_id=viewer.id,
            action="create",
            object_type="action_plan",
            object_id=plan.id,
            before=None,
            after={"opportunity_id": opportunity.id, "title": plan.title},
        )
    return plan


def _check_due_date(plan: ActionPlan, due_date: dt.date) -> None:
    created = plan.created_at.astimezone(dt.UTC).date()
    if due_date < created:
        raise ValidationFailed(
            f"due date must not be before the plan was created ({created.isoformat()})",
            field="due_date",
            value=due_date.isoformat(),
        )


def _check_seller(session: Session, seller_owner_id: int | None) -> None:
    if seller_owner_id is not None and session.get(User, seller_owner_id) is None:
        raise ValidationFailed("no such user", field="seller_owner_id", value=seller_owner_id)


def add_step(session: Session, *, viewer: User, opportunity_id: int, step: StepCreate) -> ActionStep:
    """Add a step (the plan is made with the first one); a due date before the plan's creation is refused."""
    opportunity = deal_for_edit(session, viewer=viewer, opportunity_id=opportunity_id)
    _check_seller(session, step.seller_owner_id)
    existing = plan_of(session, opportunity.id)
    if existing is not None:
        _check_due_date(existing, step.due_date)
    elif step.due_date < dt.datetime.now(dt.UTC).date():
        raise ValidationFailed(
            "due date must not be before the plan's creation (today)",
            field="due_date",
            value=step.due_date.isoformat(),
        )
    plan = existing or _ensure_plan(session, opportunity, viewer)
    row = ActionStep(
        plan_id=plan.id,
        title=check_text(step.title, field="title", max_length=300),
        buyer_owner=check_text(step.buyer_owner, field="buyer_owner", max_length=200),
        seller_owner_id=step.seller_owner_id if step.seller_owner_id is not None else opportunity.owner_id,
        due_date=step.due_date,
        milestone=check_text(step.milestone, field="milestone", max_length=200),
    )
    session.add(row)
    session.flush()
    record_change(
        session,
        actor_id=viewer.id,
        action="create",
        object_type="action_step",
        object_id=row.id,
        before=None,
        after={"plan_id": plan.id, **snapshot(row, _STEP_AUDIT_FIELDS)},
    )
    return row


def update_step(
    session: Session, *, viewer: User, opportunity_id: int, step_id: int, changes: StepUpdate
) -> ActionStep:
    """Complete, reopen, re-date or rename a step (audited)."""
    opportunity = deal_for_edit(session, viewer=viewer, opportunity_id=opportunity_id)
    plan = plan_of(session, opportunity.id)
    step = session.get(ActionStep, step_id)
    if plan is None or step is None or step.plan_id != plan.id:
        raise NotFound("no such step in this deal's plan", field="step_id", value=step_id)
    if changes.due_date is not None:
        _check_due_date(plan, changes.due_date)
    before = snapshot(step, _STEP_AUDIT_FIELDS)
    if changes.completed is not None:
        step.completed_at = (step.completed_at or utcnow()) if changes.completed else None
    if changes.due_date is not None:
        step.due_date = changes.due_date
    if changes.title is not None:
        step.title = check_text(changes.title, field="title", max_length=300)
    if changes.buyer_owner is not None:
        step.buyer_owner = check_text(changes.buyer_owner, field="buyer_owner", max_length=200)
    if changes.milestone is not None:
        step.milestone = check_text(changes.milestone, field="milestone", max_length=200)
    session.flush()
    record_change(
        session,
        actor_id=viewer.id,
        action="update",
        object_type="action_step",
        object_id=step.id,
        before=before,
        after=snapshot(step, _STEP_AUDIT_FIELDS),
    )
    return step


def plan_read(session: Session, *, opportunity_id: int, today: dt.date | None = None) -> ActionPlanRead:
    """The plan and its steps by due date; a step past its date and not done is overdue."""
    today = today or dt.date.today()
    plan = plan_of(session, opportunity_id)
    if plan is None:
        return ActionPlanRead(id=None, title="", created_at=None, steps=[], overdue=0, completed=0)
    rows = session.execute(
        select(ActionStep, User.full_name)
        .outerjoin(User, User.id == ActionStep.seller_owner_id)
        .where(ActionStep.plan_id == plan.id)
        .order_by(ActionStep.due_date, ActionStep.id)
    ).all()
    steps = [
        StepRead(
            id=step.id,
            title=step.title,
            buyer_owner=step.buyer_owner,
            seller_owner=UserRef(id=step.seller_owner_id, full_name=name or "")
            if step.seller_owner_id
            else None,
            due_date=step.due_date,
            milestone=step.milestone,
            completed_at=step.completed_at,
            overdue=step.completed_at is None and step.due_date < today,
        )
        for step, name in rows
    ]
    return ActionPlanRead(
        id=plan.id,
        title=plan.title,
        created_at=plan.created_at,
        steps=steps,
        overdue=sum(1 for step in steps if step.overdue),
        completed=sum(1 for step in steps if step.completed_at is not None),
    )


# --- the buyer's signed link -------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(secret: str, payload: bytes) -> bytes:
    # A purpose prefix so a signature made for anything else never validates here.
    return hmac.new(secret.encode(), b"action-plan-share:" + payload, hashlib.sha256).digest()


def share_link(
    session: Session, *, viewer: User, opportunity_id: int, secret: str, days: int = 14
) -> ShareLink:
    """A read-only link to the deal's plan for the buyer, signed with the app's secret, valid ``days``."""
    opportunity = deal_for_edit(session, viewer=viewer, opportunity_id=opportunity_id)
    plan = plan_of(session, opportunity.id)
    if plan is None:
        raise ValidationFailed("add a step to the action plan before sharing it", field="action_plan")
    if not 1 <= days <= 90:
        raise ValidationFailed("a link is valid 1 to 90 days", field="days", value=days)
    expires_at = utcnow().replace(microsecond=0) + dt.timedelta(days=days)
    payload = f"{plan.id}:{int(expires_at.timestamp())}".encode()
    token = f"{_b64(payload)}.{_b64(_signature(secret, payload))}"
    record_change(
        session,
        actor_id=viewer.id,
        action="share",
        object_type="action_plan",
        object_id=plan.id,
        before=None,
        after={"expires_at": expires_at},
    )
    return ShareLink(path=SHARE_PATH + token, token=token, expires_at=expires_at)


def plan_for_token(
    session: Session, *, token: str, secret: str, now: dt.datetime | None = None
) -> tuple[ActionPlan, Opportunity]:
    """The plan a buyer's token opens: ``PermissionDenied`` if tampered, ``LinkExpired`` if out of date."""
    refused = PermissionDenied("this link is not valid; ask your contact for a new one")
    payload_text, _, signature_text = token.partition(".")
    try:
        payload = _unb64(payload_text)
        signature = _unb64(signature_text)
        plan_text, _, expires_text = payload.decode().partition(":")
        plan_id, expires_epoch = int(plan_text), int(expires_text)
    except (ValueError, UnicodeDecodeError):
        raise refused from None
    if not signature_text or not hmac.compare_digest(signature, _signature(secret, payload)):
        raise refused
    if (now or utcnow()).timestamp() >= expires_epoch:
        raise LinkExpired("this link has expired; ask your contact for a new one")
    plan = session.get(ActionPlan, plan_id)
    opportunity = session.get(Opportunity, plan.opportunity_id) if plan is not None else None
    if plan is None or opportunity is None:
        raise refused
    return plan, opportunity
