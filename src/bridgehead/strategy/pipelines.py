"""Pipeline definitions: which opportunities count toward a priority, as one SQL condition.

Everything that needs "the pipeline of priority P" (trace, metrics sliced by priority, gap detectors,
initiative value) builds its query from ``counts_toward`` so the rule is written once.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, and_, case, exists, false, func, or_, select, true, type_coerce
from sqlalchemy.orm import Session, aliased

from bridgehead.audit.service import record_change
from bridgehead.auth.models import Role, User
from bridgehead.auth.service import require_role, visibility_for
from bridgehead.common.types import MoneyAmount
from bridgehead.crm.models import Opportunity
from bridgehead.errors import NotFound, ValidationFailed
from bridgehead.strategy.models import BusinessKind, PipelineDefinition, Priority, Segment, SegmentMember
from bridgehead.strategy.segment_schemas import (
    PipelineDefinitionCreate,
    PipelineDefinitionUpdate,
    PipelinePreview,
)


def is_existing_business() -> ColumnElement[bool]:
    """True for an opportunity whose account had already won a deal when this one was created.

    Deal-type labels differ between CRMs ("Existing Business", "Expansion", "Upsell", "Renewal"),
    so the product decides from the account's own record instead of trusting the label.
    """
    earlier = aliased(Opportunity)
    return exists(
        select(earlier.id).where(
            earlier.account_id == Opportunity.account_id,
            earlier.is_won.is_(True),
            earlier.id != Opportunity.id,
            earlier.close_date.is_not(None),
            earlier.close_date < Opportunity.created_at,
        )
    )


def counts_toward(definition: PipelineDefinition) -> ColumnElement[bool]:
    """The condition, over ``Opportunity``, that an opportunity counts toward ``definition``.

    Criteria left empty match everything; all criteria that are set must hold.
    """
    conditions: list[ColumnElement[bool]] = []
    if definition.segment_id is not None:
        conditions.append(
            Opportunity.account_id.in_(
                select(SegmentMember.account_id).where(SegmentMember.segment_id == definition.segment_id)
            )
        )
    if definition.products:
        conditions.append(Opportunity.product.in_(list(definition.products)))
    if definition.opportunity_types:
        conditions.append(Opportunity.type.in_(list(definition.opportunity_types)))
    if definition.business_kind == BusinessKind.NEW:
        conditions.append(~is_existing_business())
    elif definition.business_kind == BusinessKind.EXISTING:
        conditions.append(is_existing_business())
    return and_(true(), *conditions)


def counts_toward_any(definitions: Iterable[PipelineDefinition]) -> ColumnElement[bool]:
    """The condition that an opportunity counts toward at least one of ``definitions`` (false for none)."""
    conditions = [counts_toward(definition) for definition in definitions]
    return or_(false(), *conditions)


# --- pipeline definitions: reading, changing, preview -------------------------------------------

_AUDIT_FIELDS = ["priority_id", "name", "segment_id", "products", "opportunity_types", "business_kind"]
MAX_LABEL_LENGTH = 120


def list_definitions(session: Session, *, priority_id: int | None = None) -> list[PipelineDefinition]:
    """Every pipeline definition (or those of one priority), by priority and name."""
    statement = select(PipelineDefinition).order_by(PipelineDefinition.priority_id, PipelineDefinition.name)
    if priority_id is not None:
        statement = statement.where(PipelineDefinition.priority_id == priority_id)
    return list(session.scalars(statement))


def get_definition(session: Session, *, definition_id: int) -> PipelineDefinition:
    """The definition, or ``NotFound``."""
    definition = session.get(PipelineDefinition, definition_id)
    if definition is None:
        raise NotFound("no such pipeline definition", field="definition_id", value=definition_id)
    return definition


def check_labels(values: Iterable[Any], *, field: str) -> list[str]:
    """A list of product or type names: non-empty texts, trimmed, duplicates dropped, order kept."""
    cleaned: list[str] = []
    for index, value in enumerate(values):
        if not isinstance(value, str) or not value.strip() or len(value.strip()) > MAX_LABEL_LENGTH:
            raise ValidationFailed(
                f"{field}[{index}] must be a non-empty text of at most {MAX_LABEL_LENGTH} characters",
                field=f"{field}[{index}]",
                value=value,
            )
        if value.strip() not in cleaned:
            cleaned.append(value.strip())
    return cleaned


def _check_references(session: Session, *, priority_id: int, segment_id: int | None) -> None:
    if session.get(Priority, priority_id) is None:
        raise ValidationFailed("no such priority", field="priority_id", value=priority_id)
    if segment_id is not None and session.get(Segment, segment_id) is None:
        raise ValidationFailed("no such segment", field="segment_id", value=segment_id)


def _state(definition: PipelineDefinition) -> dict[str, Any]:
    return {name: getattr(definition, name) for name in _AUDIT_FIELDS}


def create_definition(session: Session, *, actor: User, data: PipelineDefinitionCreate) -> PipelineDefinition:
    """Add a pipeline definition (planners, admins) after checking its priority and segment exist."""
    require_role(actor, Role.PLANNER, Role.ADMIN)
    _check_references(session, priority_id=data.priority_id, segment_id=data.segment_id)
    definition = PipelineDefinition(
        priority_id=data.priority_id,
        name=data.name.strip(),
        segment_id=data.segment_id,
        products=check_labels(data.products, field="products"),
        opportunity_types=check_labels(data.opportunity_types, field="opportunity_types"),
        business_kind=data.business_kind,
    )
    session.add(definition)
    session.flush()
    record_change(
        session,
        actor_id=actor.id,
        action="create",
        object_type="pipeline_definition",
        object_id=definition.id,
        before=None,
        after=_state(definition),
    )
    return definition


def update_definition(
    session: Session, *, actor: User, definition_id: int, data: PipelineDefinitionUpdate
) -> PipelineDefinition:
    """Change a pipeline definition (planners, admins); ``segment_id: null`` counts every account."""
    require_role(actor, Role.PLANNER, Role.ADMIN)
    definition = get_definition(session, definition_id=definition_id)
    before = _state(definition)
    changes = data.model_dump(exclude_unset=True)
    priority_id = changes.get("priority_id") or definition.priority_id
    segment_id = changes.get("segment_id", definition.segment_id)
    _check_references(session, priority_id=priority_id, segment_id=segment_id)
    products = (
        check_labels(changes["products"], field="products") if changes.get("products") is not None else None
    )
    types = (
        check_labels(changes["opportunity_types"], field="opportunity_types")
        if changes.get("opportunity_types") is not None
        else None
    )
    definition.priority_id = priority_id
    definition.segment_id = segment_id
    if changes.get("name") is not None:
        definition.name = changes["name"].strip()
    if products is not None:
        definition.products = products
    if types is not None:
        definition.opportunity_types = types
    if changes.get("business_kind") is not None:
        definition.business_kind = changes["business_kind"]
    session.flush()
    record_change(
        session,
        actor_id=actor.id,
        action="update",
        object_type="pipeline_definition",
        object_id=definition.id,
        before=before,
        after=_state(definition),
    )
    return definition


def delete_definition(session: Session, *, actor: User, definition_id: int) -> None:
    """Remove a pipeline definition (planners, admins)."""
    require_role(actor, Role.PLANNER, Role.ADMIN)
    definition = get_definition(session, definition_id=definition_id)
    before = _state(definition)
    session.delete(definition)
    session.flush()
    record_change(
        session,
        actor_id=actor.id,
        action="delete",
        object_type="pipeline_definition",
        object_id=definition_id,
        before=before,
        after=None,
    )


def preview_definition(session: Session, *, viewer: User, definition: PipelineDefinition) -> PipelinePreview:
    """Opportunities ``definition`` counts among those ``viewer`` may see: open count and amount, total."""
    is_open = Opportunity.is_closed.is_(False)
    visible = visibility_for(viewer).owned_by_visible(Opportunity.owner_id)
    row = session.execute(
        select(
            func.count().filter(is_open),
            type_coerce(func.coalesce(func.sum(case((is_open, Opportunity.amount))), 0), MoneyAmount()),
            func.count(),
        ).where(counts_toward(definition), visible)
    ).one()
    return PipelinePreview(open_count=row[0], open_amount=row[1], total_count=row[2])
