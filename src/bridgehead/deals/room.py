"""The deal room read model: one deal with its playbook, qualification, committee, plan and history."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridgehead.auth.models import User
from bridgehead.crm.models import Opportunity
from bridgehead.crm.schemas import UserRef
from bridgehead.crm.service import opportunity_detail
from bridgehead.deals.access import can_edit, can_override, deal_for_read
from bridgehead.deals.account_plans import account_plan_exists
from bridgehead.deals.action_plans import plan_read
from bridgehead.deals.handoffs import handoff_for_deal
from bridgehead.deals.models import QualificationStatus, StageComplianceFlag
from bridgehead.deals.process import (
    DealFacts,
    ProcessContext,
    deal_facts,
    missing_for_stage,
    overrides_of,
    process_for,
    stage_read,
)
from bridgehead.deals.qualification import completeness, framework_dimensions
from bridgehead.deals.schemas import (
    DealRoom,
    ExitChecklistItem,
    Missing,
    OverrideRead,
    PlaybookNext,
    QualificationItem,
    QualificationRead,
)
from bridgehead.deals.stakeholders import stakeholder_map


def qualification_panel(
    session: Session,
    *,
    opportunity: Opportunity,
    context: ProcessContext | None = None,
    facts: DealFacts | None = None,
) -> QualificationRead:
    """Every dimension of the deal's framework with status and evidence, the score, and what stages need."""
    context = context or process_for(session, opportunity)
    facts = facts or deal_facts(session, opportunity=opportunity, context=context)
    current = context.stage_named(opportunity.stage)
    following = None if opportunity.is_closed else context.next_after(current)
    entries = facts.entries
    dimensions = framework_dimensions(session, context.framework.id)
    items = []
    for dimension in dimensions:
        entry = entries.get(dimension.key)
        items.append(
            QualificationItem(
                key=dimension.key,
                name=dimension.name,
                guidance=dimension.guidance,
                status=entry.status.value if entry else QualificationStatus.UNKNOWN.value,
                evidence=entry.evidence if entry else "",
                updated_by=UserRef(id=entry.updated_by_id, full_name=entry.updated_by_name or "")
                if entry and entry.updated_by_id
                else None,
                updated_at=entry.updated_at if entry else None,
                required_now=current is not None and dimension.key in current.required_dimensions,
                required_next=following is not None and dimension.key in following.required_dimensions,
            )
        )
    statuses = [
        entries[d.key].status if d.key in entries else QualificationStatus.UNKNOWN for d in dimensions
    ]
    missing_now = (
        [
            m
            for m in missing_for_stage(
                session, opportunity=opportunity, context=context, target=current, facts=facts
            )
            if m.kind == "qualification"
        ]
        if current is not None
        else []
    )
    missing_next = (
        [
            m
            for m in missing_for_stage(
                session, opportunity=opportunity, context=context, target=following, facts=facts
            )
            if m.kind == "qualification"
        ]
        if following is not None
        else []
    )
    return QualificationRead(
        framework_key=context.framework.key,
        framework_name=context.framework.name,
        completeness=completeness(statuses),
        items=items,
        missing_now=missing_now,
        missing_next=missing_next,
    )


def deal_room(session: Session, *, viewer: User, opportunity_id: int) -> DealRoom:
    """Everything about a deal the viewer may see, in one read (``NotFound`` outside visibility)."""
    opportunity = deal_for_read(session, viewer=viewer, opportunity_id=opportunity_id)
    detail = opportunity_detail(session, viewer=viewer, opportunity_id=opportunity.id)
    context = process_for(session, opportunity)
    committee = stakeholder_map(session, opportunity=opportunity)
    facts = deal_facts(session, opportunity=opportunity, context=context, stakeholders=committee)
    current = context.stage_named(opportunity.stage)
    following = None if opportunity.is_closed else context.next_after(current)
    missing_now = (
        missing_for_stage(session, opportunity=opportunity, context=context, target=current, facts=facts)
        if current
        else []
    )
    missing_next = (
        missing_for_stage(session, opportunity=opportunity, context=context, target=following, facts=facts)
        if following
        else []
    )
    plan = plan_read(session, opportunity_id=opportunity.id)
    flags = session.execute(
        select(StageComplianceFlag)
        .where(StageComplianceFlag.opportunity_id == opportunity.id)
        .order_by(StageComplianceFlag.id)
    ).scalars()
    stage_names = {stage.id: stage.name for stage in context.stages}
    checks = facts.checks
    checklist = [
        ExitChecklistItem(stage=stage.name, index=index, text=text, checked=(stage.id, index) in checks)
        for stage in context.stages
        if not stage.is_closed
        for index, text in enumerate(stage.exit_criteria)
    ]
    return DealRoom(
        opportunity=detail,
        process_key=context.process.key,
        process_name=context.process.name,
        stages=[stage_read(stage) for stage in context.stages],
        current_position=current.position if current else None,
        playbook=PlaybookNext(
            current_stage=stage_read(current) if current else None,
            next_stage=stage_read(following) if following else None,
            missing_now=missing_now,
            missing_next=missing_next,
            overdue_steps=[step for step in plan.steps if step.overdue],
            flags=[
                Missing(
                    kind=flag.kind,
                    stage=stage_names.get(flag.stage_id, ""),
                    key=flag.key,
                    message=flag.message,
                )
                for flag in flags
            ],
        ),
        exit_checklist=checklist,
        qualification=qualification_panel(session, opportunity=opportunity, context=context, facts=facts),
        stakeholders=committee,
        action_plan=plan,
        history=detail.history,
        activities=detail.recent_activities,
        activity_count=detail.activity_count,
        overrides=[
            OverrideRead(
                from_stage=override.from_stage,
                to_stage=override.to_stage,
                reason=override.reason,
                actor=UserRef(id=override.actor_id, full_name=name or "") if override.actor_id else None,
                created_at=override.created_at,
                missing=[Missing.model_validate(item) for item in override.missing],
            )
            for override, name in overrides_of(session, opportunity.id)
        ],
        handoff=handoff_for_deal(session, opportunity=opportunity),
        account_plan_exists=account_plan_exists(session, opportunity.account_id),
        can_edit=can_edit(session, viewer=viewer, opportunity=opportunity),
        can_override=can_override(session, viewer=viewer, opportunity=opportunity),
    )
