"""JSON endpoints of initiative governance: initiatives, their plan, approvals, transitions and value.

Every stage change is an explicit action; none of them can skip a gate (the service checks each).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from bridgehead.common.pagination import Page
from bridgehead.common.types import MAX_ID
from bridgehead.governance import board, detail, gates, initiatives, value
from bridgehead.governance.models import ApprovalDecision
from bridgehead.governance.schemas import (
    ApprovalRead,
    ApprovalRequest,
    Board,
    BoardQuery,
    CancelRequest,
    InitiativeCreate,
    InitiativeDetail,
    InitiativeQuery,
    InitiativeRead,
    InitiativeUpdate,
    KpiCreate,
    KpiRead,
    KpiReading,
    MeasuredValue,
    MilestoneCreate,
    MilestoneRead,
    TransitionRequest,
    ValueConfirmationCreate,
    ValueConfirmationRead,
)
from bridgehead.web.deps import ApiUser, SessionDep

router = APIRouter(tags=["governance"])
InitiativeId = Annotated[int, Path(ge=1, le=MAX_ID)]
ChildId = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.get("/initiatives")
def list_initiatives(
    query: Annotated[InitiativeQuery, Query()], user: ApiUser, session: SessionDep
) -> Page[InitiativeRead]:
    """Initiatives, newest first, filtered by stage and priority."""
    return initiatives.list_initiatives(
        session, stage=query.stage, priority_id=query.priority_id, page=query.page_request()
    )


@router.post("/initiatives", status_code=201)
def create_initiative(data: InitiativeCreate, user: ApiUser, session: SessionDep) -> InitiativeRead:
    """Create an initiative in stage Identified (executives, admins, planners)."""
    return InitiativeRead.model_validate(initiatives.create_initiative(session, actor=user, data=data))


@router.get("/initiatives/{initiative_id}")
def read_initiative(initiative_id: InitiativeId, user: ApiUser, session: SessionDep) -> InitiativeDetail:
    """One initiative with milestones, KPIs, approvals, gate history, confirmations and the next gate's gaps."""
    return detail.initiative_detail(session, initiative_id=initiative_id)


@router.patch("/initiatives/{initiative_id}")
def update_initiative(
    initiative_id: InitiativeId, changes: InitiativeUpdate, user: ApiUser, session: SessionDep
) -> InitiativeRead:
    """Change the fields sent (the owner or an admin); the stage changes only through transitions."""
    updated = initiatives.update_initiative(session, actor=user, initiative_id=initiative_id, changes=changes)
    return InitiativeRead.model_validate(updated)


@router.get("/initiatives/{initiative_id}/milestones")
def list_milestones(initiative_id: InitiativeId, user: ApiUser, session: SessionDep) -> list[MilestoneRead]:
    """The initiative's milestones by due date."""
    found = initiatives.get_initiative(session, initiative_id=initiative_id)
    return [
        MilestoneRead.model_validate(row)
        for row in initiatives.milestones_of(session, initiative_id=found.id)
    ]


@router.post("/initiatives/{initiative_id}/milestones", status_code=201)
def add_milestone(
    initiative_id: InitiativeId, data: MilestoneCreate, user: ApiUser, session: SessionDep
) -> MilestoneRead:
    """Plan a milestone inside the initiative's window."""
    milestone = initiatives.add_milestone(session, actor=user, initiative_id=initiative_id, data=data)
    return MilestoneRead.model_validate(milestone)


@router.post("/initiatives/{initiative_id}/milestones/{milestone_id}/done")
def complete_milestone(
    initiative_id: InitiativeId, milestone_id: ChildId, user: ApiUser, session: SessionDep
) -> MilestoneRead:
    """Mark a milestone done."""
    milestone = initiatives.complete_milestone(
        session, actor=user, initiative_id=initiative_id, milestone_id=milestone_id
    )
    return MilestoneRead.model_validate(milestone)


@router.get("/initiatives/{initiative_id}/kpis")
def list_kpis(initiative_id: InitiativeId, user: ApiUser, session: SessionDep) -> list[KpiRead]:
    """The initiative's KPIs."""
    found = initiatives.get_initiative(session, initiative_id=initiative_id)
    return [KpiRead.model_validate(row) for row in initiatives.kpis_of(session, initiative_id=found.id)]


@router.post("/initiatives/{initiative_id}/kpis", status_code=201)
def add_kpi(initiative_id: InitiativeId, data: KpiCreate, user: ApiUser, session: SessionDep) -> KpiRead:
    """Add a KPI with baseline and target."""
    return KpiRead.model_validate(
        initiatives.add_kpi(session, actor=user, initiative_id=initiative_id, data=data)
    )


@router.patch("/initiatives/{initiative_id}/kpis/{kpi_id}")
def record_kpi_reading(
    initiative_id: InitiativeId, kpi_id: ChildId, data: KpiReading, user: ApiUser, session: SessionDep
) -> KpiRead:
    """Record a KPI's latest reading."""
    kpi = initiatives.record_kpi_reading(
        session, actor=user, initiative_id=initiative_id, kpi_id=kpi_id, current_value=data.current_value
    )
    return KpiRead.model_validate(kpi)


@router.get("/initiatives/{initiative_id}/approvals")
def list_approvals(initiative_id: InitiativeId, user: ApiUser, session: SessionDep) -> list[ApprovalRead]:
    """Approvals and rejections, oldest first."""
    return detail.initiative_detail(session, initiative_id=initiative_id).approvals


@router.post("/initiatives/{initiative_id}/approve", status_code=201)
def approve(
    initiative_id: InitiativeId, data: ApprovalRequest, user: ApiUser, session: SessionDep
) -> ApprovalRead:
    """Approve what awaits a decision: the Decided gate (while Detailed) or reopening (while Cancelled)."""
    approval = gates.decide(
        session,
        actor=user,
        initiative_id=initiative_id,
        decision=ApprovalDecision.APPROVED,
        comment=data.comment,
    )
    return ApprovalRead.model_validate(approval)


@router.post("/initiatives/{initiative_id}/reject", status_code=201)
def reject(
    initiative_id: InitiativeId, data: ApprovalRequest, user: ApiUser, session: SessionDep
) -> ApprovalRead:
    """Reject what awaits a decision; the comment is required."""
    approval = gates.decide(
        session,
        actor=user,
        initiative_id=initiative_id,
        decision=ApprovalDecision.REJECTED,
        comment=data.comment,
    )
    return ApprovalRead.model_validate(approval)


@router.post("/initiatives/{initiative_id}/transitions")
def transition(
    initiative_id: InitiativeId, data: TransitionRequest, user: ApiUser, session: SessionDep
) -> InitiativeRead:
    """Move to ``to``: the next stage once its gate is met, or ``cancelled`` with a reason."""
    moved = gates.transition(session, actor=user, initiative_id=initiative_id, to=data.to, reason=data.reason)
    return InitiativeRead.model_validate(moved)


@router.post("/initiatives/{initiative_id}/advance")
def advance(initiative_id: InitiativeId, user: ApiUser, session: SessionDep) -> InitiativeRead:
    """Pass the next gate, whatever it is, under the same checks."""
    return InitiativeRead.model_validate(gates.advance(session, actor=user, initiative_id=initiative_id))


@router.post("/initiatives/{initiative_id}/cancel")
def cancel(
    initiative_id: InitiativeId, data: CancelRequest, user: ApiUser, session: SessionDep
) -> InitiativeRead:
    """Cancel from any open stage, with a reason."""
    cancelled = gates.cancel(session, actor=user, initiative_id=initiative_id, reason=data.reason)
    return InitiativeRead.model_validate(cancelled)


@router.post("/initiatives/{initiative_id}/reopen")
def reopen(initiative_id: InitiativeId, user: ApiUser, session: SessionDep) -> InitiativeRead:
    """Reopen a cancelled initiative; needs the sponsor's approval given after the cancellation."""
    return InitiativeRead.model_validate(gates.reopen(session, actor=user, initiative_id=initiative_id))


@router.post("/initiatives/{initiative_id}/confirm-value", status_code=201)
def confirm_value(
    initiative_id: InitiativeId, data: ValueConfirmationCreate, user: ApiUser, session: SessionDep
) -> ValueConfirmationRead:
    """The controller confirms realised value with evidence; ``close`` also passes the Closed gate."""
    confirmation = gates.confirm_value(
        session,
        actor=user,
        initiative_id=initiative_id,
        realised_value_amount=data.realised_value_amount,
        evidence=data.evidence,
        close=data.close,
    )
    return ValueConfirmationRead.model_validate(confirmation)


@router.get("/initiatives/{initiative_id}/value")
def measured_value(initiative_id: InitiativeId, user: ApiUser, session: SessionDep) -> MeasuredValue:
    """Bookings, win rate and cycle of the target deals: value window against the baseline before it."""
    found = initiatives.get_initiative(session, initiative_id=initiative_id)
    return value.measure_value(session, initiative=found)


@router.get("/governance/board")
def portfolio_board(query: Annotated[BoardQuery, Query()], user: ApiUser, session: SessionDep) -> Board:
    """The portfolio board: initiatives by stage, value funnel, overdue gates, motion without progress."""
    return board.portfolio_board(session, priority_id=query.priority_id, days=query.days)
