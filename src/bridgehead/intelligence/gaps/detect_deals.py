"""Detectors over the playbook a deal's stage sets: stakeholders, qualification, fields, action plans, handoff.

Each function returns one SELECT of hits (``sqltools.HIT_COLUMNS``). The stage a deal is in comes
from the scan's ``gap_deal_stage`` scratch table (filled once per scan by ``scratch.ScanScratch`` the
way ``deals.compliance`` maps deals to stages), joined to ``process_stage`` for the stage's
requirements. All but ``handoff_not_accepted`` read it (``scratch.STAGED_KINDS``).
"""

from __future__ import annotations

import datetime as dt
import typing
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    String,
    Table,
    and_,
    case,
    cast,
    exists,
    false,
    func,
    null,
    or_,
    select,
)
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.expression import Select

from bridgehead.common.sql import OuterFirstJoin
from bridgehead.crm.models import Opportunity
from bridgehead.deals.models import (
    ActionPlan,
    ActionStep,
    Handoff,
    HandoffStatus,
    ProcessStage,
    QualificationEntry,
    Stakeholder,
    StakeholderRole,
)
from bridgehead.deals.process import REQUIRED_FIELD_LABELS
from bridgehead.deals.qualification import STATUS_RANK
from bridgehead.deals.stakeholders import ENGAGEMENT_WINDOW_DAYS, engaged_condition
from bridgehead.intelligence.gaps.models import GapKind
from bridgehead.intelligence.gaps.rules import SEGMENT_MINIMUMS
from bridgehead.intelligence.gaps.scratch import deal_stage, stage_requirement
from bridgehead.intelligence.gaps.sqltools import (
    MATERIALIZED,
    DetectContext,
    Detection,
    deal_columns,
    deal_hit_columns,
    in_deal_order,
    join_label_list,
    open_deals,
    text_of,
)
from bridgehead.strategy.models import Segment, SegmentMember


def staged_open_deals(context: DetectContext, *columns: Any) -> Select[Any]:
    """Open deals in scope with their process stage (``ProcessStage`` joined), selecting ``columns``.

    The deal stages (one row per covered deal, keyed by deal id) drive the loop, so on SQLite the
    deals are read in id order: walked through the is_closed index instead, they came in amount
    order and every per-deal lookup hit a random page (single-threaded detector at 1,000,000
    deals: 4.8 -> 2.0-2.6 s).
    """
    deals = typing.cast(Table, Opportunity.__table__)
    return (
        select(*deal_columns(), *columns)
        .select_from(OuterFirstJoin(deal_stage, deals, deal_stage.c.opportunity_id == Opportunity.id))
        .join(ProcessStage, ProcessStage.id == deal_stage.c.stage_id)
        .where(*open_deals(context), ProcessStage.is_closed.is_(False))
    )


def _segment_requirement(session: Session, context: DetectContext) -> tuple[Any, Any]:
    """The highest per-segment minimum among the deal's account's segments, and that segment's name."""
    configured: dict[str, int] = dict(context.rule.thresholds.get(SEGMENT_MINIMUMS) or {})
    nothing = cast(null(), Integer), cast(null(), String)
    if not configured:
        return nothing
    segments = session.execute(
        select(Segment.id, Segment.name).where(Segment.name.in_(list(configured)))
    ).all()
    if not segments:
        return nothing
    minimum_of = case(
        *[(SegmentMember.segment_id == segment_id, configured[name]) for segment_id, name in segments],
        else_=null(),
    )
    name_of = case(
        *[(SegmentMember.segment_id == segment_id, text_of(name)) for segment_id, name in segments],
        else_=null(),
    )
    member_of_account = SegmentMember.account_id == Opportunity.account_id
    highest = select(func.max(minimum_of)).where(member_of_account).scalar_subquery()
    top_name = (
        select(name_of)
        .where(member_of_account, minimum_of.is_not(None))
        .order_by(minimum_of.desc(), name_of)
        .limit(1)
        .scalar_subquery()
    )
    return highest, top_name


def single_threaded(session: Session, context: DetectContext) -> Detection:
    """Open deals with fewer engaged stakeholders than their stage (and their account's segment) require."""
    cutoff = context.now - dt.timedelta(days=ENGAGEMENT_WINDOW_DAYS)
    person = aliased(Stakeholder)
    engaged = (
        select(func.count())
        .select_from(person)
        .where(person.opportunity_id == Opportunity.id, engaged_condition(person, cutoff))
        .scalar_subquery()
    )
    segment_minimum, segment_name = _segment_requirement(session, context)
    inner = (
        staged_open_deals(
            context,
            ProcessStage.name.label("stage"),
            ProcessStage.min_engaged_stakeholders.label("stage_minimum"),
            segment_minimum.label("segment_minimum"),
            segment_name.label("segment"),
            engaged.label("engaged"),
        )
        .where(ProcessStage.min_engaged_stakeholders > 0)
        .cte()
        .prefix_with(MATERIALIZED)
    )
    required = case(
        (func.coalesce(inner.c.segment_minimum, 0) > inner.c.stage_minimum, inner.c.segment_minimum),
        else_=inner.c.stage_minimum,
    )
    evidence = {
        "engaged": inner.c.engaged,
        "stage": inner.c.stage,
        "stage_requires": inner.c.stage_minimum,
        "segment": inner.c.segment,
        "segment_requires": inner.c.segment_minimum,
        "required": required,
        "window_days": ENGAGEMENT_WINDOW_DAYS,
    }
    rows = select(*deal_hit_columns(context, inner, evidence)).where(inner.c.engaged < required)
    return Detection(GapKind.SINGLE_THREADED, rows, "opportunity")


def no_economic_buyer(session: Session, context: DetectContext) -> Detection:
    """Open deals in a stage that needs an engaged economic buyer, without one."""
    cutoff = context.now - dt.timedelta(days=ENGAGEMENT_WINDOW_DAYS)
    buyer = aliased(Stakeholder)
    is_buyer = and_(buyer.opportunity_id == Opportunity.id, buyer.role == StakeholderRole.ECONOMIC_BUYER)
    inner = (
        staged_open_deals(context, ProcessStage.name.label("stage"), exists().where(is_buyer).label("on_map"))
        .where(
            ProcessStage.requires_economic_buyer.is_(True),
            ~exists().where(is_buyer, engaged_condition(buyer, cutoff)),
        )
        .cte()
        .prefix_with(MATERIALIZED)
    )
    evidence = {
        "stage": inner.c.stage,
        "economic_buyer_on_map": inner.c.on_map,
        "window_days": ENGAGEMENT_WINDOW_DAYS,
    }
    return Detection(
        GapKind.NO_ECONOMIC_BUYER,
        select(*deal_hit_columns(context, inner, evidence)),
        "opportunity",
    )


def _unmet_requirements(context: DetectContext, kind: str, unmet: ColumnElement[bool]) -> Any:
    """Per staged open deal with a requirement of ``kind`` unmet: the deal's columns, its stage's
    name and minimum status, how many requirements are unmet, how many its stage has, and the
    unmet ones' labels in the stage's order.

    The deal's columns ride along the requirement rows (taken with ``max`` per deal, so the groups
    stay those of the deal id alone, in which order SQLite joins the labels) instead of joining
    the deals and their stages a second time for the hits: at 1,000,000 deals that second join
    was 0.7 of the 2.4 s of the qualification detector on PostgreSQL.
    """
    requirement = stage_requirement
    ordered = (
        select(
            deal_stage.c.opportunity_id,
            deal_stage.c.stage_id,
            Opportunity.account_id,
            Opportunity.owner_id,
            Opportunity.amount,
            requirement.c.label,
            requirement.c.position,
            requirement.c.required_count,
        )
        .join(requirement, requirement.c.stage_id == deal_stage.c.stage_id)
        .join(Opportunity, Opportunity.id == deal_stage.c.opportunity_id)
        .where(requirement.c.kind == kind, *open_deals(context), unmet)
        .order_by(deal_stage.c.opportunity_id, requirement.c.position)
        .subquery()
    )
    grouped = (
        select(
            ordered.c.opportunity_id.label("id"),
            func.max(ordered.c.account_id).label("account_id"),
            func.max(ordered.c.owner_id).label("owner_id"),
            func.max(ordered.c.amount).label("amount"),
            func.max(ordered.c.stage_id).label("stage_id"),
            func.count().label("missing_count"),
            func.max(ordered.c.required_count).label("required_count"),
            join_label_list(context.dialect, ordered.c.label, ordered.c.position).label("missing"),
        )
        .group_by(ordered.c.opportunity_id)
        .subquery()
    )
    return (
        select(
            *grouped.c,
            ProcessStage.name.label("stage"),
            ProcessStage.minimum_status.label("minimum"),
        )
        .join(ProcessStage, ProcessStage.id == grouped.c.stage_id)
        .where(ProcessStage.is_closed.is_(False))
        .subquery()
    )


def qualification_incomplete(session: Session, context: DetectContext) -> Detection:
    """Open deals whose stage's required dimensions are below the stage's minimum status."""
    rank = case(
        {status.value: value for status, value in STATUS_RANK.items()},
        value=QualificationEntry.status,
        else_=0,
    )
    met = exists().where(
        QualificationEntry.opportunity_id == deal_stage.c.opportunity_id,
        QualificationEntry.dimension_id == stage_requirement.c.dimension_id,
        rank >= stage_requirement.c.minimum_rank,
    )
    inner = _unmet_requirements(context, "dimension", ~met)
    evidence = {
        "stage": inner.c.stage,
        "minimum_status": inner.c.minimum,
        "missing": inner.c.missing,
        "missing_count": inner.c.missing_count,
        "required_count": inner.c.required_count,
    }
    return Detection(
        GapKind.QUALIFICATION_INCOMPLETE,
        select(*deal_hit_columns(context, inner, evidence)),
        "opportunity",
    )


def missing_fields(session: Session, context: DetectContext) -> Detection:
    """Open deals with fields their stage requires left empty."""
    empty = case(
        *[
            (stage_requirement.c.field == name, getattr(Opportunity, name).is_(None))
            for name in REQUIRED_FIELD_LABELS
            if getattr(Opportunity, name, None) is not None
        ],
        else_=false(),
    )
    inner = _unmet_requirements(context, "field", empty)
    evidence = {"stage": inner.c.stage, "missing": inner.c.missing, "missing_count": inner.c.missing_count}
    return Detection(
        GapKind.MISSING_FIELDS,
        select(*deal_hit_columns(context, inner, evidence)),
        "opportunity",
    )


def _late_stage(context: DetectContext) -> ColumnElement[bool]:
    return ProcessStage.probability >= context.rule.number("late_stage_probability")


def no_action_plan(session: Session, context: DetectContext) -> Detection:
    """Late-stage open deals without a mutual action plan."""
    inner = (
        staged_open_deals(context, ProcessStage.name.label("stage"))
        .where(_late_stage(context), ~exists().where(ActionPlan.opportunity_id == Opportunity.id))
        .subquery()
    )
    threshold = context.rule.number("late_stage_probability")
    evidence = {"stage": inner.c.stage, "late_stage_probability": threshold}
    return Detection(
        GapKind.NO_ACTION_PLAN,
        select(*deal_hit_columns(context, inner, evidence)),
        "opportunity",
    )


def action_plan_overdue(session: Session, context: DetectContext) -> Detection:
    """Late-stage open deals whose mutual action plan has open steps past their due date."""
    due_before = context.today - dt.timedelta(days=context.rule.number("grace_days"))
    overdue = and_(
        ActionStep.plan_id == ActionPlan.id,
        ActionPlan.opportunity_id == Opportunity.id,
        ActionStep.completed_at.is_(None),
        ActionStep.due_date < due_before,
    )
    count = select(func.count()).select_from(ActionStep, ActionPlan).where(overdue).scalar_subquery()
    oldest = (
        select(func.min(ActionStep.due_date))
        .select_from(ActionStep, ActionPlan)
        .where(overdue)
        .scalar_subquery()
    )
    inner = (
        staged_open_deals(
            context, ProcessStage.name.label("stage"), count.label("overdue"), oldest.label("oldest_due")
        )
        .where(_late_stage(context), exists().where(overdue))
        .cte()
        .prefix_with(MATERIALIZED)
    )
    evidence = {
        "stage": inner.c.stage,
        "overdue_steps": inner.c.overdue,
        "oldest_due_date": inner.c.oldest_due,
    }
    return Detection(
        GapKind.ACTION_PLAN_OVERDUE,
        select(*deal_hit_columns(context, inner, evidence)),
        "opportunity",
    )


def handoff_not_accepted(session: Session, context: DetectContext) -> Detection:
    """Recently won deals whose handoff to customer success is missing or not accepted."""
    newest = context.today - dt.timedelta(days=context.rule.number("grace_days"))
    oldest = context.today - dt.timedelta(days=context.rule.number("lookback_days"))
    status = select(Handoff.status).where(Handoff.opportunity_id == Opportunity.id).limit(1).scalar_subquery()
    inner = (
        in_deal_order(
            context,
            select(*deal_columns(), Opportunity.close_date.label("won_on"), status.label("handoff")),
            Opportunity.id,
        )
        .where(
            Opportunity.is_won.is_(True),
            context.deal_scope,
            Opportunity.close_date <= newest,
            Opportunity.close_date >= oldest,
            or_(status.is_(None), status != HandoffStatus.ACCEPTED.value),
        )
        .cte()
        .prefix_with(MATERIALIZED)
    )
    evidence = {"won_on": inner.c.won_on, "handoff_status": func.coalesce(inner.c.handoff, text_of("none"))}
    return Detection(
        GapKind.HANDOFF_NOT_ACCEPTED,
        select(*deal_hit_columns(context, inner, evidence)),
        "opportunity",
    )
