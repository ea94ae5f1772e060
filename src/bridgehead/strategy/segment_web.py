"""Pages of segments (list, rule editor with live preview), ICP fit and pipeline definitions."""

from __future__ import annotations

import json
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import RedirectResponse
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.responses import Response

from bridgehead.auth.models import User
from bridgehead.common.pagination import PageRequest
from bridgehead.common.types import MAX_ID
from bridgehead.errors import BridgeheadError, ValidationFailed
from bridgehead.strategy import icp, pipelines, segments
from bridgehead.strategy.models import BusinessKind, Priority, SegmentMember, SegmentStance
from bridgehead.strategy.rules import field_catalogue
from bridgehead.strategy.segment_forms import (
    RuleForm,
    apply_editor_action,
    form_for_rule,
    form_from_fields,
    rule_from_form,
)
from bridgehead.strategy.segment_schemas import (
    IcpCriterionCreate,
    IcpCriterionUpdate,
    PipelineDefinitionCreate,
    SegmentCreate,
    SegmentUpdate,
)
from bridgehead.web.deps import CsrfProtected, PageUser, SessionDep
from bridgehead.web.templating import render

router = APIRouter(include_in_schema=False)
ObjectId = Annotated[int, Path(ge=1, le=MAX_ID)]
MEMBERS_PAGE_SIZE = 25
FIT_LIST_SIZE = 10


async def _form_data(request: Request) -> FormData:
    return await request.form()


SubmittedForm = Annotated[FormData, Depends(_form_data)]


def _text_fields(form: FormData) -> dict[str, str]:
    return {key: value for key, value in form.items() if isinstance(value, str)}


def _priority_choices(session: Session) -> list[tuple[int, str]]:
    rows = session.execute(select(Priority.id, Priority.title).order_by(Priority.title, Priority.id))
    return [(int(row.id), str(row.title)) for row in rows]


def _editor_context(session: Session, user: User, rule_form: RuleForm) -> dict[str, Any]:
    catalogue = field_catalogue(segments.custom_field_keys(session))
    return {
        "rule_form": rule_form,
        "fields": catalogue,
        "ops_by_field": {info.name: info.ops for info in catalogue},
        "stances": [stance.value for stance in SegmentStance],
        "priorities": _priority_choices(session),
        "can_edit": segments.can_edit(user),
    }


def _error_text(error: BridgeheadError) -> str:
    return error.message


ModelT = TypeVar("ModelT", bound=BaseModel)


def _model(model: type[ModelT], **values: Any) -> ModelT:
    """Build an edge model from form values; its refusal becomes a ValidationFailed naming the field."""
    try:
        return model(**values)
    except PydanticValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first.get("loc", ())) or None
        raise ValidationFailed(
            f"{field}: {first.get('msg', 'invalid value')}", field=field, value=first.get("input")
        ) from None


# --- segments ----------------------------------------------------------------------------------


@router.get("/strategy/segments")
def segments_page(request: Request, user: PageUser, session: SessionDep) -> Response:
    """Every segment with stance, rule, member count, linked priorities, and their overlaps."""
    items = segments.list_segments(session)
    return render(
        request,
        "strategy/segments/list.html",
        {
            "segments": items,
            "overlaps": segments.overlap_matrix(session),
            "priority_titles": dict(_priority_choices(session)),
            "can_edit": segments.can_edit(user),
        },
    )


@router.post("/strategy/segments/evaluate", dependencies=[CsrfProtected])
def evaluate_all(request: Request, user: PageUser, session: SessionDep) -> Response:
    """Re-evaluate every active segment and rescore ICP fit now (planners, admins)."""
    segments.require_editor(user)
    segments.evaluate_segments(session)
    icp.score_accounts(session)
    return RedirectResponse("/strategy/segments", status_code=303)


@router.get("/strategy/segments/new")
def new_segment_page(request: Request, user: PageUser, session: SessionDep) -> Response:
    """An empty rule editor (planners, admins)."""
    segments.require_editor(user)
    context = _editor_context(
        session, user, form_for_rule({"all": [{"field": "industry", "op": "in", "value": []}]})
    )
    context["rule_form"].rows[0].value = ""
    context.update({"segment": None, "values": {"stance": "invest", "is_active": True, "priority_ids": []}})
    return render(request, "strategy/segments/edit.html", context)


def _segment_values(form: FormData) -> dict[str, Any]:
    return {
        "name": str(form.get("name", "")),
        "description": str(form.get("description", "")),
        "stance": str(form.get("stance", "")),
        "is_active": form.get("is_active") == "on",
        "priority_ids": [
            int(item)
            for item in form.getlist("priority_ids")
            if isinstance(item, str) and item.isdigit() and len(item) < 19
        ],
    }


def _stance(text: str) -> SegmentStance:
    try:
        return SegmentStance(text)
    except ValueError:
        raise ValidationFailed(
            "choose a stance: invest, maintain or deprioritise", field="stance", value=text
        ) from None


def _render_editor_with_error(
    request: Request,
    session: SessionDep,
    user: User,
    form: FormData,
    error: BridgeheadError,
    segment_id: int | None,
) -> Response:
    context = _editor_context(session, user, form_from_fields(_text_fields(form)))
    segment = segments.read_segment(session, segment_id=segment_id) if segment_id else None
    context.update({"segment": segment, "values": _segment_values(form), "error": _error_text(error)})
    return render(request, "strategy/segments/edit.html", context, status_code=error.http_status)


@router.post("/strategy/segments/new", dependencies=[CsrfProtected])
def create_segment(request: Request, user: PageUser, session: SessionDep, form: SubmittedForm) -> Response:
    """Save a new segment; on bad input show the editor again with the reason, nothing stored."""
    values = _segment_values(form)
    try:
        rule = rule_from_form(form_from_fields(_text_fields(form)))
        created = segments.create_segment(
            session,
            actor=user,
            data=_model(
                SegmentCreate,
                name=values["name"] or " ",
                description=values["description"],
                stance=_stance(values["stance"]),
                rule=rule,
                priority_ids=values["priority_ids"],
                is_active=values["is_active"],
            ),
        )
    except BridgeheadError as error:
        session.rollback()
        return _render_editor_with_error(request, session, user, form, error, None)
    return RedirectResponse(f"/strategy/segments/{created.id}", status_code=303)


@router.get("/strategy/segments/{segment_id}")
def segment_page(
    request: Request,
    segment_id: ObjectId,
    user: PageUser,
    session: SessionDep,
    query: Annotated[PageRequest, Query()],
) -> Response:
    """The rule editor of one segment (read-only for roles that may not edit), with its members."""
    segment = segments.read_segment(session, segment_id=segment_id)
    context = _editor_context(session, user, form_for_rule(segment.rule))
    members = segments.list_members(
        session,
        viewer=user,
        segment_id=segment_id,
        page=PageRequest(page=query.page, page_size=MEMBERS_PAGE_SIZE),
    )
    context.update(
        {
            "segment": segment,
            "members": members,
            "values": {
                "name": segment.name,
                "description": segment.description,
                "stance": segment.stance.value,
                "is_active": segment.is_active,
                "priority_ids": segment.priority_ids,
            },
        }
    )
    return render(request, "strategy/segments/edit.html", context)


@router.post("/strategy/segments/{segment_id}", dependencies=[CsrfProtected])
def update_segment(
    request: Request, segment_id: ObjectId, user: PageUser, session: SessionDep, form: SubmittedForm
) -> Response:
    """Save changes to a segment; on bad input show the editor again with the reason, nothing stored."""
    values = _segment_values(form)
    try:
        rule = rule_from_form(form_from_fields(_text_fields(form)))
        segments.update_segment(
            session,
            actor=user,
            segment_id=segment_id,
            data=_model(
                SegmentUpdate,
                name=values["name"] or " ",
                description=values["description"],
                stance=_stance(values["stance"]),
                rule=rule,
                priority_ids=values["priority_ids"],
                is_active=values["is_active"],
            ),
        )
    except BridgeheadError as error:
        session.rollback()
        return _render_editor_with_error(request, session, user, form, error, segment_id)
    return RedirectResponse(f"/strategy/segments/{segment_id}?saved=1", status_code=303)


@router.post("/strategy/segments/{segment_id}/delete", dependencies=[CsrfProtected])
def delete_segment(request: Request, segment_id: ObjectId, user: PageUser, session: SessionDep) -> Response:
    """Delete a segment (planners, admins)."""
    segments.delete_segment(session, actor=user, segment_id=segment_id)
    return RedirectResponse("/strategy/segments", status_code=303)


@router.post("/strategy/segments-editor/preview", dependencies=[CsrfProtected])
def preview_fragment(request: Request, user: PageUser, session: SessionDep, form: SubmittedForm) -> Response:
    """The live preview (htmx): what the rule being edited matches now; stores nothing."""
    fields = _text_fields(form)
    segment_text = fields.get("segment_id", "")
    segment_id = int(segment_text) if segment_text.isdigit() else None
    try:
        rule = rule_from_form(form_from_fields(fields))
        preview = segments.preview_rule(session, viewer=user, rule=rule, exclude_segment_id=segment_id)
    except ValidationFailed as error:
        return render(request, "strategy/segments/_preview.html", {"error": error, "preview": None})
    return render(
        request,
        "strategy/segments/_preview.html",
        {"preview": preview, "error": None, "rule_json": json.dumps(rule, indent=2, ensure_ascii=False)},
    )


@router.post("/strategy/segments-editor/conditions", dependencies=[CsrfProtected])
def conditions_fragment(
    request: Request, user: PageUser, session: SessionDep, form: SubmittedForm
) -> Response:
    """The condition rows again (htmx) after adding or removing a row or changing a row's field."""
    fields = _text_fields(form)
    rule_form = apply_editor_action(form_from_fields(fields), fields.get("editor_action", ""))
    response = render(
        request, "strategy/segments/_conditions.html", _editor_context(session, user, rule_form)
    )
    # The preview listens for this event: the rows changed without a change event in the form.
    response.headers["HX-Trigger"] = "conditions-changed"
    return response


# --- ICP ---------------------------------------------------------------------------------------


def _icp_context(session: Session, user: User) -> dict[str, Any]:
    criteria = [icp.criterion_read(criterion) for criterion in icp.list_criteria(session)]
    top = PageRequest(page=1, page_size=FIT_LIST_SIZE)
    return {
        "criteria": criteria,
        "match_counts": icp.criterion_match_counts(session),
        "distribution": icp.score_distribution(session),
        "top": icp.list_fits(session, viewer=user, order="top", page=top),
        "bottom": icp.list_fits(session, viewer=user, order="bottom", page=top),
        "can_edit": segments.can_edit(user),
        "total_weight": sum(criterion.weight for criterion in criteria),
    }


@router.get("/strategy/icp")
def icp_page(request: Request, user: PageUser, session: SessionDep) -> Response:
    """ICP criteria with weights, the score distribution, and the best and worst fitting accounts."""
    return render(request, "strategy/segments/icp.html", _icp_context(session, user))


def _int_field(form: FormData, name: str) -> int:
    text = str(form.get(name, "")).strip()
    if not text.lstrip("-").isdigit():
        raise ValidationFailed(f"{name} must be a whole number", field=name, value=text)
    return int(text)


def _json_rule(form: FormData) -> dict[str, Any]:
    return rule_from_form(RuleForm(mode="json", rule_json=str(form.get("rule_json", ""))))


@router.post("/strategy/icp/criteria", dependencies=[CsrfProtected])
def create_criterion(request: Request, user: PageUser, session: SessionDep, form: SubmittedForm) -> Response:
    """Add an ICP criterion (planners, admins); on bad input show the page with the reason."""
    try:
        weight = _int_field(form, "weight")
        if not 1 <= weight <= 100:
            raise ValidationFailed("weight must be between 1 and 100", field="weight", value=weight)
        label = str(form.get("label", "")).strip()
        if not label:
            raise ValidationFailed("a criterion needs a label", field="label", value=label)
        icp.create_criterion(
            session,
            actor=user,
            data=_model(IcpCriterionCreate, label=label[:200], rule=_json_rule(form), weight=weight),
        )
    except BridgeheadError as error:
        session.rollback()
        context = _icp_context(session, user)
        context.update({"error": _error_text(error), "form_values": _text_fields(form)})
        return render(request, "strategy/segments/icp.html", context, status_code=error.http_status)
    return RedirectResponse("/strategy/icp", status_code=303)


@router.post("/strategy/icp/criteria/{criterion_id}", dependencies=[CsrfProtected])
def update_criterion(
    request: Request, criterion_id: ObjectId, user: PageUser, session: SessionDep, form: SubmittedForm
) -> Response:
    """Change a criterion's weight (planners, admins)."""
    try:
        weight = _int_field(form, "weight")
        if not 1 <= weight <= 100:
            raise ValidationFailed("weight must be between 1 and 100", field="weight", value=weight)
        icp.update_criterion(
            session, actor=user, criterion_id=criterion_id, data=IcpCriterionUpdate(weight=weight)
        )
    except ValidationFailed as error:
        session.rollback()
        context = _icp_context(session, user)
        context.update({"error": _error_text(error)})
        return render(request, "strategy/segments/icp.html", context, status_code=422)
    return RedirectResponse("/strategy/icp", status_code=303)


@router.post("/strategy/icp/criteria/{criterion_id}/delete", dependencies=[CsrfProtected])
def delete_criterion(
    request: Request, criterion_id: ObjectId, user: PageUser, session: SessionDep
) -> Response:
    """Remove a criterion (planners, admins)."""
    icp.delete_criterion(session, actor=user, criterion_id=criterion_id)
    return RedirectResponse("/strategy/icp", status_code=303)


@router.get("/strategy/accounts/{account_id}/fit")
def account_fit_fragment(
    request: Request, account_id: ObjectId, user: PageUser, session: SessionDep
) -> Response:
    """The ICP fit and segments of one account, loaded into the account page by htmx."""
    fit = icp.account_fit(session, viewer=user, account_id=account_id)
    member_of = session.execute(
        select(SegmentMember.segment_id).where(SegmentMember.account_id == account_id)
    ).scalars()
    wanted = set(member_of)
    in_segments = [segment for segment in segments.list_segments(session) if segment.id in wanted]
    return render(request, "strategy/segments/_account_fit.html", {"fit": fit, "in_segments": in_segments})


# --- pipeline definitions ----------------------------------------------------------------------


def _pipelines_context(session: Session, user: User) -> dict[str, Any]:
    definitions = pipelines.list_definitions(session)
    return {
        "definitions": [
            (definition, pipelines.preview_definition(session, viewer=user, definition=definition))
            for definition in definitions
        ],
        "priority_titles": dict(_priority_choices(session)),
        "priorities": _priority_choices(session),
        "segments": segments.list_segments(session),
        "segment_names": {segment.id: segment.name for segment in segments.list_segments(session)},
        "kinds": [kind.value for kind in BusinessKind],
        "can_edit": segments.can_edit(user),
    }


@router.get("/strategy/pipelines")
def pipelines_page(request: Request, user: PageUser, session: SessionDep) -> Response:
    """Pipeline definitions per priority with what each counts now."""
    return render(request, "strategy/segments/pipelines.html", _pipelines_context(session, user))


def _labels(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


@router.post("/strategy/pipelines", dependencies=[CsrfProtected])
def create_definition(request: Request, user: PageUser, session: SessionDep, form: SubmittedForm) -> Response:
    """Add a pipeline definition (planners, admins); on bad input show the page with the reason."""
    try:
        kind_text = str(form.get("business_kind", "any"))
        if kind_text not in {kind.value for kind in BusinessKind}:
            raise ValidationFailed("choose new, existing or any", field="business_kind", value=kind_text)
        segment_text = str(form.get("segment_id", "")).strip()
        name = str(form.get("name", "")).strip()
        if not name:
            raise ValidationFailed("a definition needs a name", field="name", value=name)
        pipelines.create_definition(
            session,
            actor=user,
            data=_model(
                PipelineDefinitionCreate,
                priority_id=_int_field(form, "priority_id"),
                name=name[:120],
                segment_id=int(segment_text) if segment_text.isdigit() else None,
                products=_labels(str(form.get("products", ""))),
                opportunity_types=_labels(str(form.get("opportunity_types", ""))),
                business_kind=BusinessKind(kind_text),
            ),
        )
    except BridgeheadError as error:
        session.rollback()
        context = _pipelines_context(session, user)
        context.update({"error": _error_text(error), "form_values": _text_fields(form)})
        return render(request, "strategy/segments/pipelines.html", context, status_code=error.http_status)
    return RedirectResponse("/strategy/pipelines", status_code=303)


@router.post("/strategy/pipelines/{definition_id}/delete", dependencies=[CsrfProtected])
def delete_definition(
    request: Request, definition_id: ObjectId, user: PageUser, session: SessionDep
) -> Response:
    """Remove a pipeline definition (planners, admins)."""
    pipelines.delete_definition(session, actor=user, definition_id=definition_id)
    return RedirectResponse("/strategy/pipelines", status_code=303)
