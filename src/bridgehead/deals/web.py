"""Pages of deal execution: the deal room, the buyer's shared action plan, account plans, handoffs."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session
from starlette.responses import Response

from bridgehead.auth.models import Role, User
from bridgehead.common.types import MAX_ID
from bridgehead.deals import account_plans, action_plans, handoffs, process, qualification, stakeholders
from bridgehead.deals.access import deal_for_read
from bridgehead.deals.models import AccountPlanItemKind, Influence, StakeholderRole, Stance, WhiteSpaceStatus
from bridgehead.deals.room import deal_room, qualification_panel
from bridgehead.deals.schemas import (
    PlanItemCreate,
    ShareLink,
    StageUpdate,
    StepCreate,
    StepUpdate,
    WhiteSpaceUpdate,
)
from bridgehead.errors import ValidationFailed
from bridgehead.web.deps import CsrfProtected, PageUser, SessionDep, SettingsDep
from bridgehead.web.templating import is_htmx, render

router = APIRouter(include_in_schema=False)
ObjectId = Annotated[int, Path(ge=1, le=MAX_ID)]
ShortText = Annotated[str, Form(max_length=300)]
LongText = Annotated[str, Form(max_length=20_000)]


def _room(
    request: Request,
    session: Session,
    user: User,
    opportunity_id: int,
    *,
    error: ValidationFailed | None = None,
    share: ShareLink | None = None,
    status_code: int = 200,
) -> Response:
    room = deal_room(session, viewer=user, opportunity_id=opportunity_id)
    context: dict[str, Any] = {
        "room": room,
        "error": error,
        "error_missing": (error.context.get("missing") or []) if error else [],
        "share": share,
        "contacts": stakeholders.contacts_available(
            session, opportunity_id=room.opportunity.id, account_id=room.opportunity.account_id
        )
        if room.can_edit
        else [],
        "roles": [role.value for role in StakeholderRole],
        "stances": [stance.value for stance in Stance],
        "influences": [level.value for level in Influence],
        "today": dt.date.today(),
    }
    return render(request, "deals/room.html", context, status_code=status_code)


def _back(opportunity_id: int, anchor: str = "") -> Response:
    return RedirectResponse(f"/deals/{opportunity_id}{anchor}", status_code=303)


@router.get("/deals/processes")
def processes_page(request: Request, user: PageUser, session: SessionDep) -> Response:
    """The sales processes and their stages; admins and planners change them here."""
    contexts = process.processes(session)
    context: dict[str, Any] = {
        "processes": [process.process_read(session, item) for item in contexts],
        "can_configure": user.role in {Role.ADMIN, Role.PLANNER},
        "statuses": ["unknown", "identified", "validated"],
        "field_labels": process.REQUIRED_FIELD_LABELS,
        "saved": request.query_params.get("saved"),
    }
    return render(request, "deals/processes.html", context)


@router.post("/deals/processes/{process_id}/stages/{stage_id}", dependencies=[CsrfProtected])
async def change_stage_page(
    request: Request, process_id: ObjectId, stage_id: ObjectId, user: PageUser, session: SessionDep
) -> Response:
    """Save a stage's configuration from the processes page (admins and planners)."""
    form = await request.form()

    def text(name: str) -> str:
        value = form.get(name)
        return value if isinstance(value, str) else ""

    def lines(name: str) -> list[str]:
        return [line for line in text(name).splitlines() if line.strip()][:30]

    try:
        try:
            probability = int(text("probability"))
            engaged = int(text("min_engaged_stakeholders") or "0")
        except ValueError:
            raise ValidationFailed(
                "probability and engaged stakeholders are whole numbers", field="probability"
            ) from None
        if not 0 <= probability <= 100 or not 0 <= engaged <= 50:
            raise ValidationFailed(
                "probability 0-100, engaged stakeholders 0-50", field="probability", value=probability
            )
        changes = StageUpdate(
            buyer_milestone=text("buyer_milestone")[:2000],
            exit_criteria=lines("exit_criteria"),
            required_fields=[str(v) for v in form.getlist("required_fields")][:10],
            required_dimensions=[str(v) for v in form.getlist("required_dimensions")][:20],
            minimum_status=text("minimum_status")[:20] or "identified",
            min_engaged_stakeholders=engaged,
            requires_economic_buyer=text("requires_economic_buyer") == "true",
            probability=probability,
            crm_stage_names=lines("crm_stage_names")[:50],
        )
        process.update_stage(session, viewer=user, process_id=process_id, stage_id=stage_id, changes=changes)
    except ValidationFailed as exc:
        contexts = process.processes(session)
        context: dict[str, Any] = {
            "processes": [process.process_read(session, item) for item in contexts],
            "can_configure": user.role in {Role.ADMIN, Role.PLANNER},
            "statuses": ["unknown", "identified", "validated"],
            "field_labels": process.REQUIRED_FIELD_LABELS,
            "error": exc,
            "saved": None,
        }
        return render(request, "deals/processes.html", context, status_code=422)
    return RedirectResponse(f"/deals/processes?saved={stage_id}#stage-{stage_id}", status_code=303)


@router.get("/deals/{opportunity_id}")
def room_page(request: Request, opportunity_id: ObjectId, user: PageUser, session: SessionDep) -> Response:
    """The deal room: playbook, qualification, stakeholder org chart, action plan, history and handoff."""
    return _room(request, session, user, opportunity_id)


@router.post("/deals/{opportunity_id}/stage", dependencies=[CsrfProtected])
def move_stage(
    request: Request,
    opportunity_id: ObjectId,
    user: PageUser,
    session: SessionDep,
    stage: Annotated[str, Form(max_length=80)],
    override_reason: LongText = "",
) -> Response:
    """Move the deal; unmet requirements are listed on the page (a manager may override with a reason)."""
    try:
        process.move_stage(
            session,
            viewer=user,
            opportunity_id=opportunity_id,
            stage=stage,
            override_reason=override_reason or None,
        )
    except ValidationFailed as exc:
        return _room(request, session, user, opportunity_id, error=exc, status_code=422)
    return _back(opportunity_id)


@router.post("/deals/{opportunity_id}/exit-criteria", dependencies=[CsrfProtected])
def tick_exit_criterion(
    opportunity_id: ObjectId,
    user: PageUser,
    session: SessionDep,
    stage: Annotated[str, Form(max_length=80)],
    index: Annotated[int, Form(ge=0, le=100)],
    checked: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    """Tick or untick an exit criterion."""
    process.tick_exit_criterion(
        session,
        viewer=user,
        opportunity_id=opportunity_id,
        stage=stage,
        index=index,
        checked=checked == "true",
    )
    return _back(opportunity_id, "#playbook")


@router.post("/deals/{opportunity_id}/qualification/{dimension}", dependencies=[CsrfProtected])
def set_qualification(
    request: Request,
    opportunity_id: ObjectId,
    dimension: Annotated[str, Path(max_length=40)],
    user: PageUser,
    session: SessionDep,
    status: Annotated[str, Form(max_length=20)],
    evidence: LongText = "",
) -> Response:
    """Set a dimension inline; htmx gets the qualification panel back, a plain post the whole room."""
    opportunity = deal_for_read(session, viewer=user, opportunity_id=opportunity_id)
    context = process.process_for(session, opportunity)
    error: ValidationFailed | None = None
    try:
        qualification.set_qualification(
            session,
            viewer=user,
            opportunity_id=opportunity_id,
            framework_id=context.framework.id,
            dimension_key=dimension,
            status=status,
            evidence=evidence,
        )
    except ValidationFailed as exc:
        error = exc
    if not is_htmx(request):
        if error is not None:
            return _room(request, session, user, opportunity_id, error=error, status_code=422)
        return _back(opportunity_id, "#qualification")
    panel = qualification_panel(session, opportunity=opportunity, context=context)
    return render(
        request,
        "deals/_qualification.html",
        {"qualification": panel, "opportunity_id": opportunity_id, "can_edit": True, "error": error},
        status_code=422 if error else 200,
    )


@router.post("/deals/{opportunity_id}/stakeholders", dependencies=[CsrfProtected])
def add_stakeholder(
    request: Request,
    opportunity_id: ObjectId,
    user: PageUser,
    session: SessionDep,
    contact_id: Annotated[int, Form(ge=1, le=MAX_ID)],
    role: Annotated[str, Form(max_length=40)],
    stance: Annotated[str, Form(max_length=20)] = "neutral",
    influence: Annotated[str, Form(max_length=20)] = "medium",
    plan: LongText = "",
) -> Response:
    """Put a contact on the map."""
    try:
        stakeholders.add_stakeholder(
            session,
            viewer=user,
            opportunity_id=opportunity_id,
            contact_id=contact_id,
            role=role,
            stance=stance,
            influence=influence,
            plan=plan,
        )
    except ValidationFailed as exc:
        return _room(request, session, user, opportunity_id, error=exc, status_code=422)
    return _back(opportunity_id, "#stakeholders")


@router.post("/deals/{opportunity_id}/stakeholders/{stakeholder_id}", dependencies=[CsrfProtected])
def change_stakeholder(
    request: Request,
    opportunity_id: ObjectId,
    stakeholder_id: ObjectId,
    user: PageUser,
    session: SessionDep,
    role: Annotated[str, Form(max_length=40)],
    stance: Annotated[str, Form(max_length=20)],
    influence: Annotated[str, Form(max_length=20)],
    plan: LongText = "",
    reports_to_contact_id: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """Change a stakeholder's role, stance, influence, reports-to line or plan."""
    try:
        changes: dict[str, Any] = {"role": role, "stance": stance, "influence": influence, "plan": plan}
        if reports_to_contact_id.strip():
            if not reports_to_contact_id.strip().isdigit() or int(reports_to_contact_id) > MAX_ID:
                raise ValidationFailed(
                    "not a contact id", field="reports_to_contact_id", value=reports_to_contact_id
                )
            changes["reports_to_contact_id"] = int(reports_to_contact_id)
        else:
            changes["reports_to_contact_id"] = None
        stakeholders.update_stakeholder(
            session,
            viewer=user,
            opportunity_id=opportunity_id,
            stakeholder_id=stakeholder_id,
            changes=changes,
        )
    except ValidationFailed as exc:
        return _room(request, session, user, opportunity_id, error=exc, status_code=422)
    return _back(opportunity_id, "#stakeholders")


@router.post("/deals/{opportunity_id}/action-plan/steps", dependencies=[CsrfProtected])
def add_step(
    request: Request,
    opportunity_id: ObjectId,
    user: PageUser,
    session: SessionDep,
    title: ShortText,
    due_date: Annotated[str, Form(max_length=20)],
    buyer_owner: Annotated[str, Form(max_length=200)] = "",
    milestone: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Add a step to the mutual action plan."""
    try:
        try:
            due = dt.date.fromisoformat(due_date.strip())
        except ValueError:
            raise ValidationFailed("not a date like 2026-03-31", field="due_date", value=due_date) from None
        if not title.strip():
            raise ValidationFailed("a step needs a title", field="title", value=title)
        step = StepCreate(title=title.strip(), due_date=due, buyer_owner=buyer_owner, milestone=milestone)
        action_plans.add_step(session, viewer=user, opportunity_id=opportunity_id, step=step)
    except ValidationFailed as exc:
        return _room(request, session, user, opportunity_id, error=exc, status_code=422)
    return _back(opportunity_id, "#action-plan")


@router.post("/deals/{opportunity_id}/action-plan/steps/{step_id}", dependencies=[CsrfProtected])
def complete_step(
    opportunity_id: ObjectId,
    step_id: ObjectId,
    user: PageUser,
    session: SessionDep,
    completed: Annotated[str, Form(max_length=5)],
) -> Response:
    """Mark a step done (or not done)."""
    changes = StepUpdate(completed=completed == "true")
    action_plans.update_step(
        session, viewer=user, opportunity_id=opportunity_id, step_id=step_id, changes=changes
    )
    return _back(opportunity_id, "#action-plan")


@router.post("/deals/{opportunity_id}/action-plan/share", dependencies=[CsrfProtected])
def share_plan(
    request: Request,
    opportunity_id: ObjectId,
    user: PageUser,
    session: SessionDep,
    settings: SettingsDep,
    days: Annotated[int, Form(ge=1, le=90)] = 14,
) -> Response:
    """Make a signed link for the buyer and show it."""
    try:
        link = action_plans.share_link(
            session,
            viewer=user,
            opportunity_id=opportunity_id,
            secret=settings.secret_key.get_secret_value(),
            days=days,
        )
    except ValidationFailed as exc:
        return _room(request, session, user, opportunity_id, error=exc, status_code=422)
    return _room(request, session, user, opportunity_id, share=link)


@router.post("/deals/{opportunity_id}/handoff/{handoff_id}/accept", dependencies=[CsrfProtected])
def accept_handoff(
    opportunity_id: ObjectId, handoff_id: ObjectId, user: PageUser, session: SessionDep
) -> Response:
    """Customer success accepts the handoff."""
    handoffs.accept_handoff(session, viewer=user, handoff_id=handoff_id)
    return _back(opportunity_id, "#handoff")


@router.get("/share/action-plans/{token}")
def buyer_view(
    request: Request, token: Annotated[str, Path(max_length=400)], session: SessionDep, settings: SettingsDep
) -> Response:
    """The buyer's read-only view of the plan through a signed link; no login, nothing else shown."""
    plan, opportunity = action_plans.plan_for_token(
        session, token=token, secret=settings.secret_key.get_secret_value()
    )
    steps = action_plans.plan_read(session, opportunity_id=opportunity.id)
    response = render(
        request, "deals/shared_plan.html", {"plan": steps, "deal_name": opportunity.name, "title": plan.title}
    )
    # The link is the credential: keep it out of caches and Referer headers.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@router.get("/handoffs")
def handoffs_page(request: Request, user: PageUser, session: SessionDep) -> Response:
    """Handoffs addressed to the user or of deals they see."""
    return render(request, "deals/handoffs.html", {"handoffs": handoffs.list_handoffs(session, viewer=user)})


@router.get("/accounts/{account_id}/plan")
def account_plan_page(
    request: Request, account_id: ObjectId, user: PageUser, session: SessionDep
) -> Response:
    """The account plan: objectives, SWOT, white space and relationship goals."""
    return _plan_page(request, session, user, account_id)


def _plan_page(
    request: Request, session: Session, user: User, account_id: int, error: ValidationFailed | None = None
) -> Response:
    plan = account_plans.account_plan(session, viewer=user, account_id=account_id)
    context = {
        "plan": plan,
        "error": error,
        "kinds": [kind.value for kind in AccountPlanItemKind],
        "white_space_statuses": [status.value for status in WhiteSpaceStatus],
        "priorities": account_plans.priority_choices(session),
    }
    return render(request, "deals/account_plan.html", context, status_code=422 if error else 200)


@router.post("/accounts/{account_id}/plan/items", dependencies=[CsrfProtected])
def add_plan_item(
    request: Request,
    account_id: ObjectId,
    user: PageUser,
    session: SessionDep,
    kind: Annotated[str, Form(max_length=30)],
    text: LongText,
    priority_id: Annotated[str, Form(max_length=20)] = "",
    task_due_date: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """Add an objective, SWOT item or relationship goal; optionally serving a priority, or a task for the user."""
    try:
        if not text.strip():
            raise ValidationFailed("write what the item says", field="text", value=text)
        if priority_id and (not priority_id.isdigit() or int(priority_id) > MAX_ID):
            raise ValidationFailed("not a priority", field="priority_id", value=priority_id)
        try:
            due = dt.date.fromisoformat(task_due_date) if task_due_date else None
        except ValueError:
            raise ValidationFailed(
                "not a date like 2026-03-31", field="task_due_date", value=task_due_date
            ) from None
        item = PlanItemCreate(
            kind=kind,
            text=text.strip()[:2000],
            priority_id=int(priority_id) if priority_id else None,
            task_owner_id=user.id if due else None,
            task_due_date=due,
        )
        account_plans.add_plan_item(session, viewer=user, account_id=account_id, item=item)
    except ValidationFailed as exc:
        return _plan_page(request, session, user, account_id, exc)
    return RedirectResponse(f"/accounts/{account_id}/plan", status_code=303)


@router.post("/accounts/{account_id}/plan/white-space", dependencies=[CsrfProtected])
def set_white_space(
    request: Request,
    account_id: ObjectId,
    user: PageUser,
    session: SessionDep,
    product: Annotated[str, Form(max_length=120)],
    business_unit: Annotated[str, Form(max_length=120)],
    status: Annotated[str, Form(max_length=20)],
) -> Response:
    """Set one white-space cell."""
    try:
        if not product.strip() or not business_unit.strip():
            raise ValidationFailed("choose a product and a business unit", field="product", value=product)
        cell = WhiteSpaceUpdate(product=product.strip(), business_unit=business_unit.strip(), status=status)
        account_plans.set_white_space(session, viewer=user, account_id=account_id, cell=cell)
    except ValidationFailed as exc:
        return _plan_page(request, session, user, account_id, exc)
    return RedirectResponse(f"/accounts/{account_id}/plan", status_code=303)
