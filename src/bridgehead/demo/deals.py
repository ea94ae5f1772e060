"""The demo organisation's deal execution: stakeholder maps, qualification and action plans of varied quality.

Everything is written set-wise with ``INSERT … SELECT`` over the stored deals, so it scales with the
database, not with Python. Quality is deterministic per deal: a tier from the deal id and the seed
(two in ten exemplary, five typical, three poor) decides how much qualification, how many ticked
exit criteria and whether there is a mutual action plan. The gaps are real: poor deals late in the
cycle lose their economic buyer from the map, some typical plans have overdue steps, and contacts
with a single role leave deals single-threaded.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ColumnElement, and_, case, delete, func, insert, literal, or_, select, update
from sqlalchemy.orm import Session

from bridgehead.common.types import UTCDateTime
from bridgehead.crm.models import Account, Opportunity
from bridgehead.deals.defaults import ensure_defaults
from bridgehead.deals.models import (
    AccountPlan,
    AccountPlanItem,
    ActionPlan,
    ActionStep,
    ExitCriterionCheck,
    Handoff,
    ProcessStage,
    QualificationDimension,
    QualificationEntry,
    SalesProcess,
    Stakeholder,
    StakeholderRole,
    Stance,
)
from bridgehead.deals.stakeholders import refresh_from_contact_roles

RECENT_DAYS = 180
# The stage position from which a dimension is usually known (the ladder of the demo).
_KNOWN_FROM = {
    "identify_pain": 1,
    "metrics": 2,
    "champion": 2,
    "decision_criteria": 2,
    "economic_buyer": 3,
    "decision_process": 3,
    "competition": 4,
    "paper_process": 4,
}
_STAGE_POSITION = {
    "Prospecting": 0,
    "Qualification": 1,
    "Solution": 2,
    "Proposal": 3,
    "Negotiation": 4,
    "Closed Won": 5,
}
_STEPS = (
    ("Discovery workshop with the project team", "Pain confirmed", -35),
    ("Business case reviewed with finance", "Metrics agreed", -14),
    ("Security and legal review", "Paper process started", 7),
    ("Executive sign-off meeting", "Economic buyer approves", 21),
)
_EVIDENCE = {
    "identified": "Named in discovery; not yet confirmed by the buyer.",
    "validated": "Confirmed by the buyer in writing.",
}


def build_deal_execution(session: Session, *, as_of: dt.date, seed: int) -> None:
    """Write sales processes, stakeholder maps, qualification, action plans, account plans and handoffs."""
    ensure_defaults(session)
    process = session.scalars(select(SalesProcess).where(SalesProcess.is_default.is_(True))).one()
    as_of_moment = dt.datetime.combine(as_of, dt.time(9), dt.UTC)
    recent = as_of - dt.timedelta(days=RECENT_DAYS)
    in_scope = or_(Opportunity.is_closed.is_(False), Opportunity.close_date >= recent)
    tier = (Opportunity.id * 7919 + seed) % 10  # 0-1 exemplary, 2-6 typical, 7-9 poor
    exemplary, poor = tier < 2, tier >= 7
    position = case(_STAGE_POSITION, value=Opportunity.stage, else_=3)

    refresh_from_contact_roles(session, deals=in_scope)
    _shape_stakeholders(session, in_scope=in_scope, poor=poor, position=position)
    _qualify(
        session, process, in_scope=in_scope, tier=tier, position=position, seed=seed, moment=as_of_moment
    )
    _tick_exit_criteria(session, process, in_scope=and_(in_scope, ~poor), position=position)
    _action_plans(
        session, as_of=as_of, seed=seed, eligible=and_(Opportunity.is_closed.is_(False), position >= 2, ~poor)
    )
    _handoffs(session, recent=as_of - dt.timedelta(days=60), exemplary=exemplary, moment=as_of_moment)
    _account_plans(session, moment=as_of_moment)
    session.flush()


def _shape_stakeholders(
    session: Session,
    *,
    in_scope: ColumnElement[bool],
    poor: ColumnElement[bool],
    position: ColumnElement[int],
) -> None:
    deals = select(Opportunity.id).where(in_scope)
    session.execute(
        update(Stakeholder)
        .where(Stakeholder.role == StakeholderRole.CHAMPION, Stakeholder.opportunity_id.in_(deals))
        .values(stance=Stance.SUPPORTER)
    )
    poor_deals = select(Opportunity.id).where(in_scope, poor)
    # Some influencers on poor deals oppose us, and nobody has a plan for them.
    session.execute(
        update(Stakeholder)
        .where(
            Stakeholder.role == StakeholderRole.INFLUENCER,
            Stakeholder.opportunity_id.in_(poor_deals),
            Stakeholder.id % 3 == 0,
        )
        .values(stance=Stance.OPPONENT, role=StakeholderRole.BLOCKER)
    )
    # Poor open deals late in the cycle have lost track of the economic buyer.
    late_poor = select(Opportunity.id).where(Opportunity.is_closed.is_(False), poor, position >= 3)
    session.execute(
        delete(Stakeholder).where(
            Stakeholder.role == StakeholderRole.ECONOMIC_BUYER, Stakeholder.opportunity_id.in_(late_poor)
        )
    )


def _qualify(
    session: Session,
    process: SalesProcess,
    *,
    in_scope: ColumnElement[bool],
    tier: ColumnElement[int],
    position: ColumnElement[int],
    seed: int,
    moment: dt.datetime,
) -> None:
    dimensions = session.scalars(
        select(QualificationDimension).where(QualificationDimension.framework_id == process.framework_id)
    ).all()
    for dimension in dimensions:
        known_from = _KNOWN_FROM.get(dimension.key, 3)
        noise = (Opportunity.id * 31 + dimension.position * 17 + seed) % 10
        reached = position >= known_from
        near = position + 1 >= known_from
        status = case(
            (and_(tier < 2, reached), literal("validated")),
            (and_(tier < 2, near), literal("identified")),
            (and_(tier < 7, reached, noise < 5), literal("validated")),
            (and_(tier < 7, reached, noise < 8), literal("identified")),
            (and_(tier < 7, near, noise < 4), literal("identified")),
            (and_(tier >= 7, reached, noise < 3), literal("identified")),
            else_=literal("unknown"),
        )
        rows = select(
            Opportunity.id,
            literal(dimension.id),
            status,
            case(
                (status == "validated", literal(_EVIDENCE["validated"])),
                else_=literal(_EVIDENCE["identified"]),
            ),
            Opportunity.owner_id,
            literal(moment, UTCDateTime()),
            literal("demo"),
        ).where(in_scope, status != "unknown")
        session.execute(
            insert(QualificationEntry).from_select(
                [
                    "opportunity_id",
                    "dimension_id",
                    "status",
                    "evidence",
                    "updated_by_id",
                    "updated_at",
                    "source",
                ],
                rows,
            )
        )


def _tick_exit_criteria(
    session: Session, process: SalesProcess, *, in_scope: ColumnElement[bool], position: ColumnElement[int]
) -> None:
    stages = session.scalars(
        select(ProcessStage).where(ProcessStage.process_id == process.id, ProcessStage.is_closed.is_(False))
    ).all()
    for stage in stages:
        for index in range(len(stage.exit_criteria)):
            # Typical deals skip the last criterion of the stage before their current one now and then.
            skipped = and_(position == stage.position + 1, (Opportunity.id + index) % 4 == 0)
            rows = select(
                Opportunity.id,
                literal(stage.id),
                literal(index),
                Opportunity.owner_id,
                Opportunity.created_at,
            ).where(in_scope, position > stage.position, ~skipped)
            session.execute(
                insert(ExitCriterionCheck).from_select(
                    ["opportunity_id", "stage_id", "criterion_index", "checked_by_id", "checked_at"], rows
                )
            )


def _action_plans(session: Session, *, as_of: dt.date, seed: int, eligible: ColumnElement[bool]) -> None:
    title = func.substr(literal("Path to decision: ") + Opportunity.name, 1, 200)
    session.execute(
        insert(ActionPlan).from_select(
            ["opportunity_id", "title", "created_by_id", "created_at"],
            select(Opportunity.id, title, Opportunity.owner_id, Opportunity.created_at).where(eligible),
        )
    )
    for step_title, milestone, offset in _STEPS:
        for bucket in range(7):
            due = as_of + dt.timedelta(days=offset + bucket)
            due_moment = dt.datetime.combine(due, dt.time(17), dt.UTC)
            # Past steps are done, except on one deal in four, where they are overdue.
            overdue = (ActionPlan.opportunity_id * 13 + seed) % 4 == 0
            completed = literal(due_moment, UTCDateTime()) if due < as_of else None
            completed_at = case((overdue, None), else_=completed) if completed is not None else literal(None)
            rows = select(
                ActionPlan.id,
                literal(step_title),
                literal("Buyer project lead"),
                ActionPlan.created_by_id,
                literal(due),
                literal(milestone),
                completed_at,
                ActionPlan.created_at,
            ).where(
                ActionPlan.opportunity_id % 7 == bucket,
                ActionPlan.created_at <= literal(due_moment, UTCDateTime()),
            )
            session.execute(
                insert(ActionStep).from_select(
                    [
                        "plan_id",
                        "title",
                        "buyer_owner",
                        "seller_owner_id",
                        "due_date",
                        "milestone",
                        "completed_at",
                        "created_at",
                    ],
                    rows,
                )
            )


def _handoffs(
    session: Session, *, recent: dt.date, exemplary: ColumnElement[bool], moment: dt.datetime
) -> None:
    from bridgehead.auth.models import User

    manager = select(User.manager_id).where(User.id == Opportunity.owner_id).scalar_subquery()
    commitments = ["Go-live within 90 days of signature", "Quarterly business review with the sponsor"]
    rows = select(
        Opportunity.id,
        Opportunity.owner_id,
        manager,
        literal(commitments, Handoff.commitments.type),
        literal("Demo handoff: kick-off call booked."),
        case((Opportunity.id % 2 == 0, literal("accepted")), else_=literal("pending")),
        case((Opportunity.id % 2 == 0, manager), else_=None),
        case((Opportunity.id % 2 == 0, literal(moment, UTCDateTime())), else_=None),
        literal(moment, UTCDateTime()),
    ).where(Opportunity.is_won.is_(True), Opportunity.close_date >= recent, exemplary)
    session.execute(
        insert(Handoff).from_select(
            [
                "opportunity_id",
                "created_by_id",
                "recipient_id",
                "commitments",
                "notes",
                "status",
                "accepted_by_id",
                "accepted_at",
                "created_at",
            ],
            rows,
        )
    )


def _account_plans(session: Session, *, moment: dt.datetime) -> None:
    biggest = (
        select(Account.id)
        .where(Account.annual_revenue_amount.is_not(None))
        .order_by(Account.annual_revenue_amount.desc(), Account.id)
        .limit(25)
        .subquery()
    )
    session.execute(
        insert(AccountPlan).from_select(
            ["account_id", "summary", "business_units", "created_at", "updated_at"],
            select(
                biggest.c.id,
                literal("Grow from one platform team to the whole finance and risk organisation."),
                literal(["Finance", "IT", "Risk"], AccountPlan.business_units.type),
                literal(moment, UTCDateTime()),
                literal(moment, UTCDateTime()),
            ),
        )
    )
    items = (
        ("objective", "Cut month-end close from 12 to 5 days"),
        ("strength", "Trusted by the data platform team"),
        ("weakness", "No relationship with procurement"),
        ("threat", "Incumbent vendor offers a free renewal year"),
        ("relationship_goal", "Quarterly meeting with the CFO"),
    )
    for kind, text in items:
        session.execute(
            insert(AccountPlanItem).from_select(
                ["plan_id", "kind", "text", "done", "created_at"],
                select(
                    AccountPlan.id,
                    literal(kind),
                    literal(text),
                    literal(False),
                    literal(moment, UTCDateTime()),
                ),
            )
        )
