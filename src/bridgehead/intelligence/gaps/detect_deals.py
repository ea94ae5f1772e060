"""Detectors over the playbook a deal's stage sets: stakeholders, qualification, fields, action plans, handoff.

Each function returns one SELECT of hits (``sqltools.HIT_COLUMNS``); the stage a deal is in comes
from ``sqltools.stage_case``, so a deal maps to its process stage as ``deals.compliance`` maps it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    String,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    null,
    or_,
    select,
)
from sqlalchemy.orm import Session, aliased

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
from bridgehead.deals.qualification import STATUS_RANK, framework_dimensions
from bridgehead.deals.stakeholders import ENGAGEMENT_WINDOW_DAYS, engaged_condition
from bridgehead.intelligence.gaps.models import GapKind
from bridgehead.intelligence.gaps.rules import SEGMENT_MINIMUMS
from bridgehead.intelligence.gaps.sqltools import (
    DetectContext,
    Detection,
    deal_columns,
    deal_hit_columns,
    open_deals,
    plural,
    sentence,
    stage_case,
    text_of,
)
from bridgehead.strategy.models import Segment, SegmentMember


def _open_stage_name(stage: ProcessStage) -> str | None:
    return None if stage.is_closed else stage.name


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
    stage_minimum = stage_case(
        context.contexts,
        lambda stage: (
            None if stage.is_closed or not stage.min_engaged_stakeholders else stage.min_engaged_stakeholders
        ),
    )
    segment_minimum, segment_name = _segment_requirement(session, context)
    inner = (
        select(
            *deal_columns(),
            stage_case(context.contexts, _open_stage_name).label("stage"),
            stage_minimum.label("stage_minimum"),
            segment_minimum.label("segment_minimum"),
            segment_name.label("segment"),
            engaged.label("engaged"),
        )
        .where(*open_deals(context), stage_minimum.is_not(None))
        .subquery()
    )
    required = case(
        (func.coalesce(inner.c.segment_minimum, 0) > inner.c.stage_minimum, inner.c.segment_minimum),
        else_=inner.c.stage_minimum,
    )
    segment_part = case(
        (
            inner.c.segment_minimum.is_not(None),
            sentence(" and segment ", inner.c.segment, " requires ", inner.c.segment_minimum),
        ),
        else_=text_of(""),
    )
    explanation = sentence(
        inner.c.engaged,
        plural(inner.c.engaged, " engaged stakeholder", " engaged stakeholders"),
        "; stage ",
        inner.c.stage,
        " requires ",
        inner.c.stage_minimum,
        segment_part,
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
    rows = select(*deal_hit_columns(context, inner, explanation, evidence)).where(inner.c.engaged < required)
    return Detection(GapKind.SINGLE_THREADED, rows, "opportunity")


def no_economic_buyer(session: Session, context: DetectContext) -> Detection:
    """Open deals in a stage that needs an engaged economic buyer, without one."""
    cutoff = context.now - dt.timedelta(days=ENGAGEMENT_WINDOW_DAYS)
    buyer = aliased(Stakeholder)
    is_buyer = and_(buyer.opportunity_id == Opportunity.id, buyer.role == StakeholderRole.ECONOMIC_BUYER)
    stage = stage_case(
        context.contexts,
        lambda item: item.name if item.requires_economic_buyer and not item.is_closed else None,
    )
    inner = (
        select(
            *deal_columns(),
            stage.label("stage"),
            exists().where(is_buyer).label("on_map"),
        )
        .where(
            *open_deals(context),
            stage.is_not(None),
            ~exists().where(is_buyer, engaged_condition(buyer, cutoff)),
        )
        .subquery()
    )
    explanation = case(
        (
            inner.c.on_map,
            sentence(
                f"The economic buyer is on the map but not engaged in {ENGAGEMENT_WINDOW_DAYS} days; stage ",
                inner.c.stage,
                " requires an engaged economic buyer",
            ),
        ),
        else_=sentence("No economic buyer on the stakeholder map; stage ", inner.c.stage, " requires one"),
    )
    evidence = {"stage": inner.c.stage, "economic_buyer_on_map": inner.c.on_map}
    return Detection(
        GapKind.NO_ECONOMIC_BUYER,
        select(*deal_hit_columns(context, inner, explanation, evidence)),
        "opportunity",
    )


def _list_of(items: list[tuple[ColumnElement[bool], str]]) -> tuple[ColumnElement[int], ColumnElement[str]]:
    """How many conditions hold, and the labels of those that hold, comma-separated."""
    count: ColumnElement[int] = literal(0)
    labels: ColumnElement[str] = text_of("")
    for condition, label in items:
        count = count + case((condition, 1), else_=0)
        labels = labels + case((condition, text_of(f"{label}, ")), else_=text_of(""))
    return count, func.rtrim(labels, ", ")


def qualification_incomplete(session: Session, context: DetectContext) -> Detection:
    """Open deals whose stage's required dimensions are below the stage's minimum status."""
    dimensions_by_process = {
        ctx.process.id: {d.key: d for d in framework_dimensions(session, ctx.framework.id)}
        for ctx in context.contexts
    }

    def missing(stage: ProcessStage) -> tuple[ColumnElement[int], ColumnElement[str], int] | None:
        if stage.is_closed or not stage.required_dimensions:
            return None
        dimensions = dimensions_by_process[stage.process_id]
        good = [
            status.value for status, rank in STATUS_RANK.items() if rank >= STATUS_RANK[stage.minimum_status]
        ]
        items = [
            (
                ~exists().where(
                    QualificationEntry.opportunity_id == Opportunity.id,
                    QualificationEntry.dimension_id == dimensions[key].id,
                    QualificationEntry.status.in_(good),
                ),
                dimensions[key].name,
            )
            for key in stage.required_dimensions
            if key in dimensions
        ]
        if not items:
            return None
        count, labels = _list_of(items)
        return count, labels, len(items)

    def part(index: int) -> Any:
        return lambda stage: None if (found := missing(stage)) is None else found[index]

    missing_count = stage_case(context.contexts, part(0))
    inner = (
        select(
            *deal_columns(),
            stage_case(context.contexts, _open_stage_name).label("stage"),
            stage_case(context.contexts, lambda s: s.minimum_status.value).label("minimum"),
            missing_count.label("missing_count"),
            stage_case(context.contexts, part(1)).label("missing"),
            stage_case(context.contexts, part(2)).label("required_count"),
        )
        .where(*open_deals(context), missing_count > 0)
        .subquery()
    )
    explanation = sentence(
        inner.c.missing_count,
        " of ",
        inner.c.required_count,
        " qualification dimensions below ",
        inner.c.minimum,
        " for stage ",
        inner.c.stage,
        ": ",
        inner.c.missing,
    )
    evidence = {
        "stage": inner.c.stage,
        "minimum_status": inner.c.minimum,
        "missing": inner.c.missing,
        "missing_count": inner.c.missing_count,
        "required_count": inner.c.required_count,
    }
    return Detection(
        GapKind.QUALIFICATION_INCOMPLETE,
        select(*deal_hit_columns(context, inner, explanation, evidence)),
        "opportunity",
    )


def missing_fields(session: Session, context: DetectContext) -> Detection:
    """Open deals with fields their stage requires left empty."""

    def missing(stage: ProcessStage) -> tuple[ColumnElement[int], ColumnElement[str]] | None:
        names = [name for name in stage.required_fields if getattr(Opportunity, name, None) is not None]
        if stage.is_closed or not names:
            return None
        return _list_of(
            [(getattr(Opportunity, name).is_(None), REQUIRED_FIELD_LABELS.get(name, name)) for name in names]
        )

    count = stage_case(context.contexts, lambda stage: None if (m := missing(stage)) is None else m[0])
    inner = (
        select(
            *deal_columns(),
            stage_case(context.contexts, _open_stage_name).label("stage"),
            count.label("missing_count"),
            stage_case(context.contexts, lambda stage: None if (m := missing(stage)) is None else m[1]).label(
                "missing"
            ),
        )
        .where(*open_deals(context), count > 0)
        .subquery()
    )
    explanation = sentence("Stage ", inner.c.stage, " requires ", inner.c.missing, "; not filled in")
    evidence = {"stage": inner.c.stage, "missing": inner.c.missing, "missing_count": inner.c.missing_count}
    return Detection(
        GapKind.MISSING_FIELDS,
        select(*deal_hit_columns(context, inner, explanation, evidence)),
        "opportunity",
    )


def _late_stage(context: DetectContext) -> ColumnElement[Any]:
    threshold = context.rule.number("late_stage_probability")
    return stage_case(
        context.contexts,
        lambda stage: stage.name if not stage.is_closed and stage.probability >= threshold else None,
    )


def no_action_plan(session: Session, context: DetectContext) -> Detection:
    """Late-stage open deals without a mutual action plan."""
    stage = _late_stage(context)
    inner = (
        select(*deal_columns(), stage.label("stage"))
        .where(
            *open_deals(context),
            stage.is_not(None),
            ~exists().where(ActionPlan.opportunity_id == Opportunity.id),
        )
        .subquery()
    )
    threshold = context.rule.number("late_stage_probability")
    explanation = sentence(
        "No mutual action plan; stage ",
        inner.c.stage,
        f" is a late stage (probability {threshold} % or more)",
    )
    evidence = {"stage": inner.c.stage, "late_stage_probability": threshold}
    return Detection(
        GapKind.NO_ACTION_PLAN,
        select(*deal_hit_columns(context, inner, explanation, evidence)),
        "opportunity",
    )


def action_plan_overdue(session: Session, context: DetectContext) -> Detection:
    """Late-stage open deals whose mutual action plan has open steps past their due date."""
    stage = _late_stage(context)
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
        select(*deal_columns(), stage.label("stage"), count.label("overdue"), oldest.label("oldest_due"))
        .where(*open_deals(context), stage.is_not(None), exists().where(overdue))
        .subquery()
    )
    explanation = sentence(
        inner.c.overdue,
        plural(inner.c.overdue, " mutual action plan step", " mutual action plan steps"),
        " overdue, the oldest due ",
        inner.c.oldest_due,
        "; stage ",
        inner.c.stage,
    )
    evidence = {
        "stage": inner.c.stage,
        "overdue_steps": inner.c.overdue,
        "oldest_due_date": inner.c.oldest_due,
    }
    return Detection(
        GapKind.ACTION_PLAN_OVERDUE,
        select(*deal_hit_columns(context, inner, explanation, evidence)),
        "opportunity",
    )


def handoff_not_accepted(session: Session, context: DetectContext) -> Detection:
    """Recently won deals whose handoff to customer success is missing or not accepted."""
    newest = context.today - dt.timedelta(days=context.rule.number("grace_days"))
    oldest = context.today - dt.timedelta(days=context.rule.number("lookback_days"))
    status = select(Handoff.status).where(Handoff.opportunity_id == Opportunity.id).limit(1).scalar_subquery()
    inner = (
        select(*deal_columns(), Opportunity.close_date.label("won_on"), status.label("handoff"))
        .where(
            Opportunity.is_won.is_(True),
            context.deal_scope,
            Opportunity.close_date <= newest,
            Opportunity.close_date >= oldest,
            or_(status.is_(None), status != HandoffStatus.ACCEPTED.value),
        )
        .subquery()
    )
    explanation = case(
        (
            inner.c.handoff.is_(None),
            sentence("Won on ", inner.c.won_on, " and no handoff to customer success has been opened"),
        ),
        else_=sentence("Won on ", inner.c.won_on, "; customer success has not accepted the handoff"),
    )
    evidence = {"won_on": inner.c.won_on, "handoff_status": func.coalesce(inner.c.handoff, text_of("none"))}
    return Detection(
        GapKind.HANDOFF_NOT_ACCEPTED,
        select(*deal_hit_columns(context, inner, explanation, evidence)),
        "opportunity",
    )
