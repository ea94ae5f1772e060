"""Pages of priorities, back-briefs and trace: the strategy tree, a priority, its forms, record traces.

Forms post back to the same page; a rule broken shows the form again with the message and what was
typed (422), and nothing is stored.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.responses import Response

from bridgehead.auth.models import Role, User
from bridgehead.auth.service import list_users
from bridgehead.common.types import MAX_ID
from bridgehead.crm.models import OrgUnit
from bridgehead.errors import BridgeheadError, Conflict, PermissionDenied, ValidationFailed
from bridgehead.strategy import backbriefs, orgtree, service, statements, trace
from bridgehead.strategy.models import Priority, PriorityStatus, TargetMetric
from bridgehead.strategy.schemas import (
    BackBriefWrite,
    PriorityCreate,
    PriorityUpdate,
    RestatementCreate,
)
from bridgehead.web.deps import CsrfProtected, PageUser, SessionDep
from bridgehead.web.templating import render

router = APIRouter(include_in_schema=False)
OWNER_ROLES = frozenset({Role.EXECUTIVE, Role.ADMIN, Role.MANAGER, Role.PLANNER})
ObjectId = Annotated[int, Path(ge=1, le=MAX_ID)]
StatementForm = Annotated[str, Form(max_length=20_000)]
OptionalForm = Annotated[str, Form(max_length=20_000)]

_STATEMENT_KEYS = (
    "title",
    "intent_what",
    "intent_why",
    "target_metric",
    "target_scope",
    "target_value",
    "target_period",
    "boundaries",
    "owner_id",
    "status",
    "effective_from",
    "change_note",
)


def _error_message(exc: Exception) -> str:
    if isinstance(exc, BridgeheadError):
        field = exc.context.get("field")
        return f"{exc.message} (field {field})" if field else exc.message
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ()))
        return f"{where}: {first.get('msg', 'invalid value')}"
    return str(exc)


def _parse_form(values: dict[str, str]) -> dict[str, Any]:
    """Form text into statement values; blanks become defaults, numbers and dates are parsed with
    errors naming the field."""
    parsed: dict[str, Any] = {}
    for key in _STATEMENT_KEYS:
        raw = values.get(key)
        if raw is None:
            continue
        text = raw.strip()
        if key == "target_value":
            try:
                parsed[key] = Decimal(text.replace(",", ""))
            except InvalidOperation:
                raise ValidationFailed("target value must be a number", field=key, value=raw) from None
        elif key == "owner_id":
            if text:
                if not text.isdigit():
                    raise ValidationFailed("choose an owner from the list", field=key, value=raw)
                parsed[key] = int(text)
        elif key == "effective_from":
            if text:
                try:
                    parsed[key] = dt.date.fromisoformat(text)
                except ValueError:
                    raise ValidationFailed(
                        "effective date must be YYYY-MM-DD", field=key, value=raw
                    ) from None
        else:
            parsed[key] = raw
    return parsed


def _form_context(session: Session, user: User) -> dict[str, Any]:
    return {
        "metrics": [(metric.value, statements.METRIC_LABELS[metric]) for metric in TargetMetric],
        "statuses": [status.value for status in PriorityStatus],
        # Priorities are owned by leaders; reps and controllers would only lengthen the list.
        "owners": [
            candidate
            for candidate in list_users(session)
            if candidate.is_active and candidate.role in OWNER_ROLES
        ],
        "today": dt.date.today().isoformat(),
    }


def _units_for_restatement(session: Session, user: User, parent_unit_id: int) -> list[orgtree.UnitRow]:
    return [
        unit
        for unit in orgtree.units_below(session, parent_unit_id)
        if orgtree.writes_for_unit(session, user, unit.id)
    ]


# --- the tree ----------------------------------------------------------------------------------


@router.get("/strategy")
def strategy_page(request: Request, user: PageUser, session: SessionDep) -> Response:
    """The priority tree: every priority, its restatements indented, back-brief status at a glance."""
    listed = service.list_priorities(session)
    counts = backbriefs.status_counts(session)
    for item in listed:
        item.back_briefs = counts.get(item.id, item.back_briefs)
    totals = {
        key: sum(getattr(item.back_briefs, key) for item in listed)
        for key in ("missing", "draft", "submitted", "returned", "accepted")
    }
    return render(
        request,
        "strategy/tree.html",
        {
            "priorities": listed,
            "totals": totals,
            "may_create": service.may_create_top_level(user),
            "work": backbriefs.work_for(session, user),
            "format_target": statements.format_target,
            "metric_label": statements.metric_label,
        },
    )


# --- a priority --------------------------------------------------------------------------------


@router.get("/strategy/priorities/new")
def new_priority_page(request: Request, user: PageUser, session: SessionDep) -> Response:
    """The form for a new top-level priority (executives and admins)."""
    if not service.may_create_top_level(user):
        raise PermissionDenied("only executives and admins state top-level priorities", role=user.role.value)
    context = _form_context(session, user)
    context.update({"mode": "new", "values": {"status": "active", "owner_id": str(user.id)}, "error": None})
    return render(request, "strategy/priority_form.html", context)


@router.post("/strategy/priorities/new", dependencies=[CsrfProtected])
def create_priority(
    request: Request,
    user: PageUser,
    session: SessionDep,
    title: StatementForm = "",
    intent_what: StatementForm = "",
    intent_why: StatementForm = "",
    target_metric: StatementForm = "",
    target_scope: OptionalForm = "",
    target_value: StatementForm = "",
    target_period: StatementForm = "",
    boundaries: OptionalForm = "",
    owner_id: OptionalForm = "",
    status: OptionalForm = "active",
    effective_from: OptionalForm = "",
    change_note: OptionalForm = "",
) -> Response:
    """Create the priority and go to its page; on a broken rule show the form again (422)."""
    values = {key: value for key, value in locals().items() if key in _STATEMENT_KEYS}
    try:
        with session.begin_nested():
            priority = service.create_priority(
                session, actor=user, data=PriorityCreate(**_parse_form(values))
            )
    except (ValidationFailed, ValidationError) as exc:
        context = _form_context(session, user)
        context.update({"mode": "new", "values": values, "error": _error_message(exc)})
        return render(request, "strategy/priority_form.html", context, status_code=422)
    return RedirectResponse(f"/strategy/priorities/{priority.id}", status_code=303)


@router.get("/strategy/priorities/{priority_id}")
def priority_page(request: Request, priority_id: ObjectId, user: PageUser, session: SessionDep) -> Response:
    """A priority: statement, target, boundaries, what executes it, restatements, back-briefs, versions."""
    traced = trace.trace_priority(session, viewer=user, priority_id=priority_id)
    priority = service.get_priority(session, priority_id)
    slots = traced.back_briefs
    decide = {
        slot.back_brief.id: backbriefs.may_decide(session, user, slot.back_brief)
        for slot in slots
        if slot.back_brief is not None
    }
    write = {
        slot.org_unit.id: orgtree.back_briefs_for_unit(session, user, slot.org_unit.id) for slot in slots
    }
    return render(
        request,
        "strategy/priority.html",
        {
            "trace": traced,
            "priority": traced.priority,
            "versions": service.list_versions(session, priority_id=priority_id),
            "may_edit": service.may_edit(session, user, priority),
            "may_restate": bool(_units_for_restatement(session, user, priority.org_unit_id)),
            "may_decide": decide,
            "may_write": write,
            "format_target": statements.format_target,
            "metric_label": statements.metric_label,
            "show_value": _value_shower(session),
        },
    )


def _unit_names(session: Session) -> dict[int, str]:
    return {unit.id: unit.name for unit in session.scalars(select(OrgUnit))}


def _value_shower(session: Session) -> Callable[[str, Any, dict[str, Any]], str]:
    """How a version diff shows a stored value: names for ids, targets with units, labels for metrics."""
    units = _unit_names(session)
    people = {candidate.id: candidate.full_name for candidate in list_users(session)}
    titles = dict(session.execute(select(Priority.id, Priority.title)).all())

    def show(field: str, value: Any, statement: dict[str, Any]) -> str:
        if value is None or value == "":
            return ""
        if field == "org_unit_id":
            return units.get(value, str(value))
        if field == "owner_id":
            return people.get(value, str(value))
        if field == "parent_id":
            return titles.get(value, str(value))
        if field == "target_metric":
            return statements.metric_label(str(value))
        if field == "target_value":
            try:
                return statements.format_target(str(statement.get("target_metric", "")), Decimal(str(value)))
            except InvalidOperation:
                return str(value)
        return str(value)

    return show


@router.get("/strategy/priorities/{priority_id}/edit")
def edit_priority_page(
    request: Request, priority_id: ObjectId, user: PageUser, session: SessionDep
) -> Response:
    """The form to change a priority (a new version)."""
    priority = service.get_priority(session, priority_id)
    if not service.may_edit(session, user, priority):
        raise PermissionDenied("you may not change this priority", role=user.role.value)
    values = {
        key: "" if value is None else str(value) for key, value in service.statement_of(priority).items()
    }
    values["effective_from"] = dt.date.today().isoformat()
    context = _form_context(session, user)
    context.update({"mode": "edit", "priority": priority, "values": values, "error": None})
    return render(request, "strategy/priority_form.html", context)


@router.post("/strategy/priorities/{priority_id}/edit", dependencies=[CsrfProtected])
def edit_priority(
    request: Request,
    priority_id: ObjectId,
    user: PageUser,
    session: SessionDep,
    title: StatementForm = "",
    intent_what: StatementForm = "",
    intent_why: StatementForm = "",
    target_metric: StatementForm = "",
    target_scope: OptionalForm = "",
    target_value: StatementForm = "",
    target_period: StatementForm = "",
    boundaries: OptionalForm = "",
    owner_id: OptionalForm = "",
    status: OptionalForm = "",
    effective_from: OptionalForm = "",
    change_note: OptionalForm = "",
) -> Response:
    """Save the change as a new version and go back to the priority."""
    values = {key: value for key, value in locals().items() if key in _STATEMENT_KEYS}
    priority = service.get_priority(session, priority_id)
    try:
        with session.begin_nested():
            data = PriorityUpdate(**_parse_form(values))
            service.update_priority(session, actor=user, priority_id=priority_id, data=data)
    except (ValidationFailed, ValidationError) as exc:
        priority = service.get_priority(session, priority_id)
        context = _form_context(session, user)
        context.update({"mode": "edit", "priority": priority, "values": values, "error": _error_message(exc)})
        return render(request, "strategy/priority_form.html", context, status_code=422)
    return RedirectResponse(f"/strategy/priorities/{priority.id}", status_code=303)


@router.get("/strategy/priorities/{priority_id}/restate")
def restate_page(request: Request, priority_id: ObjectId, user: PageUser, session: SessionDep) -> Response:
    """The form to restate a priority for a unit below it (pre-filled with the parent's statement)."""
    parent = service.get_priority(session, priority_id)
    units = _units_for_restatement(session, user, parent.org_unit_id)
    if not units:
        raise PermissionDenied("no unit below this priority is in your line", role=user.role.value)
    values = {key: "" if value is None else str(value) for key, value in service.statement_of(parent).items()}
    values.update(
        {"owner_id": str(user.id), "change_note": "", "effective_from": dt.date.today().isoformat()}
    )
    values["org_unit_id"] = str(units[0].id)
    context = _form_context(session, user)
    context.update({"mode": "restate", "parent": parent, "units": units, "values": values, "error": None})
    return render(request, "strategy/priority_form.html", context)


@router.post("/strategy/priorities/{priority_id}/restate", dependencies=[CsrfProtected])
def restate(
    request: Request,
    priority_id: ObjectId,
    user: PageUser,
    session: SessionDep,
    org_unit_id: OptionalForm = "",
    title: StatementForm = "",
    intent_what: StatementForm = "",
    intent_why: StatementForm = "",
    target_metric: StatementForm = "",
    target_scope: OptionalForm = "",
    target_value: StatementForm = "",
    target_period: StatementForm = "",
    boundaries: OptionalForm = "",
    owner_id: OptionalForm = "",
    status: OptionalForm = "active",
    effective_from: OptionalForm = "",
    change_note: OptionalForm = "",
) -> Response:
    """Create the restatement and go to it."""
    values = {key: value for key, value in locals().items() if key in (*_STATEMENT_KEYS, "org_unit_id")}
    parent = service.get_priority(session, priority_id)
    try:
        if not org_unit_id.strip().isdigit():
            raise ValidationFailed(
                "choose the unit this restatement is for", field="org_unit_id", value=org_unit_id
            )
        with session.begin_nested():
            data = RestatementCreate(org_unit_id=int(org_unit_id), **_parse_form(values))
            child = service.restate_priority(session, actor=user, parent_id=parent.id, data=data)
    except (ValidationFailed, ValidationError) as exc:
        context = _form_context(session, user)
        units = _units_for_restatement(session, user, parent.org_unit_id)
        context.update(
            {
                "mode": "restate",
                "parent": parent,
                "units": units,
                "values": values,
                "error": _error_message(exc),
            }
        )
        return render(request, "strategy/priority_form.html", context, status_code=422)
    return RedirectResponse(f"/strategy/priorities/{child.id}", status_code=303)


# --- back-briefs -------------------------------------------------------------------------------


@router.get("/strategy/priorities/{priority_id}/back-briefs/{org_unit_id}")
def back_brief_page(
    request: Request, priority_id: ObjectId, org_unit_id: ObjectId, user: PageUser, session: SessionDep
) -> Response:
    """The form for a unit's back-brief (the current text, or empty for a first draft)."""
    priority = service.get_priority(session, priority_id)
    unit = orgtree.get_unit(session, org_unit_id)
    if not orgtree.back_briefs_for_unit(session, user, unit.id):
        raise PermissionDenied(
            "only the managers of a unit's own line back-brief for it", role=user.role.value
        )
    slot = next(
        (
            item
            for item in backbriefs.back_brief_slots(session, priority_id=priority.id)
            if item.org_unit.id == unit.id
        ),
        None,
    )
    if slot is None:
        raise ValidationFailed(
            "only units below the priority's unit back-brief it", field="org_unit_id", value=unit.id
        )
    values = (
        {field: getattr(slot.back_brief, field) for field in backbriefs.CONTENT_FIELDS}
        if slot.back_brief
        else {}
    )
    return render(
        request,
        "strategy/back_brief_form.html",
        {"priority": priority, "unit": unit, "slot": slot, "values": values, "error": None},
    )


@router.post("/strategy/priorities/{priority_id}/back-briefs/{org_unit_id}", dependencies=[CsrfProtected])
def save_back_brief(
    request: Request,
    priority_id: ObjectId,
    org_unit_id: ObjectId,
    user: PageUser,
    session: SessionDep,
    plan: OptionalForm = "",
    implied_tasks: OptionalForm = "",
    resources_needed: OptionalForm = "",
    risks: OptionalForm = "",
    needs_from_others: OptionalForm = "",
    action: Annotated[str, Form(max_length=20)] = "save",
) -> Response:
    """Save the back-brief as a draft, or save and submit it; back to the priority page."""
    values = {
        "plan": plan,
        "implied_tasks": implied_tasks,
        "resources_needed": resources_needed,
        "risks": risks,
        "needs_from_others": needs_from_others,
    }
    priority = service.get_priority(session, priority_id)
    unit = orgtree.get_unit(session, org_unit_id)
    try:
        with session.begin_nested():
            back_brief = backbriefs.write_back_brief(
                session,
                actor=user,
                priority_id=priority.id,
                org_unit_id=unit.id,
                data=BackBriefWrite(**values),
            )
            if action == "submit":
                backbriefs.submit_back_brief(session, actor=user, back_brief_id=back_brief.id)
    except (ValidationFailed, Conflict) as exc:
        priority = service.get_priority(session, priority_id)
        unit = orgtree.get_unit(session, org_unit_id)
        slot = next(
            (
                item
                for item in backbriefs.back_brief_slots(session, priority_id=priority.id)
                if item.org_unit.id == unit.id
            ),
            None,
        )
        context = {
            "priority": priority,
            "unit": unit,
            "slot": slot,
            "values": values,
            "error": _error_message(exc),
        }
        return render(request, "strategy/back_brief_form.html", context, status_code=exc.http_status)
    return RedirectResponse(f"/strategy/priorities/{priority.id}#back-briefs", status_code=303)


@router.post("/strategy/back-briefs/{back_brief_id}/decide", dependencies=[CsrfProtected])
def decide_back_brief(
    back_brief_id: ObjectId,
    user: PageUser,
    session: SessionDep,
    decision: Annotated[str, Form(max_length=20)],
    comment: OptionalForm = "",
) -> Response:
    """Accept or return a submitted back-brief; back to the priority page."""
    back_brief = backbriefs.get_back_brief(session, back_brief_id)
    if decision == "accept":
        backbriefs.accept_back_brief(session, actor=user, back_brief_id=back_brief.id, comment=comment)
    elif decision == "return":
        backbriefs.return_back_brief(session, actor=user, back_brief_id=back_brief.id, comment=comment)
    else:
        raise ValidationFailed("decide accept or return", field="decision", value=decision)
    return RedirectResponse(f"/strategy/priorities/{back_brief.priority_id}#back-briefs", status_code=303)


# --- trace of a record -------------------------------------------------------------------------


@router.get("/trace/{kind}/{record_id}")
def trace_page(
    request: Request,
    kind: Annotated[str, Path(max_length=20)],
    record_id: ObjectId,
    user: PageUser,
    session: SessionDep,
) -> Response:
    """The chain from an account, opportunity or quota up to the priorities it serves; a priority's trace is its page."""
    if trace.check_kind(kind) == "priority":
        service.get_priority(session, record_id)
        return RedirectResponse(f"/strategy/priorities/{record_id}", status_code=303)
    if kind == "account":
        traced = trace.trace_account(session, viewer=user, account_id=record_id)
    elif kind == "quota":
        traced = trace.trace_quota(session, viewer=user, quota_id=record_id)
    else:
        traced = trace.trace_opportunity(session, viewer=user, opportunity_id=record_id)
    return render(
        request, "strategy/trace.html", {"trace": traced, "format_target": statements.format_target}
    )
