"""Back-briefs: each unit below a priority's unit says how it will achieve the intent; the level above decides.

Workflow: draft → submitted → accepted, or → returned (comments required) → revised (a new draft,
revision + 1) → submitted → ... Every step is a ``back_brief_event`` holding the text as it stood,
and an audit entry. Writing is for the unit's own line (its managers, executives, admins); deciding
is for the next level up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, and_, func, select, type_coerce
from sqlalchemy.orm import Session, aliased

from bridgehead.audit.service import record_change, snapshot
from bridgehead.auth.models import Role, User
from bridgehead.common.types import utcnow
from bridgehead.crm.models import OrgUnit
from bridgehead.crm.schemas import UserRef
from bridgehead.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from bridgehead.strategy import orgtree
from bridgehead.strategy.models import BackBrief, BackBriefEvent, BackBriefStatus, Priority, PriorityStatus
from bridgehead.strategy.schemas import (
    BackBriefCounts,
    BackBriefEventRead,
    BackBriefRead,
    BackBriefSlot,
    BackBriefWrite,
    UnitRef,
)
from bridgehead.strategy.service import get_priority
from bridgehead.strategy.statements import check_text

MISSING = "missing"
CONTENT_FIELDS = ["plan", "implied_tasks", "resources_needed", "risks", "needs_from_others"]
_AUDIT_FIELDS = ["status", "revision", *CONTENT_FIELDS]
_OPEN_PRIORITY = frozenset({PriorityStatus.DRAFT, PriorityStatus.ACTIVE})


def _content(back_brief: BackBrief) -> dict[str, Any]:
    return {field: getattr(back_brief, field) for field in CONTENT_FIELDS}


def _event(session: Session, back_brief: BackBrief, *, action: str, actor: User, comment: str = "") -> None:
    session.add(
        BackBriefEvent(
            back_brief_id=back_brief.id,
            action=action,
            actor_id=actor.id,
            occurred_at=utcnow(),
            comment=comment,
            revision=back_brief.revision,
            content=_content(back_brief),
        )
    )
    session.flush()


def _audit(
    session: Session, back_brief: BackBrief, actor: User, action: str, before: dict[str, Any] | None
) -> None:
    record_change(
        session,
        actor_id=actor.id,
        action=action,
        object_type="back_brief",
        object_id=back_brief.id,
        before=before,
        after=snapshot(back_brief, _AUDIT_FIELDS),
    )


def get_back_brief(session: Session, back_brief_id: int) -> BackBrief:
    """The back-brief, or ``NotFound``."""
    back_brief = session.get(BackBrief, back_brief_id)
    if back_brief is None:
        raise NotFound("no such back-brief", field="back_brief_id", value=back_brief_id)
    return back_brief


def _require_writer(session: Session, actor: User, unit_id: int) -> None:
    if not orgtree.back_briefs_for_unit(session, actor, unit_id):
        raise PermissionDenied(
            "only the managers of a unit's own line back-brief for it",
            field="org_unit_id",
            value=unit_id,
            role=actor.role.value,
        )


def _require_decider(session: Session, actor: User, back_brief: BackBrief) -> None:
    unit = session.get(OrgUnit, back_brief.org_unit_id)
    if unit is None or not orgtree.decides_for_unit(session, actor, unit):
        raise PermissionDenied(
            "only a manager of the next level up (executives for regions) accepts or returns this back-brief",
            role=actor.role.value,
        )


def write_back_brief(
    session: Session, *, actor: User, priority_id: int, org_unit_id: int, data: BackBriefWrite
) -> BackBrief:
    """Write (create or change) a unit's back-brief for a priority.

    A new back-brief starts as a draft. Changing a returned or accepted one starts a new revision
    (event ``revised``, back to draft); a submitted one waits for the decision (``Conflict``).
    """
    priority = get_priority(session, priority_id)
    unit = orgtree.get_unit(session, org_unit_id)
    _require_writer(session, actor, unit.id)
    if not orgtree.is_within(session, unit.id, priority.org_unit_id, strictly=True):
        raise ValidationFailed(
            "only units below the priority's unit back-brief it", field="org_unit_id", value=unit.id
        )
    if priority.status not in _OPEN_PRIORITY:
        raise Conflict(
            f"the priority is {priority.status.value}; it takes no more back-briefs",
            field="priority_id",
            value=priority.id,
        )
    content = {field: check_text(getattr(data, field), field, required=False) for field in CONTENT_FIELDS}
    back_brief = session.scalars(
        select(BackBrief).where(BackBrief.priority_id == priority.id, BackBrief.org_unit_id == unit.id)
    ).first()
    if back_brief is None:
        back_brief = BackBrief(
            priority_id=priority.id, org_unit_id=unit.id, status=BackBriefStatus.DRAFT, revision=1, **content
        )
        back_brief.author_id = actor.id
        session.add(back_brief)
        session.flush()
        _event(session, back_brief, action="drafted", actor=actor)
        _audit(session, back_brief, actor, "create", None)
        return back_brief
    if back_brief.status == BackBriefStatus.SUBMITTED:
        raise Conflict(
            "this back-brief is submitted and waits for a decision; it can be changed once returned",
            field="status",
            value=back_brief.status.value,
        )
    before = snapshot(back_brief, _AUDIT_FIELDS)
    if back_brief.status in (BackBriefStatus.RETURNED, BackBriefStatus.ACCEPTED):
        back_brief.revision += 1
        back_brief.status = BackBriefStatus.DRAFT
        back_brief.decided_at = None
        back_brief.decided_by_id = None
        for field, value in content.items():
            setattr(back_brief, field, value)
        back_brief.author_id = actor.id
        session.flush()
        _event(session, back_brief, action="revised", actor=actor)
    else:
        for field, value in content.items():
            setattr(back_brief, field, value)
        back_brief.author_id = actor.id
        session.flush()
    _audit(session, back_brief, actor, "update", before)
    return back_brief


def submit_back_brief(session: Session, *, actor: User, back_brief_id: int) -> BackBrief:
    """Send a draft up for a decision; the plan must be written."""
    back_brief = get_back_brief(session, back_brief_id)
    _require_writer(session, actor, back_brief.org_unit_id)
    if back_brief.status != BackBriefStatus.DRAFT:
        raise Conflict(
            f"only a draft can be submitted; this one is {back_brief.status.value}",
            field="status",
            value=back_brief.status.value,
        )
    if not back_brief.plan.strip():
        raise ValidationFailed("write the plan before submitting", field="plan", value="")
    before = snapshot(back_brief, _AUDIT_FIELDS)
    back_brief.status = BackBriefStatus.SUBMITTED
    back_brief.submitted_at = utcnow()
    session.flush()
    _event(session, back_brief, action="submitted", actor=actor)
    _audit(session, back_brief, actor, "submit", before)
    return back_brief


def _decide(
    session: Session, *, actor: User, back_brief_id: int, status: BackBriefStatus, comment: str
) -> BackBrief:
    back_brief = get_back_brief(session, back_brief_id)
    _require_decider(session, actor, back_brief)
    if back_brief.status != BackBriefStatus.SUBMITTED:
        raise Conflict(
            f"only a submitted back-brief can be decided; this one is {back_brief.status.value}",
            field="status",
            value=back_brief.status.value,
        )
    before = snapshot(back_brief, _AUDIT_FIELDS)
    back_brief.status = status
    back_brief.decided_at = utcnow()
    back_brief.decided_by_id = actor.id
    session.flush()
    _event(session, back_brief, action=status.value, actor=actor, comment=comment)
    _audit(session, back_brief, actor, "accept" if status == BackBriefStatus.ACCEPTED else "return", before)
    return back_brief


def accept_back_brief(session: Session, *, actor: User, back_brief_id: int, comment: str = "") -> BackBrief:
    """Accept a submitted back-brief (the next level up); a comment is optional."""
    text = check_text(comment, "comment", required=False)
    return _decide(
        session, actor=actor, back_brief_id=back_brief_id, status=BackBriefStatus.ACCEPTED, comment=text
    )


def return_back_brief(session: Session, *, actor: User, back_brief_id: int, comment: str) -> BackBrief:
    """Return a submitted back-brief with comments (required) saying what to rework."""
    text = check_text(comment, "comment")
    return _decide(
        session, actor=actor, back_brief_id=back_brief_id, status=BackBriefStatus.RETURNED, comment=text
    )


# --- reading -----------------------------------------------------------------------------------


def _user_names(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return dict(session.execute(select(User.id, User.full_name).where(User.id.in_(ids))).all())


def _ref(user_id: int | None, names: dict[int, str]) -> UserRef | None:
    return UserRef(id=user_id, full_name=names.get(user_id, "")) if user_id is not None else None


def read_back_briefs(session: Session, back_briefs: Sequence[BackBrief]) -> list[BackBriefRead]:
    """Read models with units, people and history (three queries for the whole list)."""
    if not back_briefs:
        return []
    ids = [back_brief.id for back_brief in back_briefs]
    events = list(
        session.scalars(
            select(BackBriefEvent)
            .where(BackBriefEvent.back_brief_id.in_(ids))
            .order_by(BackBriefEvent.back_brief_id, BackBriefEvent.occurred_at, BackBriefEvent.id)
        )
    )
    people = {event.actor_id for event in events if event.actor_id is not None}
    for back_brief in back_briefs:
        people |= {uid for uid in (back_brief.author_id, back_brief.decided_by_id) if uid is not None}
    names = _user_names(session, people)
    units = {
        unit.id: unit
        for unit in session.scalars(
            select(OrgUnit).where(OrgUnit.id.in_({bb.org_unit_id for bb in back_briefs}))
        )
    }
    by_brief: dict[int, list[BackBriefEventRead]] = {}
    for event in events:
        by_brief.setdefault(event.back_brief_id, []).append(
            BackBriefEventRead(
                action=event.action,
                actor=_ref(event.actor_id, names),
                occurred_at=event.occurred_at,
                comment=event.comment,
                revision=event.revision,
                content=event.content or {},
            )
        )
    return [
        BackBriefRead(
            id=back_brief.id,
            priority_id=back_brief.priority_id,
            org_unit=UnitRef(
                id=back_brief.org_unit_id,
                name=units[back_brief.org_unit_id].name,
                kind=units[back_brief.org_unit_id].kind.value,
            ),
            author=_ref(back_brief.author_id, names),
            status=back_brief.status.value,
            plan=back_brief.plan,
            implied_tasks=back_brief.implied_tasks,
            resources_needed=back_brief.resources_needed,
            risks=back_brief.risks,
            needs_from_others=back_brief.needs_from_others,
            revision=back_brief.revision,
            submitted_at=back_brief.submitted_at,
            decided_at=back_brief.decided_at,
            decided_by=_ref(back_brief.decided_by_id, names),
            updated_at=back_brief.updated_at,
            events=by_brief.get(back_brief.id, []),
        )
        for back_brief in back_briefs
    ]


def back_brief_slots(session: Session, *, priority_id: int) -> list[BackBriefSlot]:
    """Every unit that should back-brief the priority (all units below its unit), tree-ordered, with
    its back-brief or ``missing``."""
    priority = get_priority(session, priority_id)
    units = orgtree.units_below(session, priority.org_unit_id)
    back_briefs = list(session.scalars(select(BackBrief).where(BackBrief.priority_id == priority.id)))
    reads = {read.org_unit.id: read for read in read_back_briefs(session, back_briefs)}
    return [
        BackBriefSlot(
            org_unit=UnitRef(id=unit.id, name=unit.name, kind=unit.kind),
            parent_unit_id=unit.parent_id,
            depth=unit.depth,
            status=reads[unit.id].status if unit.id in reads else MISSING,
            back_brief=reads.get(unit.id),
        )
        for unit in units
    ]


def count_slots(slots: Sequence[BackBriefSlot]) -> BackBriefCounts:
    """How many slots are in each state."""
    counts = BackBriefCounts()
    for slot in slots:
        setattr(counts, slot.status, getattr(counts, slot.status) + 1)
    return counts


def status_counts(session: Session) -> dict[int, BackBriefCounts]:
    """Back-brief counts per priority for the whole tree, in one query: every (priority, unit below
    its unit) pair, left-joined to the back-brief that unit wrote."""
    closure = orgtree.unit_closure()
    brief = aliased(BackBrief)
    # Read as plain text: "missing" is not a stored status, so the enum type must not parse it.
    status = func.coalesce(type_coerce(brief.status, String), MISSING)
    rows = session.execute(
        select(Priority.id, status, func.count())
        .join(closure, and_(closure.c.ancestor_id == Priority.org_unit_id, closure.c.depth > 0))
        .outerjoin(brief, and_(brief.priority_id == Priority.id, brief.org_unit_id == closure.c.unit_id))
        .group_by(Priority.id, status)
    ).all()
    counts: dict[int, BackBriefCounts] = {}
    for priority_id, state, count in rows:
        key = state.value if isinstance(state, BackBriefStatus) else str(state)
        entry = counts.setdefault(priority_id, BackBriefCounts())
        setattr(entry, key, getattr(entry, key) + int(count))
    return counts


def may_decide(session: Session, user: User, back_brief: BackBriefRead) -> bool:
    """Whether ``user`` may accept or return this back-brief (for showing the forms)."""
    unit = session.get(OrgUnit, back_brief.org_unit.id)
    return unit is not None and orgtree.decides_for_unit(session, user, unit)


@dataclass(frozen=True)
class WorkItem:
    """A back-brief that needs the user: to decide (``decide``) or to write for their own unit (``write``)."""

    action: str
    priority_id: int
    priority_title: str
    org_unit_id: int
    org_unit_name: str
    status: str


def work_for(session: Session, user: User) -> list[WorkItem]:
    """What waits for ``user``: submitted back-briefs they decide, and live priorities above their own
    unit that their unit has not back-briefed (missing, draft or returned)."""
    items: list[WorkItem] = []
    submitted = session.execute(
        select(BackBrief, Priority.title, OrgUnit)
        .join(Priority, Priority.id == BackBrief.priority_id)
        .join(OrgUnit, OrgUnit.id == BackBrief.org_unit_id)
        .where(BackBrief.status == BackBriefStatus.SUBMITTED)
        .order_by(BackBrief.submitted_at, BackBrief.id)
    ).all()
    for back_brief, title, unit in submitted:
        if orgtree.decides_for_unit(session, user, unit):
            items.append(WorkItem("decide", back_brief.priority_id, title, unit.id, unit.name, "submitted"))
    if user.role == Role.MANAGER and user.org_unit_id is not None:
        closure = orgtree.unit_closure()
        brief = aliased(BackBrief)
        own_unit = session.get(OrgUnit, user.org_unit_id)
        status = func.coalesce(type_coerce(brief.status, String), MISSING)
        rows = session.execute(
            select(Priority.id, Priority.title, status)
            .join(closure, and_(closure.c.ancestor_id == Priority.org_unit_id, closure.c.depth > 0))
            .outerjoin(brief, and_(brief.priority_id == Priority.id, brief.org_unit_id == user.org_unit_id))
            .where(closure.c.unit_id == user.org_unit_id, Priority.status.in_(list(_OPEN_PRIORITY)))
            .order_by(Priority.id)
        ).all()
        for priority_id, title, state in rows:
            if own_unit is not None and str(state) in (
                MISSING,
                BackBriefStatus.DRAFT.value,
                BackBriefStatus.RETURNED.value,
            ):
                items.append(WorkItem("write", priority_id, title, own_unit.id, own_unit.name, str(state)))
    return items
