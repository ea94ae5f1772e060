"""Priorities: stating intent, restating it down the org tree, changing it, and its version history.

Every change bumps ``Priority.version``, keeps the full statement in ``priority_version`` (with the
date it applies from, who and why) and writes an audit entry. Who may write is decided here, not in
the pages: executives and admins write company priorities; a manager writes restatements for units
in their own line; everyone else reads.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Integer, func, literal_column, select
from sqlalchemy.orm import Session, aliased

from bridgehead.audit.service import record_change
from bridgehead.auth.models import User
from bridgehead.crm.models import OrgUnit
from bridgehead.crm.schemas import UserRef
from bridgehead.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from bridgehead.strategy import orgtree
from bridgehead.strategy.models import Priority, PriorityStatus, PriorityVersion
from bridgehead.strategy.schemas import (
    FieldChange,
    PriorityCreate,
    PriorityFilters,
    PriorityRead,
    PriorityStatement,
    PriorityUpdate,
    PriorityVersionRead,
    RestatementCreate,
    UnitRef,
)
from bridgehead.strategy.statements import (
    FIELD_LABELS,
    STATEMENT_FIELDS,
    STATUS_MOVES,
    check_metric,
    check_status,
    check_target_value,
    check_text,
    parse_target_period,
)


def _check_owner(session: Session, owner_id: int) -> int:
    owner = session.get(User, owner_id)
    if owner is None or not owner.is_active:
        raise ValidationFailed("no such active user to own the priority", field="owner_id", value=owner_id)
    return owner.id


def _check_effective(priority: Priority | None, effective_from: dt.date | None) -> dt.date:
    day = effective_from or dt.date.today()
    if priority is not None and day < priority.effective_from:
        raise ValidationFailed(
            f"a change cannot apply before the current version does ({priority.effective_from.isoformat()})",
            field="effective_from",
            value=day.isoformat(),
        )
    return day


# --- rights ------------------------------------------------------------------------------------


def may_edit(session: Session, user: User, priority: Priority) -> bool:
    """Whether ``user`` may change ``priority``: company-level ones only executives and admins,
    restatements also the managers of that unit's line."""
    if user.role in orgtree.ORGANISATION_WRITERS:
        return True
    if priority.parent_id is None:
        return False
    return orgtree.writes_for_unit(session, user, priority.org_unit_id)


def may_create_top_level(user: User) -> bool:
    """Whether ``user`` may state a new top-level priority (executives and admins)."""
    return user.role in orgtree.ORGANISATION_WRITERS


def _require_edit(session: Session, user: User, priority: Priority) -> None:
    if not may_edit(session, user, priority):
        raise PermissionDenied(
            "only executives and admins change company priorities; managers change restatements in their line",
            role=user.role.value,
        )


# --- reading -----------------------------------------------------------------------------------


def get_priority(session: Session, priority_id: int) -> Priority:
    """The priority, or ``NotFound`` (every signed-in user reads every priority)."""
    priority = session.get(Priority, priority_id)
    if priority is None:
        raise NotFound("no such priority", field="priority_id", value=priority_id)
    return priority


def to_read(priorities: Sequence[Priority], session: Session) -> list[PriorityRead]:
    """Read models for ``priorities`` with their unit and owner (two queries for the whole list)."""
    unit_ids = {priority.org_unit_id for priority in priorities}
    owner_ids = {priority.owner_id for priority in priorities if priority.owner_id is not None}
    units = (
        {unit.id: unit for unit in session.scalars(select(OrgUnit).where(OrgUnit.id.in_(unit_ids)))}
        if unit_ids
        else {}
    )
    owners = (
        dict(session.execute(select(User.id, User.full_name).where(User.id.in_(owner_ids))).all())
        if owner_ids
        else {}
    )
    return [
        PriorityRead(
            id=priority.id,
            parent_id=priority.parent_id,
            org_unit=UnitRef(
                id=priority.org_unit_id,
                name=units[priority.org_unit_id].name,
                kind=units[priority.org_unit_id].kind.value,
            ),
            owner=UserRef(id=priority.owner_id, full_name=owners.get(priority.owner_id, ""))
            if priority.owner_id is not None
            else None,
            title=priority.title,
            intent_what=priority.intent_what,
            intent_why=priority.intent_why,
            target_metric=priority.target_metric.value,
            target_scope=priority.target_scope,
            target_value=priority.target_value,
            target_period=priority.target_period,
            boundaries=priority.boundaries,
            status=priority.status.value,
            version=priority.version,
            effective_from=priority.effective_from,
            created_at=priority.created_at,
            updated_at=priority.updated_at,
        )
        for priority in priorities
    ]  # fmt: skip


def list_priorities(session: Session, *, filters: PriorityFilters | None = None) -> list[PriorityRead]:
    """Priorities as a tree walk (each parent followed by its restatements), optionally filtered."""
    filters = filters or PriorityFilters()
    statement = select(Priority)
    if filters.status:
        statement = statement.where(Priority.status == check_status(filters.status))
    if filters.org_unit_id is not None:
        statement = statement.where(Priority.org_unit_id == filters.org_unit_id)
    if filters.parent_id is not None:
        statement = statement.where(Priority.parent_id == filters.parent_id)
    if filters.top_level:
        statement = statement.where(Priority.parent_id.is_(None))
    if filters.q:
        statement = statement.where(
            func.lower(Priority.title).contains(filters.q.strip().lower(), autoescape=True)
        )
    priorities = list(session.scalars(statement.order_by(Priority.id)))
    reads = {read.id: read for read in to_read(priorities, session)}
    children: dict[int | None, list[int]] = {}
    for priority in priorities:
        parent = priority.parent_id if priority.parent_id in reads else None
        children.setdefault(parent, []).append(priority.id)
    ordered: list[PriorityRead] = []

    def visit(parent: int | None, depth: int) -> None:
        for child_id in children.get(parent, []):
            read = reads[child_id]
            read.depth = depth
            ordered.append(read)
            visit(child_id, depth + 1)

    visit(None, 0)
    return ordered


def ancestors_of(session: Session, priority: Priority) -> list[Priority]:
    """The priority's parent, grandparent, ... up to the top-level priority (one recursive query)."""
    if priority.parent_id is None:
        return []
    chain = select(Priority.id, Priority.parent_id, literal_column("1", Integer).label("depth"))
    chain_cte = chain.where(Priority.id == priority.parent_id).cte("priority_chain", recursive=True)
    parent = aliased(Priority)
    chain_cte = chain_cte.union_all(
        select(parent.id, parent.parent_id, chain_cte.c.depth + 1).where(parent.id == chain_cte.c.parent_id)
    )
    rows = session.execute(select(chain_cte.c.id).order_by(chain_cte.c.depth)).scalars().all()
    by_id = {item.id: item for item in session.scalars(select(Priority).where(Priority.id.in_(rows)))}
    return [by_id[row] for row in rows]


def descendant_ids(session: Session, priority_id: int) -> set[int]:
    """Ids of every restatement below ``priority_id`` at any depth (one recursive query)."""
    tree = select(Priority.id).where(Priority.parent_id == priority_id).cte("priority_below", recursive=True)
    child = aliased(Priority)
    tree = tree.union_all(select(child.id).where(child.parent_id == tree.c.id))
    return set(session.scalars(select(tree.c.id)))


def restatements_of(session: Session, priority_id: int) -> list[Priority]:
    """The direct restatements of a priority, by unit name."""
    return list(
        session.scalars(
            select(Priority)
            .join(OrgUnit, OrgUnit.id == Priority.org_unit_id)
            .where(Priority.parent_id == priority_id)
            .order_by(OrgUnit.name, Priority.id)
        )
    )


def list_versions(session: Session, *, priority_id: int) -> list[PriorityVersionRead]:
    """Every version of a priority, newest first, each with the fields it changed from the one before."""
    get_priority(session, priority_id)
    rows = session.execute(
        select(PriorityVersion, User.full_name)
        .outerjoin(User, User.id == PriorityVersion.changed_by_id)
        .where(PriorityVersion.priority_id == priority_id)
        .order_by(PriorityVersion.version)
    ).all()
    reads: list[PriorityVersionRead] = []
    previous: dict[str, Any] | None = None
    for version, changed_by_name in rows:
        reads.append(
            PriorityVersionRead(
                version=version.version,
                effective_from=version.effective_from,
                changed_by=UserRef(id=version.changed_by_id, full_name=changed_by_name or "")
                if version.changed_by_id is not None
                else None,
                changed_at=version.changed_at,
                change_note=version.change_note,
                statement=version.statement,
                changes=diff_statements(previous, version.statement),
            )
        )
        previous = version.statement
    reads.reverse()
    return reads


def diff_statements(before: dict[str, Any] | None, after: dict[str, Any]) -> list[FieldChange]:
    """The fields that differ between two statements (every field for the first version)."""
    changes = []
    for field in STATEMENT_FIELDS:
        old = None if before is None else before.get(field)
        new = after.get(field)
        if before is None or old != new:
            if before is None and new in (None, ""):
                continue
            changes.append(FieldChange(field=field, label=FIELD_LABELS[field], before=old, after=new))
    return changes


# --- writing -----------------------------------------------------------------------------------


def statement_of(priority: Priority) -> dict[str, Any]:
    """The full statement of a priority as JSON-safe values (what a version keeps)."""
    return {
        "title": priority.title,
        "intent_what": priority.intent_what,
        "intent_why": priority.intent_why,
        "target_metric": priority.target_metric.value,
        "target_scope": priority.target_scope,
        "target_value": str(priority.target_value),
        "target_period": priority.target_period,
        "boundaries": priority.boundaries,
        "owner_id": priority.owner_id,
        "status": priority.status.value,
        "parent_id": priority.parent_id,
        "org_unit_id": priority.org_unit_id,
        "effective_from": priority.effective_from.isoformat(),
    }


def _record_version(session: Session, priority: Priority, *, actor: User | None, note: str) -> None:
    session.add(
        PriorityVersion(
            priority_id=priority.id,
            version=priority.version,
            effective_from=priority.effective_from,
            changed_by_id=actor.id if actor else None,
            change_note=note,
            statement=statement_of(priority),
        )
    )
    session.flush()


def _apply_statement(session: Session, priority: Priority, data: PriorityStatement) -> None:
    metric = check_metric(data.target_metric)
    priority.title = check_text(data.title, "title")
    priority.intent_what = check_text(data.intent_what, "intent_what")
    priority.intent_why = check_text(data.intent_why, "intent_why")
    priority.target_metric = metric
    priority.target_scope = check_text(data.target_scope, "target_scope", required=False)
    priority.target_value = check_target_value(metric, data.target_value)
    priority.target_period = parse_target_period(data.target_period).label
    priority.boundaries = check_text(data.boundaries, "boundaries", required=False)
    priority.status = check_status(data.status)


def create_priority(session: Session, *, actor: User, data: PriorityCreate) -> Priority:
    """State a new top-level priority (executives and admins); version 1 is recorded."""
    if not may_create_top_level(actor):
        raise PermissionDenied("only executives and admins state top-level priorities", role=actor.role.value)
    unit = (
        orgtree.get_unit(session, data.org_unit_id)
        if data.org_unit_id is not None
        else orgtree.company_unit(session)
    )
    priority = Priority(org_unit_id=unit.id, parent_id=None, version=1)
    _apply_statement(session, priority, data)
    priority.owner_id = _check_owner(session, data.owner_id if data.owner_id is not None else actor.id)
    priority.effective_from = _check_effective(None, data.effective_from)
    session.add(priority)
    session.flush()
    _record_version(
        session,
        priority,
        actor=actor,
        note=check_text(data.change_note, "change_note", required=False) or "Stated",
    )
    record_change(
        session,
        actor_id=actor.id,
        action="create",
        object_type="priority",
        object_id=priority.id,
        before=None,
        after=statement_of(priority),
    )
    return priority


def restate_priority(session: Session, *, actor: User, parent_id: int, data: RestatementCreate) -> Priority:
    """Restate ``parent_id`` for a unit strictly below the parent's unit (a manager of that unit's line,
    or an executive/admin); version 1 of the child is recorded."""
    parent = get_priority(session, parent_id)
    unit = orgtree.get_unit(session, data.org_unit_id)
    if not orgtree.writes_for_unit(session, actor, unit.id):
        raise PermissionDenied(
            "you may restate priorities only for your own unit and the units below it",
            field="org_unit_id",
            value=unit.id,
            role=actor.role.value,
        )
    if not orgtree.is_within(session, unit.id, parent.org_unit_id, strictly=True):
        raise ValidationFailed(
            "a restatement must be for a unit below the parent priority's unit",
            field="org_unit_id",
            value=unit.id,
        )
    if parent.status == PriorityStatus.DROPPED:
        raise Conflict(
            "the parent priority was dropped; it cannot be restated", field="parent_id", value=parent.id
        )
    priority = Priority(org_unit_id=unit.id, parent_id=parent.id, version=1)
    _apply_statement(session, priority, data)
    priority.owner_id = _check_owner(session, data.owner_id if data.owner_id is not None else actor.id)
    priority.effective_from = _check_effective(None, data.effective_from)
    session.add(priority)
    session.flush()
    note = (
        check_text(data.change_note, "change_note", required=False) or f"Restated from priority {parent.id}"
    )
    _record_version(session, priority, actor=actor, note=note)
    record_change(
        session,
        actor_id=actor.id,
        action="restate",
        object_type="priority",
        object_id=priority.id,
        before=None,
        after=statement_of(priority),
    )
    return priority


def _check_move(session: Session, priority: Priority, parent_id: int | None, unit_id: int) -> None:
    """The tree stays a tree: no cycles, every child strictly below its parent's unit."""
    if parent_id is not None:
        if parent_id == priority.id or parent_id in descendant_ids(session, priority.id):
            raise ValidationFailed(
                "a priority cannot move under itself or one of its own restatements",
                field="parent_id",
                value=parent_id,
            )
        parent = get_priority(session, parent_id)
        if not orgtree.is_within(session, unit_id, parent.org_unit_id, strictly=True):
            raise ValidationFailed(
                "a restatement must be for a unit below the parent priority's unit",
                field="parent_id" if unit_id == priority.org_unit_id else "org_unit_id",
                value=parent_id if unit_id == priority.org_unit_id else unit_id,
            )
    children_units = session.scalars(
        select(Priority.org_unit_id).where(Priority.parent_id == priority.id)
    ).all()
    for child_unit in set(children_units):
        if not orgtree.is_within(session, child_unit, unit_id, strictly=True):
            raise ValidationFailed(
                "the priority's restatements would no longer be below its unit",
                field="org_unit_id",
                value=unit_id,
            )


def update_priority(session: Session, *, actor: User, priority_id: int, data: PriorityUpdate) -> Priority:
    """Change a priority (only the fields sent); a real change makes a new version with its effective date.

    Moving a priority (``parent_id``/``org_unit_id``) keeps the tree acyclic and every restatement
    below its parent's unit. Sending nothing that differs changes nothing and returns the priority.
    """
    priority = get_priority(session, priority_id)
    _require_edit(session, actor, priority)
    sent = data.model_fields_set
    before = statement_of(priority)
    metric = (
        check_metric(data.target_metric)
        if "target_metric" in sent and data.target_metric is not None
        else priority.target_metric
    )
    for field in ("title", "intent_what", "intent_why"):
        if field in sent:
            setattr(priority, field, check_text(getattr(data, field), field))
    for field in ("target_scope", "boundaries"):
        if field in sent:
            setattr(priority, field, check_text(getattr(data, field), field, required=False))
    if "target_metric" in sent or "target_value" in sent:
        value = (
            data.target_value
            if "target_value" in sent and data.target_value is not None
            else priority.target_value
        )
        priority.target_value = check_target_value(metric, value)
        priority.target_metric = metric
    if "target_period" in sent:
        priority.target_period = parse_target_period(data.target_period or "").label
    if "owner_id" in sent and data.owner_id is not None:
        priority.owner_id = _check_owner(session, data.owner_id)
    if "status" in sent and data.status is not None:
        status = check_status(data.status)
        if status != priority.status and status not in STATUS_MOVES[priority.status]:
            raise ValidationFailed(
                f"a {priority.status.value} priority cannot become {status.value}",
                field="status",
                value=status.value,
            )
        priority.status = status
    new_parent = data.parent_id if "parent_id" in sent else priority.parent_id
    new_unit = (
        data.org_unit_id if "org_unit_id" in sent and data.org_unit_id is not None else priority.org_unit_id
    )
    if (new_parent, new_unit) != (priority.parent_id, priority.org_unit_id):
        orgtree.get_unit(session, new_unit)
        if (new_parent is None) != (priority.parent_id is None) and not may_create_top_level(actor):
            raise PermissionDenied(
                "only executives and admins make or unmake top-level priorities", role=actor.role.value
            )
        _check_move(session, priority, new_parent, new_unit)
        if not orgtree.writes_for_unit(session, actor, new_unit):
            raise PermissionDenied(
                "you may move priorities only within your own line", field="org_unit_id", value=new_unit
            )
        priority.parent_id = new_parent
        priority.org_unit_id = new_unit
    after = statement_of(priority)
    if after == before:
        return priority
    priority.effective_from = _check_effective(priority, data.effective_from)
    priority.version += 1
    session.flush()
    note = check_text(data.change_note, "change_note", required=False)
    _record_version(session, priority, actor=actor, note=note)
    record_change(
        session,
        actor_id=actor.id,
        action="update",
        object_type="priority",
        object_id=priority.id,
        before=before,
        after=statement_of(priority),
    )
    return priority
