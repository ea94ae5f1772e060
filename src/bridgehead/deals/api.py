"""JSON endpoints of deal execution: processes, stage moves, qualification, stakeholders, plans, handoffs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from bridgehead.common.types import MAX_ID
from bridgehead.deals import account_plans, action_plans, handoffs, process, qualification, stakeholders
from bridgehead.deals.access import deal_for_read
from bridgehead.deals.room import deal_room, qualification_panel
from bridgehead.deals.schemas import (
    AccountPlanRead,
    AccountPlanUpdate,
    ActionPlanRead,
    DealRoom,
    ExitCriterionTick,
    HandoffCreate,
    HandoffRead,
    PlanItemCreate,
    ProcessRead,
    ProcessUpdate,
    QualificationRead,
    QualificationUpdate,
    ShareLink,
    ShareRequest,
    StageMove,
    StageMoveResult,
    StageRead,
    StageUpdate,
    StakeholderCreate,
    StakeholderMap,
    StakeholderUpdate,
    StepCreate,
    StepRead,
    StepUpdate,
    WhiteSpaceUpdate,
)
from bridgehead.web.deps import ApiUser, SessionDep, SettingsDep

router = APIRouter(tags=["deals"])
ObjectId = Annotated[int, Path(ge=1, le=MAX_ID)]
DimensionKey = Annotated[str, Path(min_length=1, max_length=40)]


@router.get("/sales-processes")
def list_processes(user: ApiUser, session: SessionDep) -> list[ProcessRead]:
    """Every sales process with its framework, dimensions and stages."""
    del user
    return [process.process_read(session, context) for context in process.processes(session)]


@router.patch("/sales-processes/{process_id}")
def change_process(
    process_id: ObjectId, body: ProcessUpdate, user: ApiUser, session: SessionDep
) -> ProcessRead:
    """Change a process's framework or deal types (admins and planners)."""
    context = process.update_process(session, viewer=user, process_id=process_id, changes=body)
    return process.process_read(session, context)


@router.patch("/sales-processes/{process_id}/stages/{stage_id}")
def change_stage(
    process_id: ObjectId, stage_id: ObjectId, body: StageUpdate, user: ApiUser, session: SessionDep
) -> StageRead:
    """Change a stage's milestone, exit criteria, requirements, probability or CRM names (admins and planners)."""
    stage = process.update_stage(session, viewer=user, process_id=process_id, stage_id=stage_id, changes=body)
    return process.stage_read(stage)


@router.get("/opportunities/{opportunity_id}/room")
def read_room(opportunity_id: ObjectId, user: ApiUser, session: SessionDep) -> DealRoom:
    """Everything about the deal: playbook, qualification, stakeholders, action plan, history, handoff."""
    return deal_room(session, viewer=user, opportunity_id=opportunity_id)


@router.post("/opportunities/{opportunity_id}/stage")
def move_stage(
    opportunity_id: ObjectId, body: StageMove, user: ApiUser, session: SessionDep
) -> StageMoveResult:
    """Move the deal; unmet requirements give 422 with ``missing``, unless a manager gives an override reason."""
    opportunity, overridden = process.move_stage(
        session,
        viewer=user,
        opportunity_id=opportunity_id,
        stage=body.stage,
        override_reason=body.override_reason,
    )
    return StageMoveResult(
        stage=opportunity.stage, probability=opportunity.probability, overridden=overridden
    )


@router.post("/opportunities/{opportunity_id}/exit-criteria", status_code=204)
def tick_exit_criterion(
    opportunity_id: ObjectId, body: ExitCriterionTick, user: ApiUser, session: SessionDep
) -> Response:
    """Tick or untick one exit criterion of a stage."""
    process.tick_exit_criterion(
        session,
        viewer=user,
        opportunity_id=opportunity_id,
        stage=body.stage,
        index=body.index,
        checked=body.checked,
    )
    return Response(status_code=204)


@router.get("/opportunities/{opportunity_id}/qualification")
def read_qualification(opportunity_id: ObjectId, user: ApiUser, session: SessionDep) -> QualificationRead:
    """The deal's qualification with its completeness score and what the stages still need."""
    opportunity = deal_for_read(session, viewer=user, opportunity_id=opportunity_id)
    return qualification_panel(session, opportunity=opportunity)


@router.put("/opportunities/{opportunity_id}/qualification/{dimension}")
def set_qualification(
    opportunity_id: ObjectId,
    dimension: DimensionKey,
    body: QualificationUpdate,
    user: ApiUser,
    session: SessionDep,
) -> QualificationRead:
    """Set one dimension's status and evidence (evidence up to 10,000 characters)."""
    opportunity = deal_for_read(session, viewer=user, opportunity_id=opportunity_id)
    context = process.process_for(session, opportunity)
    qualification.set_qualification(
        session,
        viewer=user,
        opportunity_id=opportunity_id,
        framework_id=context.framework.id,
        dimension_key=dimension,
        status=body.status,
        evidence=body.evidence,
    )
    return qualification_panel(session, opportunity=opportunity, context=context)


@router.get("/opportunities/{opportunity_id}/stakeholders")
def read_stakeholders(opportunity_id: ObjectId, user: ApiUser, session: SessionDep) -> StakeholderMap:
    """The buying committee with engagement, coverage and the org chart layout."""
    opportunity = deal_for_read(session, viewer=user, opportunity_id=opportunity_id)
    return stakeholders.stakeholder_map(session, opportunity=opportunity)


@router.post("/opportunities/{opportunity_id}/stakeholders", status_code=201)
def add_stakeholder(
    opportunity_id: ObjectId, body: StakeholderCreate, user: ApiUser, session: SessionDep
) -> StakeholderMap:
    """Put a contact of the deal's account on the map."""
    stakeholders.add_stakeholder(session, viewer=user, opportunity_id=opportunity_id, **body.model_dump())
    opportunity = deal_for_read(session, viewer=user, opportunity_id=opportunity_id)
    return stakeholders.stakeholder_map(session, opportunity=opportunity)


@router.patch("/opportunities/{opportunity_id}/stakeholders/{stakeholder_id}")
def change_stakeholder(
    opportunity_id: ObjectId,
    stakeholder_id: ObjectId,
    body: StakeholderUpdate,
    user: ApiUser,
    session: SessionDep,
) -> StakeholderMap:
    """Change a stakeholder's role, stance, influence, reports-to line or plan."""
    stakeholders.update_stakeholder(
        session,
        viewer=user,
        opportunity_id=opportunity_id,
        stakeholder_id=stakeholder_id,
        changes=body.model_dump(exclude_unset=True),
    )
    opportunity = deal_for_read(session, viewer=user, opportunity_id=opportunity_id)
    return stakeholders.stakeholder_map(session, opportunity=opportunity)


@router.delete("/opportunities/{opportunity_id}/stakeholders/{stakeholder_id}", status_code=204)
def remove_stakeholder(
    opportunity_id: ObjectId, stakeholder_id: ObjectId, user: ApiUser, session: SessionDep
) -> Response:
    """Take a stakeholder off the map."""
    stakeholders.remove_stakeholder(
        session, viewer=user, opportunity_id=opportunity_id, stakeholder_id=stakeholder_id
    )
    return Response(status_code=204)


@router.get("/opportunities/{opportunity_id}/action-plan")
def read_action_plan(opportunity_id: ObjectId, user: ApiUser, session: SessionDep) -> ActionPlanRead:
    """The mutual action plan with overdue steps marked."""
    opportunity = deal_for_read(session, viewer=user, opportunity_id=opportunity_id)
    return action_plans.plan_read(session, opportunity_id=opportunity.id)


@router.post("/opportunities/{opportunity_id}/action-plan/steps", status_code=201)
def add_step(opportunity_id: ObjectId, body: StepCreate, user: ApiUser, session: SessionDep) -> StepRead:
    """Add a step; a due date before the plan's creation is refused."""
    step = action_plans.add_step(session, viewer=user, opportunity_id=opportunity_id, step=body)
    plan = action_plans.plan_read(session, opportunity_id=opportunity_id)
    return next(item for item in plan.steps if item.id == step.id)


@router.patch("/opportunities/{opportunity_id}/action-plan/steps/{step_id}")
def change_step(
    opportunity_id: ObjectId, step_id: ObjectId, body: StepUpdate, user: ApiUser, session: SessionDep
) -> StepRead:
    """Complete, reopen or change a step."""
    action_plans.update_step(
        session, viewer=user, opportunity_id=opportunity_id, step_id=step_id, changes=body
    )
    plan = action_plans.plan_read(session, opportunity_id=opportunity_id)
    return next(item for item in plan.steps if item.id == step_id)


@router.post("/opportunities/{opportunity_id}/action-plan/share", status_code=201)
def share_action_plan(
    opportunity_id: ObjectId, body: ShareRequest, user: ApiUser, session: SessionDep, settings: SettingsDep
) -> ShareLink:
    """A signed, expiring read-only link to the plan for the buyer."""
    return action_plans.share_link(
        session,
        viewer=user,
        opportunity_id=opportunity_id,
        secret=settings.secret_key.get_secret_value(),
        days=body.days,
    )


@router.get("/accounts/{account_id}/plan")
def read_account_plan(account_id: ObjectId, user: ApiUser, session: SessionDep) -> AccountPlanRead:
    """The account plan: objectives, SWOT, white space, relationship goals and history."""
    return account_plans.account_plan(session, viewer=user, account_id=account_id)


@router.patch("/accounts/{account_id}/plan")
def change_account_plan(
    account_id: ObjectId, body: AccountPlanUpdate, user: ApiUser, session: SessionDep
) -> AccountPlanRead:
    """Change the plan's summary or business units."""
    account_plans.update_account_plan(session, viewer=user, account_id=account_id, changes=body)
    return account_plans.account_plan(session, viewer=user, account_id=account_id)


@router.post("/accounts/{account_id}/plan/items", status_code=201)
def add_account_plan_item(
    account_id: ObjectId, body: PlanItemCreate, user: ApiUser, session: SessionDep
) -> AccountPlanRead:
    """Add an objective, SWOT item or relationship goal (optionally a task, or linked to a priority)."""
    account_plans.add_plan_item(session, viewer=user, account_id=account_id, item=body)
    return account_plans.account_plan(session, viewer=user, account_id=account_id)


@router.put("/accounts/{account_id}/plan/white-space")
def set_white_space(
    account_id: ObjectId, body: WhiteSpaceUpdate, user: ApiUser, session: SessionDep
) -> AccountPlanRead:
    """Set one product x business-unit cell."""
    account_plans.set_white_space(session, viewer=user, account_id=account_id, cell=body)
    return account_plans.account_plan(session, viewer=user, account_id=account_id)


@router.get("/handoffs")
def list_handoffs(
    user: ApiUser,
    session: SessionDep,
    status: Annotated[str | None, Query(max_length=20)] = None,
) -> list[HandoffRead]:
    """Handoffs addressed to the caller or of deals they see, newest first."""
    return handoffs.list_handoffs(session, viewer=user, status=status)


@router.post("/handoffs", status_code=201)
def create_handoff(body: HandoffCreate, user: ApiUser, session: SessionDep) -> HandoffRead:
    """Hand a won deal to customer success."""
    handoff = handoffs.create_handoff(
        session,
        viewer=user,
        opportunity_id=body.opportunity_id,
        recipient_id=body.recipient_id,
        commitments=body.commitments,
        notes=body.notes,
    )
    opportunity = deal_for_read(session, viewer=user, opportunity_id=handoff.opportunity_id)
    result = handoffs.handoff_for_deal(session, opportunity=opportunity)
    assert result is not None
    return result


@router.post("/handoffs/{handoff_id}/accept")
def accept_handoff(handoff_id: ObjectId, user: ApiUser, session: SessionDep) -> HandoffRead:
    """Customer success accepts the handoff."""
    return handoffs.accept_handoff(session, viewer=user, handoff_id=handoff_id)
