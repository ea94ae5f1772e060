"""Slices: what a metric is grouped by (office, team, manager, rep, segment, product, priority, period).

A slice is a key and a label column plus the joins that bring them in, applied to any grouped
query whose subject (opportunities or activities) has an owner, an account and a deal. Offices are
rolled up the org tree: a region's figure includes every team below it.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, case, literal, null, select, union_all
from sqlalchemy.orm import Session, aliased

from bridgehead.auth.models import User
from bridgehead.common.types import Period
from bridgehead.crm.models import Opportunity, OrgUnit, OrgUnitKind
from bridgehead.intelligence.metrics.scope import org_unit_closure
from bridgehead.strategy.models import PipelineDefinition, Priority, Segment, SegmentMember
from bridgehead.strategy.pipelines import counts_toward_any


class Dimension(enum.StrEnum):
    """What a metric can be sliced by."""

    ALL = "all"
    OFFICE = "office"
    TEAM = "team"
    MANAGER = "manager"
    REP = "rep"
    SEGMENT = "segment"
    PRODUCT = "product"
    PRIORITY = "priority"


NONE_LABELS = {
    Dimension.ALL: "All",
    Dimension.OFFICE: "(no office)",
    Dimension.TEAM: "(no team)",
    Dimension.MANAGER: "(no manager)",
    Dimension.REP: "(no owner)",
    Dimension.SEGMENT: "(no segment)",
    Dimension.PRODUCT: "(no product)",
    Dimension.PRIORITY: "(no priority)",
}


@dataclass(frozen=True)
class Subject:
    """The columns of the table a grouped query counts: who owns a row, its account, its deal."""

    owner: Any
    account: Any
    opportunity_id: Any
    is_opportunity: bool


OPPORTUNITY_SUBJECT = Subject(
    owner=Opportunity.owner_id,
    account=Opportunity.account_id,
    opportunity_id=Opportunity.id,
    is_opportunity=True,
)


@dataclass(frozen=True)
class Slice:
    """A grouping: key and label columns and the outer joins they need."""

    dimension: Dimension
    key: Any
    label: Any
    joins: tuple[tuple[Any, Any], ...] = ()

    def apply(self, statement: Any) -> Any:
        """``statement`` with this slice's joins (outer, so rows without a key still count)."""
        for target, on in self.joins:
            statement = statement.outerjoin(target, on)
        return statement


def whole() -> Slice:
    """No grouping: one row for everything in scope."""
    return Slice(Dimension.ALL, literal("all"), literal("All"))


def _priority_membership(session: Session) -> Any:
    """(opportunity id, priority id) for every deal counting toward a priority, as one UNION ALL."""
    definitions = session.scalars(select(PipelineDefinition).order_by(PipelineDefinition.priority_id)).all()
    by_priority: dict[int, list[PipelineDefinition]] = {}
    for definition in definitions:
        by_priority.setdefault(definition.priority_id, []).append(definition)
    selects = [
        select(Opportunity.id.label("opportunity_id"), literal(priority_id).label("priority_id")).where(
            counts_toward_any(group)
        )
        for priority_id, group in by_priority.items()
    ]
    if not selects:
        # No priority has a pipeline definition: an empty membership of the right shape.
        return (
            select(Opportunity.id.label("opportunity_id"), literal(0).label("priority_id"))
            .where(Opportunity.id.is_(None))
            .subquery("priority_membership")
        )
    return union_all(*selects).subquery("priority_membership")


def build_slice(session: Session, dimension: Dimension, subject: Subject = OPPORTUNITY_SUBJECT) -> Slice:
    """The slice for ``dimension`` over ``subject`` (opportunities unless told otherwise)."""
    if dimension == Dimension.ALL:
        return whole()
    owner = aliased(User, name="slice_owner")
    owner_join = (owner, owner.id == subject.owner)
    if dimension == Dimension.REP:
        return Slice(dimension, owner.id, owner.full_name, (owner_join,))
    if dimension == Dimension.MANAGER:
        manager = aliased(User, name="slice_manager")
        return Slice(
            dimension, manager.id, manager.full_name, (owner_join, (manager, manager.id == owner.manager_id))
        )
    if dimension == Dimension.TEAM:
        team = aliased(OrgUnit, name="slice_team")
        return Slice(dimension, team.id, team.name, (owner_join, (team, team.id == owner.org_unit_id)))
    if dimension == Dimension.OFFICE:
        closure = org_unit_closure()
        office = aliased(OrgUnit, name="slice_office")
        office_joins: tuple[tuple[Any, Any], ...] = (
            owner_join,
            (
                closure,
                and_(closure.c.unit_id == owner.org_unit_id, closure.c.ancestor_kind == OrgUnitKind.REGION),
            ),
            (office, office.id == closure.c.ancestor_id),
        )
        return Slice(dimension, office.id, office.name, office_joins)
    if dimension == Dimension.SEGMENT:
        member = aliased(SegmentMember, name="slice_member")
        segment = aliased(Segment, name="slice_segment")
        segment_joins: tuple[tuple[Any, Any], ...] = (
            (member, member.account_id == subject.account),
            (segment, segment.id == member.segment_id),
        )
        return Slice(dimension, segment.id, segment.name, segment_joins)
    if dimension == Dimension.PRODUCT:
        if subject.is_opportunity:
            return Slice(dimension, Opportunity.product, Opportunity.product)
        deal = aliased(Opportunity, name="slice_deal")
        return Slice(dimension, deal.product, deal.product, ((deal, deal.id == subject.opportunity_id),))
    membership = _priority_membership(session)
    priority = aliased(Priority, name="slice_priority")
    joins: tuple[tuple[Any, Any], ...] = (
        (membership, membership.c.opportunity_id == subject.opportunity_id),
        (priority, priority.id == membership.c.priority_id),
    )
    return Slice(dimension, priority.id, priority.title, joins)


def period_slice(column: Any, periods: Sequence[Period], *, is_datetime: bool) -> Slice:
    """A slice by period over a date (or UTC datetime) column: the label of the period containing it."""

    def bound(day: dt.date) -> Any:
        return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC) if is_datetime else day

    whens = [
        (and_(column >= bound(period.start), column < bound(period.end)), literal(period.label))
        for period in periods
    ]
    key = case(*whens, else_=null())
    return Slice(Dimension.ALL, key, key)
