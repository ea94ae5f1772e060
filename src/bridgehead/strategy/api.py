"""JSON endpoints of priorities, back-briefs and trace; rights are checked by the services."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from sqlalchemy.orm import Session

from bridgehead.common.types import MAX_ID
from bridgehead.strategy import backbriefs, service, trace
from bridgehead.strategy.models import Priority
from bridgehead.strategy.schemas import (
    BackBriefRead,
    BackBriefSlot,
    BackBriefWrite,
    DecisionComment,
    PriorityCreate,
    PriorityFilters,
    PriorityRead,
    PriorityTrace,
    PriorityUpdate,
    PriorityVersionRead,
    RecordTrace,
    RestatementCreate,
)
from bridgehead.web.deps import ApiUser, SessionDep

router = APIRouter(tags=["strategy"])
ObjectId = Annotated[int, Path(ge=1, le=MAX_ID)]


def _read(session: Session, priority: Priority) -> PriorityRead:
    [read] = service.to_read([priority], session)
    read.back_briefs = backbriefs.status_counts(session).get(priority.id, read.back_briefs)
    return read


@router.get("/priorities")
def list_priorities(
    filters: Annotated[PriorityFilters, Query()], user: ApiUser, session: SessionDep
) -> list[PriorityRead]:
    """Every priority as a tree walk (parents before their restatements), with back-brief counts."""
    del user
    listed = service.list_priorities(session, filters=filters)
    counts = backbriefs.status_counts(session)
    for item in listed:
        item.back_briefs = counts.get(item.id, item.back_briefs)
    return listed


@router.post("/priorities", status_code=201)
def create_priority(data: PriorityCreate, user: ApiUser, session: SessionDep) -> PriorityRead:
    """State a top-level priority (executives and admins)."""
    return _read(session, service.create_priority(session, actor=user, data=data))


@router.get("/priorities/{priority_id}")
def read_priority(priority_id: ObjectId, user: ApiUser, session: SessionDep) -> PriorityRead:
    """One priority with its back-brief counts."""
    del user
    return _read(session, service.get_priority(session, priority_id))


@router.patch("/priorities/{priority_id}")
def update_priority(
    priority_id: ObjectId, data: PriorityUpdate, user: ApiUser, session: SessionDep
) -> PriorityRead:
    """Change a priority; a real change makes a new version."""
    return _read(session, service.update_priority(session, actor=user, priority_id=priority_id, data=data))


@router.get("/priorities/{priority_id}/versions")
def list_versions(priority_id: ObjectId, user: ApiUser, session: SessionDep) -> list[PriorityVersionRead]:
    """Every version, newest first, with the fields each changed."""
    del user
    return service.list_versions(session, priority_id=priority_id)


@router.post("/priorities/{priority_id}/restatements", status_code=201)
def restate_priority(
    priority_id: ObjectId, data: RestatementCreate, user: ApiUser, session: SessionDep
) -> PriorityRead:
    """Restate the priority for a unit below its unit (a manager of that unit's line, or an executive)."""
    return _read(session, service.restate_priority(session, actor=user, parent_id=priority_id, data=data))


@router.get("/priorities/{priority_id}/back-briefs")
def list_back_briefs(priority_id: ObjectId, user: ApiUser, session: SessionDep) -> list[BackBriefSlot]:
    """Every unit below the priority's unit with its back-brief, or status ``missing``."""
    del user
    return backbriefs.back_brief_slots(session, priority_id=priority_id)


@router.put("/priorities/{priority_id}/back-briefs/{org_unit_id}")
def write_back_brief(
    priority_id: ObjectId, org_unit_id: ObjectId, data: BackBriefWrite, user: ApiUser, session: SessionDep
) -> BackBriefRead:
    """Write a unit's back-brief (a draft; a returned or accepted one starts a new revision)."""
    back_brief = backbriefs.write_back_brief(
        session, actor=user, priority_id=priority_id, org_unit_id=org_unit_id, data=data
    )
    return backbriefs.read_back_briefs(session, [back_brief])[0]


@router.post("/back-briefs/{back_brief_id}/submit")
def submit_back_brief(back_brief_id: ObjectId, user: ApiUser, session: SessionDep) -> BackBriefRead:
    """Send a draft up for a decision."""
    back_brief = backbriefs.submit_back_brief(session, actor=user, back_brief_id=back_brief_id)
    return backbriefs.read_back_briefs(session, [back_brief])[0]


@router.post("/back-briefs/{back_brief_id}/accept")
def accept_back_brief(
    back_brief_id: ObjectId, user: ApiUser, session: SessionDep, data: DecisionComment | None = None
) -> BackBriefRead:
    """Accept a submitted back-brief (the next level up); a comment is optional."""
    comment = data.comment if data else ""
    back_brief = backbriefs.accept_back_brief(
        session, actor=user, back_brief_id=back_brief_id, comment=comment
    )
    return backbriefs.read_back_briefs(session, [back_brief])[0]


@router.post("/back-briefs/{back_brief_id}/return")
def return_back_brief(
    back_brief_id: ObjectId, data: DecisionComment, user: ApiUser, session: SessionDep
) -> BackBriefRead:
    """Return a submitted back-brief with comments (required)."""
    back_brief = backbriefs.return_back_brief(
        session, actor=user, back_brief_id=back_brief_id, comment=data.comment
    )
    return backbriefs.read_back_briefs(session, [back_brief])[0]


@router.get("/trace/{kind}/{record_id}")
def read_trace(
    kind: Annotated[str, Path(max_length=20)], record_id: ObjectId, user: ApiUser, session: SessionDep
) -> RecordTrace | PriorityTrace:
    """The trace of an account, opportunity or quota up to its priorities, or of a priority down to what executes it."""
    if trace.check_kind(kind) == "account":
        return trace.trace_account(session, viewer=user, account_id=record_id)
    if kind == "opportunity":
        return trace.trace_opportunity(session, viewer=user, opportunity_id=record_id)
    if kind == "quota":
        return trace.trace_quota(session, viewer=user, quota_id=record_id)
    return trace.trace_priority(session, viewer=user, priority_id=record_id)
