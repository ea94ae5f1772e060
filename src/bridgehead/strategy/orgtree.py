"""The org-unit tree as SQL: subtrees, the ancestor/descendant closure, and who writes for which unit.

Priorities cascade down this tree and back-briefs flow up it, so every rule of the strategy domain
that says "below", "in your line" or "the next level up" is answered here, inside the database.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import CTE, Integer, Select, literal, literal_column, select
from sqlalchemy.orm import Session, aliased

from bridgehead.auth.models import Role, User
from bridgehead.crm.models import OrgUnit, OrgUnitKind
from bridgehead.errors import NotFound, ValidationFailed

# Roles that write and accept for the whole organisation.
ORGANISATION_WRITERS = frozenset({Role.ADMIN, Role.EXECUTIVE})


def subtree_ids(unit_id: int) -> Select[int]:
    """A recursive query for ``unit_id`` and every unit below it."""
    tree = select(OrgUnit.id).where(OrgUnit.id == unit_id).cte("unit_subtree", recursive=True)
    child = aliased(OrgUnit)
    tree = tree.union_all(select(child.id).where(child.parent_id == tree.c.id))
    return select(tree.c.id)


def unit_closure() -> CTE:
    """Every (ancestor_id, unit_id, depth) pair of the tree, depth 0 being the unit itself."""
    base = select(
        OrgUnit.id.label("ancestor_id"),
        OrgUnit.id.label("unit_id"),
        literal_column("0", Integer).label("depth"),
    ).cte("unit_closure", recursive=True)
    child = aliased(OrgUnit)
    return base.union_all(
        select(base.c.ancestor_id, child.id, base.c.depth + 1).where(child.parent_id == base.c.unit_id)
    )


def get_unit(session: Session, unit_id: int, *, field: str = "org_unit_id") -> OrgUnit:
    """The org unit, or ``ValidationFailed`` naming ``field`` (an unknown unit is bad input here)."""
    unit = session.get(OrgUnit, unit_id)
    if unit is None:
        raise ValidationFailed("no such org unit", field=field, value=unit_id)
    return unit


def company_unit(session: Session) -> OrgUnit:
    """The root of the tree (the company); ``NotFound`` when the organisation has no units yet."""
    unit = session.scalars(
        select(OrgUnit)
        .where(OrgUnit.parent_id.is_(None))
        .order_by((OrgUnit.kind == OrgUnitKind.COMPANY).desc(), OrgUnit.id)
        .limit(1)
    ).first()
    if unit is None:
        raise NotFound("the organisation has no org units yet; import or create them first")
    return unit


def is_within(session: Session, unit_id: int, ancestor_id: int, *, strictly: bool) -> bool:
    """Whether ``unit_id`` is ``ancestor_id`` or below it (strictly: below it only)."""
    if strictly and unit_id == ancestor_id:
        return False
    found = session.scalar(select(literal(True)).where(literal(unit_id).in_(subtree_ids(ancestor_id))))
    return found is True


def writes_for_unit(session: Session, user: User, unit_id: int) -> bool:
    """Whether ``user`` writes restatements and back-briefs for ``unit_id``: executives and admins
    everywhere, a manager for their own unit and the units below it."""
    if user.role in ORGANISATION_WRITERS:
        return True
    if user.role != Role.MANAGER or user.org_unit_id is None:
        return False
    return is_within(session, unit_id, user.org_unit_id, strictly=False)


def back_briefs_for_unit(session: Session, user: User, unit_id: int) -> bool:
    """Whether ``user`` writes back-briefs for ``unit_id``: a manager of that unit or a unit above it
    (the unit's own line), or an admin. Executives decide back-briefs; they do not write them."""
    if user.role == Role.ADMIN:
        return True
    if user.role != Role.MANAGER or user.org_unit_id is None:
        return False
    return is_within(session, unit_id, user.org_unit_id, strictly=False)


def decides_for_unit(session: Session, user: User, unit: OrgUnit) -> bool:
    """Whether ``user`` accepts or returns ``unit``'s back-briefs: a manager of the parent unit;
    executives and admins for units directly under the company (admins for every unit)."""
    if user.role == Role.ADMIN:
        return True
    if unit.parent_id is None:
        return False
    parent = session.get(OrgUnit, unit.parent_id)
    if parent is None:
        return False
    if parent.parent_id is None:
        return user.role == Role.EXECUTIVE
    return user.role == Role.MANAGER and user.org_unit_id == parent.id


@dataclass(frozen=True)
class UnitRow:
    """A unit below another, with its depth relative to it (1 = directly below)."""

    id: int
    name: str
    kind: str
    parent_id: int | None
    depth: int


def units_below(session: Session, unit_id: int) -> list[UnitRow]:
    """Every unit strictly below ``unit_id``, parents before children, siblings by name."""
    closure = unit_closure()
    rows = session.execute(
        select(OrgUnit.id, OrgUnit.name, OrgUnit.kind, OrgUnit.parent_id, closure.c.depth)
        .join(closure, closure.c.unit_id == OrgUnit.id)
        .where(closure.c.ancestor_id == unit_id, closure.c.depth > 0)
        .order_by(closure.c.depth, OrgUnit.name, OrgUnit.id)
    ).all()
    by_parent: dict[int | None, list[UnitRow]] = {}
    for row in rows:
        unit = UnitRow(row.id, row.name, str(row.kind.value), row.parent_id, int(row.depth))
        by_parent.setdefault(unit.parent_id, []).append(unit)
    ordered: list[UnitRow] = []

    def visit(parent: int) -> None:
        for unit in by_parent.get(parent, []):
            ordered.append(unit)
            visit(unit.id)

    visit(unit_id)
    return ordered
