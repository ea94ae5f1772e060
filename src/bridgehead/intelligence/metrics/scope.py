"""Which opportunities and activities a metric counts: the viewer's visibility plus the page's filters.

Everything here returns SQL conditions, never rows, so every metric applies the same scope inside
the database. ``extra_condition`` lets other parts of intelligence (gap detectors, the three-gap
board) compute any metric over their own set of deals, e.g. ``strategy.pipelines.counts_toward``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, false, select
from sqlalchemy.orm import Session, aliased

from bridgehead.auth.models import User
from bridgehead.auth.service import Visibility, everything_visible, visibility_for
from bridgehead.common.types import Period
from bridgehead.crm.models import Activity, Opportunity, OrgUnit
from bridgehead.errors import ValidationFailed
from bridgehead.strategy.models import PipelineDefinition, Priority, Segment, SegmentMember
from bridgehead.strategy.orgtree import subtree_ids
from bridgehead.strategy.pipelines import counts_toward_any


@dataclass(frozen=True)
class MetricFilters:
    """The slice of the business a metric is computed over (all optional but the period)."""

    period: Period
    org_unit_id: int | None = None
    rep_id: int | None = None
    segment_id: int | None = None
    product: str | None = None
    priority_id: int | None = None
    target_amount: Decimal | None = None
    # Any further SQL condition over Opportunity (for detectors and the gap board); not shown to users.
    extra_condition: ColumnElement[bool] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Scope:
    """Resolved filters: the SQL conditions over opportunities and over activities."""

    filters: MetricFilters
    opportunity: list[ColumnElement[bool]]
    activity: list[ColumnElement[bool]]
    # True when the conditions select every record (a viewer who sees everything, no filter): queries
    # over tables that hang off opportunities may then skip the semi-join to them.
    unrestricted: bool = False
    # Whose records the viewer may see (quotas are read with it too).
    visibility: Visibility = field(default_factory=everything_visible, compare=False)
    # When the conditions depend on nothing but the owner (no segment, product, priority or extra
    # condition): the same conditions over any owner column, e.g. those of the counts the database
    # keeps per owner (``ActivityMonth``, ``OpportunityMonth``, ``OpenOpportunityStage``).
    owner_only: Callable[[ColumnElement[Any]], list[ColumnElement[bool]]] | None = field(
        default=None, compare=False
    )


def org_unit_closure() -> Any:
    """Every (unit, ancestor, ancestor kind) pair of the org tree, each unit its own ancestor too."""
    closure = select(
        OrgUnit.id.label("unit_id"), OrgUnit.id.label("ancestor_id"), OrgUnit.kind.label("ancestor_kind")
    ).cte("org_closure", recursive=True)
    step, parent = aliased(OrgUnit), aliased(OrgUnit)
    return closure.union_all(
        select(closure.c.unit_id, parent.id, parent.kind)
        .join(step, step.id == closure.c.ancestor_id)
        .join(parent, parent.id == step.parent_id)
    )


def _priority_condition(session: Session, priority_id: int) -> ColumnElement[bool]:
    definitions = session.scalars(
        select(PipelineDefinition).where(PipelineDefinition.priority_id == priority_id)
    ).all()
    return counts_toward_any(definitions) if definitions else false()


def check_filters(session: Session, filters: MetricFilters) -> None:
    """Refuse filters that name something that does not exist, naming the parameter."""
    lookups: list[tuple[str, int | None, Any]] = [
        ("org_unit_id", filters.org_unit_id, OrgUnit),
        ("rep_id", filters.rep_id, User),
        ("segment_id", filters.segment_id, Segment),
        ("priority_id", filters.priority_id, Priority),
    ]
    for name, value, model in lookups:
        if value is not None and session.get(model, value) is None:
            raise ValidationFailed(
                f"no such {name.removesuffix('_id').replace('_', ' ')}", field=name, value=value
            )
    if filters.target_amount is not None and filters.target_amount <= 0:
        raise ValidationFailed(
            "target must be a positive amount", field="target", value=filters.target_amount
        )


def resolve_scope(session: Session, *, viewer: User | None, filters: MetricFilters) -> Scope:
    """The SQL conditions for ``filters`` within what ``viewer`` may see (``None``: the CLI operator)."""
    check_filters(session, filters)
    visibility = visibility_for(viewer) if viewer is not None else everything_visible()
    members = (
        select(User.id).where(User.org_unit_id.in_(subtree_ids(filters.org_unit_id)))
        if filters.org_unit_id is not None
        else None
    )

    def owner_conditions(owner: ColumnElement[Any]) -> list[ColumnElement[bool]]:
        conditions = [visibility.owned_by_visible(owner)]
        if members is not None:
            conditions.append(owner.in_(members))
        if filters.rep_id is not None:
            conditions.append(owner == filters.rep_id)
        return conditions

    opportunity = owner_conditions(Opportunity.owner_id.expression)
    activity = owner_conditions(Activity.owner_id.expression)
    if filters.segment_id is not None:
        accounts = select(SegmentMember.account_id).where(SegmentMember.segment_id == filters.segment_id)
        opportunity.append(Opportunity.account_id.in_(accounts))
        activity.append(Activity.account_id.in_(accounts))
    deal_conditions: list[ColumnElement[bool]] = []
    if filters.product is not None:
        deal_conditions.append(Opportunity.product == filters.product)
    if filters.priority_id is not None:
        deal_conditions.append(_priority_condition(session, filters.priority_id))
    if filters.extra_condition is not None:
        deal_conditions.append(filters.extra_condition)
    if deal_conditions:
        opportunity.extend(deal_conditions)
        # An activity counts when it touched a deal in the slice.
        activity.append(Activity.opportunity_id.in_(select(Opportunity.id).where(*deal_conditions)))
    unrestricted = (
        visibility.sees_everything
        and not deal_conditions
        and filters.org_unit_id is None
        and filters.rep_id is None
        and filters.segment_id is None
    )
    return Scope(
        filters=filters,
        opportunity=opportunity,
        activity=activity,
        unrestricted=unrestricted,
        visibility=visibility,
        owner_only=owner_conditions if filters.segment_id is None and not deal_conditions else None,
    )
