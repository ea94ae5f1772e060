"""Pipeline definitions: which opportunities count toward a priority, as one SQL condition.

Everything that needs "the pipeline of priority P" (trace, metrics sliced by priority, gap detectors,
initiative value) builds its query from ``counts_toward`` so the rule is written once.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import ColumnElement, and_, exists, false, or_, select, true
from sqlalchemy.orm import aliased

from bridgehead.crm.models import Opportunity
from bridgehead.strategy.models import BusinessKind, PipelineDefinition, SegmentMember


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
