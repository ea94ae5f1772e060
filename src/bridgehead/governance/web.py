"""Pages of initiative governance: the portfolio board and the initiative page with its gate actions.

Forms post back here; each action runs the same service function the API uses, inside a savepoint,
so a refused action changes nothing and the page shows why (with the status the API would give).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.responses import Response

from bridgehead.audit.service import history_of
from bridgehead.auth.models import Role, User
from bridgehead.common.types import MAX_ID
from bridgehead.errors import BridgeheadError, PermissionDenied, ValidationFailed
from bridgehead.governance import board, detail, gates, initiatives, value
from bridgehead.governance.models import ApprovalDecision, InitiativeStage
from bridgehead.governance.schemas import (
    BoardQuery,
    InitiativeCreate,
    InitiativeUpdate,
    KpiCreate,
    MilestoneCreate,
)
from bridgehead.strategy.models import Priority, Segment
from bridgehead.web.deps import CsrfProtected, PageUser, SessionDep
from bridgehead.web.forms import optional_id, validation_failure
from bridgehead.web.templating import is_htmx, render

router = APIRouter(include_in_schema=False)
InitiativeId = Annotated[int, Path(ge=1, le=MAX_ID)]
MilestoneId = Annotated[int, Path(ge=1, le=MAX_ID)]
OptionalText = Annotated[str, Form(max_length=20_000)]
STAGE_ORDER = [stage.value for stage in InitiativeStage]
ACTIVITY_SHOWN = 25


# --- form parsing --------------------------------------------------------------------------------


def _amount(text: str, field: str) -> Decimal | None:
    cleaned = text.strip().replace(",", "")
    if not cleaned:
        return None
    try:
        return Decimal(cleaned)
    except InvalidOperation:
        raise ValidationFailed("must be an amount such as 250000", field=field, value=text) from None


def _number(text: str, field: str) -> Decimal | None:
    cleaned = text.strip()
    if not cleaned:
        return None
    try:
        number = Decimal(cleaned)
    except InvalidOperation:
        raise ValidationFailed("must be a number", field=field, value=text) from None
    if not number.is_finite():
        raise ValidationFailed("must be a number", field=field, value=text)
    return number


def _date(text: str, field: str) -> dt.date | None:
    cleaned = text.strip()
    if not cleaned:
        return None
    try:
        return dt.date.fromisoformat(cleaned)
    except ValueError:
        raise ValidationFailed("must be a date like 2026-03-31", field=field, value=text) from None


# --- page context --------------------------------------------------------------------------------


def _choices(session: Session) -> dict[str, Any]:
    users = session.scalars(select(User).where(User.is_active.is_(True)).order_by(User.full_name)).all()
    return {
        "priorities": session.execute(select(Priority.id, Priority.title).order_by(Priority.title)).all(),
        "segments": session.execute(select(Segment.id, Segment.name).order_by(Segment.name)).all(),
        "people": [user for user in users if user.role != Role.REP],
        "controllers": [user for user in users if user.role == Role.CONTROLLER],
    }


def _initiative_context(session: Session, user: User, initiative_id: int) -> dict[str, Any]:
    initiative = initiatives.get_initiative(session, initiative_id=initiative_id)
    info = detail.initiative_detail(session, initiative_id=initiative_id)
    activity = history_of(session, object_type=initiatives.AUDIT_TYPE, object_id=initiative_id)
    people = [info.owner_id, info.sponsor_id, info.controller_id]
    people += [approval.approver_id for approval in info.approvals]
    people += [step.actor_id for step in info.gate_history]
    people += [confirmation.controller_id for confirmation in info.confirmations]
    people += [milestone.done_by_id for milestone in info.milestones]
    people += [entry.actor_id for entry in activity]
    next_stage = info.next_gate.next_stage
    pending = gates.pending_gate(initiative)
    priority = session.get(Priority, info.priority_id) if info.priority_id else None
    segment = session.get(Segment, info.segment_id) if info.segment_id else None
    return {
        "initiative": info,
        "names": detail.user_names(session, people),
        "priority_title": priority.title if priority else None,
        "segment_name": segment.name if segment else None,
        "measured": value.measure_value(session, initiative=initiative),
        "activity": list(reversed(activity))[:ACTIVITY_SHOWN],
        "activity_total": len(activity),
        "can_edit": initiatives.may_edit(user, initiative) and initiative.stage in initiatives.OPEN_STAGES,
        "can_advance": next_stage is not None
        and next_stage != InitiativeStage.CLOSED
        and gates.may_advance(user, initiative, next_stage),
        "can_decide": pending is not None and gates.may_decide(user, initiative),
        "pending_gate": pending,
        "is_sponsor": user.id == initiative.sponsor_id,
        "can_cancel": initiative.stage in initiatives.OPEN_STAGES and gates.may_cancel(user, initiative),
        "can_reopen": initiative.stage == InitiativeStage.CANCELLED and gates.may_reopen(user, initiative),
        "can_confirm": initiative.stage == InitiativeStage.IMPLEMENTED
        and gates.may_confirm_value(user, initiative),
        "stage_order": STAGE_ORDER,
        "today": dt.date.today(),
        "error": None,
        **_choices(session),
    }


def _initiative_page(
    request: Request,
    session: Session,
    user: User,
    initiative_id: int,
    *,
    error: BridgeheadError | None = None,
) -> Response:
    context = _initiative_context(session, user, initiative_id)
    if error is not None:
        context["error"] = error.message + (
            f" (field {error.context['field']})" if error.context.get("field") else ""
        )
    status = error.http_status if error is not None else 200
    return render(request, "governance/initiative.html", context, status_code=status)


def _act(
    request: Request, session: Session, user: User, initiative_id: int, action: Callable[[], object]
) -> Response:
    """Run one action in a savepoint: on success back to the page; refused, the page says why and nothing changed."""
    try:
        with session.begin_nested():
            action()
    except ValidationError as exc:
        return _initiative_page(request, session, user, initiative_id, error=validation_failure(exc))
    except BridgeheadError as exc:
        return _initiative_page(request, session, user, initiative_id, error=exc)
    return RedirectResponse(f"/governance/initiatives/{initiative_id}", status_code=303)


# --- pages ---------------------------------------------------------------------------------------


@router.get("/governance")
def board_page(
    request: Request, query: Annotated[BoardQuery, Query()], user: PageUser, session: SessionDep
) -> Response:
    """The portfolio board: stage columns, value funnel, overdue gates, motion without progress."""
    portfolio = board.portfolio_board(session, priority_id=query.priority_id, days=query.days)
    priorities = session.execute(select(Priority.id, Priority.title).order_by(Priority.title)).all()
    titles = dict(priorities)
    return render(
        request,
        "governance/board.html",
        {
            "board": portfolio,
            "priorities": priorities,
            "priority_titles": titles,
            "stage_order": STAGE_ORDER,
            "can_create": initiatives.may_create(user),
        },
    )


@router.get("/governance/initiatives/new")
def new_initiative_page(request: Request, user: PageUser, session: SessionDep) -> Response:
    """The form for a new initiative (executives, admins, planners)."""
    if not initiatives.may_create(user):
        raise PermissionDenied(
            "only executives, admins and planners create initiatives", role=user.role.value
        )
    context = {"form": {}, "error": None, **_choices(session)}
    return render(request, "governance/new.html", context)


@router.post("/governance/initiatives", dependencies=[CsrfProtected])
def create_initiative(
    request: Request,
    user: PageUser,
    session: SessionDep,
    title: Annotated[str, Form(max_length=200)] = "",
    description: OptionalText = "",
    priority_id: Annotated[str, Form(max_length=20)] = "",
    segment_id: Annotated[str, Form(max_length=20)] = "",
    owner_id: Annotated[str, Form(max_length=20)] = "",
    sponsor_id: Annotated[str, Form(max_length=20)] = "",
    controller_id: Annotated[str, Form(max_length=20)] = "",
    value_kind: Annotated[str, Form(max_length=30)] = "",
    expected_value_amount: Annotated[str, Form(max_length=40)] = "",
    cost_amount: Annotated[str, Form(max_length=40)] = "",
    business_case: OptionalText = "",
    start_date: Annotated[str, Form(max_length=20)] = "",
    end_date: Annotated[str, Form(max_length=20)] = "",
    next_gate_due_date: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """Create the initiative and open its page; a refusal shows the form again with the reason."""
    form = {
        "title": title,
        "description": description,
        "priority_id": priority_id,
        "segment_id": segment_id,
        "owner_id": owner_id,
        "sponsor_id": sponsor_id,
        "controller_id": controller_id,
        "value_kind": value_kind,
        "expected_value_amount": expected_value_amount,
        "cost_amount": cost_amount,
        "business_case": business_case,
        "start_date": start_date,
        "end_date": end_date,
        "next_gate_due_date": next_gate_due_date,
    }
    try:
        with session.begin_nested():
            data = InitiativeCreate(
                title=title,
                description=description,
                priority_id=optional_id(priority_id, "priority_id"),
                segment_id=optional_id(segment_id, "segment_id"),
                owner_id=optional_id(owner_id, "owner_id") or 0,
                sponsor_id=optional_id(sponsor_id, "sponsor_id") or 0,
                controller_id=optional_id(controller_id, "controller_id"),
                value_kind=value_kind or None,
                expected_value_amount=_amount(expected_value_amount, "expected_value_amount"),
                cost_amount=_amount(cost_amount, "cost_amount"),
                business_case=business_case,
                start_date=_date(start_date, "start_date"),
                end_date=_date(end_date, "end_date"),
                next_gate_due_date=_date(next_gate_due_date, "next_gate_due_date"),
            )
            created = initiatives.create_initiative(session, actor=user, data=data)
    except (ValidationError, BridgeheadError) as exc:
        error = validation_failure(exc) if isinstance(exc, ValidationError) else exc
        context = {"form": form, "error": error.message, **_choices(session)}
        return render(request, "governance/new.html", context, status_code=error.http_status)
    return RedirectResponse(f"/governance/initiatives/{created.id}", status_code=303)


@router.get("/governance/initiatives/{initiative_id}")
def initiative_page(
    request: Request, initiative_id: InitiativeId, user: PageUser, session: SessionDep
) -> Response:
    """One initiative: business case, milestones, KPIs, approvals, gate history, value evidence, actions."""
    return _initiative_page(request, session, user, initiative_id)


@router.post("/governance/initiatives/{initiative_id}/edit", dependencies=[CsrfProtected])
def edit_initiative(
    request: Request,
    initiative_id: InitiativeId,
    user: PageUser,
    session: SessionDep,
    title: Annotated[str, Form(max_length=200)] = "",
    description: OptionalText = "",
    priority_id: Annotated[str, Form(max_length=20)] = "",
    segment_id: Annotated[str, Form(max_length=20)] = "",
    controller_id: Annotated[str, Form(max_length=20)] = "",
    value_kind: Annotated[str, Form(max_length=30)] = "",
    expected_value_amount: Annotated[str, Form(max_length=40)] = "",
    cost_amount: Annotated[str, Form(max_length=40)] = "",
    business_case: OptionalText = "",
    start_date: Annotated[str, Form(max_length=20)] = "",
    end_date: Annotated[str, Form(max_length=20)] = "",
    next_gate_due_date: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """Save the business-case form (the owner or an admin)."""

    def save() -> None:
        changes = InitiativeUpdate(
            title=title,
            description=description,
            priority_id=optional_id(priority_id, "priority_id"),
            segment_id=optional_id(segment_id, "segment_id"),
            controller_id=optional_id(controller_id, "controller_id"),
            value_kind=value_kind or None,
            expected_value_amount=_amount(expected_value_amount, "expected_value_amount"),
            cost_amount=_amount(cost_amount, "cost_amount"),
            business_case=business_case,
            start_date=_date(start_date, "start_date"),
            end_date=_date(end_date, "end_date"),
            next_gate_due_date=_date(next_gate_due_date, "next_gate_due_date"),
        )
        initiatives.update_initiative(session, actor=user, initiative_id=initiative_id, changes=changes)

    return _act(request, session, user, initiative_id, save)


@router.post("/governance/initiatives/{initiative_id}/milestones", dependencies=[CsrfProtected])
def add_milestone(
    request: Request,
    initiative_id: InitiativeId,
    user: PageUser,
    session: SessionDep,
    title: Annotated[str, Form(max_length=200)] = "",
    start_date: Annotated[str, Form(max_length=20)] = "",
    due_date: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """Plan a milestone."""

    def add() -> None:
        due = _date(due_date, "due_date")
        if due is None:
            raise ValidationFailed("a milestone needs a due date", field="due_date", value=due_date)
        data = MilestoneCreate(title=title, start_date=_date(start_date, "start_date"), due_date=due)
        initiatives.add_milestone(session, actor=user, initiative_id=initiative_id, data=data)

    return _act(request, session, user, initiative_id, add)


@router.post(
    "/governance/initiatives/{initiative_id}/milestones/{milestone_id}/done", dependencies=[CsrfProtected]
)
def complete_milestone(
    request: Request,
    initiative_id: InitiativeId,
    milestone_id: MilestoneId,
    user: PageUser,
    session: SessionDep,
) -> Response:
    """Mark a milestone done; htmx gets the milestone list back, a plain form the whole page."""
    if not is_htmx(request):
        return _act(
            request,
            session,
            user,
            initiative_id,
            lambda: initiatives.complete_milestone(
                session, actor=user, initiative_id=initiative_id, milestone_id=milestone_id
            ),
        )
    error = None
    try:
        with session.begin_nested():
            initiatives.complete_milestone(
                session, actor=user, initiative_id=initiative_id, milestone_id=milestone_id
            )
    except BridgeheadError as exc:
        error = exc
    context = _initiative_context(session, user, initiative_id)
    context["error"] = error.message if error else None
    return render(
        request, "governance/_milestones.html", context, status_code=error.http_status if error else 200
    )


@router.post("/governance/initiatives/{initiative_id}/kpis", dependencies=[CsrfProtected])
def add_kpi(
    request: Request,
    initiative_id: InitiativeId,
    user: PageUser,
    session: SessionDep,
    name: Annotated[str, Form(max_length=120)] = "",
    unit: Annotated[str, Form(max_length=30)] = "",
    baseline_value: Annotated[str, Form(max_length=40)] = "",
    target_value: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """Add a KPI with its baseline and target."""

    def add() -> None:
        baseline = _number(baseline_value, "baseline_value")
        target = _number(target_value, "target_value")
        if baseline is None or target is None:
            field = "baseline_value" if baseline is None else "target_value"
            raise ValidationFailed("a KPI needs a baseline and a target", field=field, value="")
        data = KpiCreate(name=name, unit=unit, baseline_value=baseline, target_value=target)
        initiatives.add_kpi(session, actor=user, initiative_id=initiative_id, data=data)

    return _act(request, session, user, initiative_id, add)


@router.post("/governance/initiatives/{initiative_id}/kpis/{kpi_id}/reading", dependencies=[CsrfProtected])
def record_kpi_reading(
    request: Request,
    initiative_id: InitiativeId,
    kpi_id: MilestoneId,
    user: PageUser,
    session: SessionDep,
    current_value: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """Record a KPI's latest reading."""
    return _act(
        request,
        session,
        user,
        initiative_id,
        lambda: initiatives.record_kpi_reading(
            session,
            actor=user,
            initiative_id=initiative_id,
            kpi_id=kpi_id,
            current_value=_number(current_value, "current_value"),
        ),
    )


@router.post("/governance/initiatives/{initiative_id}/transition", dependencies=[CsrfProtected])
def transition(
    request: Request,
    initiative_id: InitiativeId,
    user: PageUser,
    session: SessionDep,
    to: Annotated[str, Form(max_length=30)] = "",
    note: Annotated[str, Form(max_length=5_000)] = "",
) -> Response:
    """Pass a gate (or cancel): the same checks as the API."""
    return _act(
        request,
        session,
        user,
        initiative_id,
        lambda: gates.transition(session, actor=user, initiative_id=initiative_id, to=to, reason=note),
    )


@router.post("/governance/initiatives/{initiative_id}/decision", dependencies=[CsrfProtected])
def decide(
    request: Request,
    initiative_id: InitiativeId,
    user: PageUser,
    session: SessionDep,
    decision: Annotated[str, Form(max_length=20)] = "",
    comment: Annotated[str, Form(max_length=5_000)] = "",
) -> Response:
    """Approve or reject what awaits a decision."""

    def record() -> None:
        try:
            choice = ApprovalDecision(decision)
        except ValueError:
            raise ValidationFailed("choose approve or reject", field="decision", value=decision) from None
        gates.decide(session, actor=user, initiative_id=initiative_id, decision=choice, comment=comment)

    return _act(request, session, user, initiative_id, record)


@router.post("/governance/initiatives/{initiative_id}/cancel", dependencies=[CsrfProtected])
def cancel(
    request: Request,
    initiative_id: InitiativeId,
    user: PageUser,
    session: SessionDep,
    reason: Annotated[str, Form(max_length=5_000)] = "",
) -> Response:
    """Cancel with a reason."""
    return _act(
        request,
        session,
        user,
        initiative_id,
        lambda: gates.cancel(session, actor=user, initiative_id=initiative_id, reason=reason),
    )


@router.post("/governance/initiatives/{initiative_id}/reopen", dependencies=[CsrfProtected])
def reopen(request: Request, initiative_id: InitiativeId, user: PageUser, session: SessionDep) -> Response:
    """Reopen a cancelled initiative (needs the sponsor's fresh approval)."""
    return _act(
        request,
        session,
        user,
        initiative_id,
        lambda: gates.reopen(session, actor=user, initiative_id=initiative_id),
    )


@router.post("/governance/initiatives/{initiative_id}/confirm-value", dependencies=[CsrfProtected])
def confirm_value(
    request: Request,
    initiative_id: InitiativeId,
    user: PageUser,
    session: SessionDep,
    realised_value_amount: Annotated[str, Form(max_length=40)] = "",
    evidence: Annotated[str, Form(max_length=20_000)] = "",
) -> Response:
    """The controller confirms realised value with evidence and closes the initiative."""

    def confirm() -> None:
        amount = _amount(realised_value_amount, "realised_value_amount")
        if amount is None:
            raise ValidationFailed("enter the realised value", field="realised_value_amount", value="")
        gates.confirm_value(
            session,
            actor=user,
            initiative_id=initiative_id,
            realised_value_amount=amount,
            evidence=evidence,
            close=True,
        )

    return _act(request, session, user, initiative_id, confirm)
