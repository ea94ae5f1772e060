"""A small organisation with one priority, built so every gap number can be counted by hand.

Company → North (Team A: manager Mia with reps Ann and Ben; Team B: Cat) and South (Team C: Dan).
The priority invests in the FS segment (its pipeline definition) and deprioritises small business.
The measured period is 2025-Q2, seen from 2025-07-15.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from bridgehead.auth.models import Role, User
from bridgehead.crm.models import Account, Activity, Opportunity, OrgUnit, OrgUnitKind
from bridgehead.deals.models import (
    QualificationDimension,
    QualificationEntry,
    QualificationFramework,
    QualificationStatus,
    Stakeholder,
    StakeholderRole,
)
from bridgehead.strategy.models import (
    PipelineDefinition,
    Priority,
    PriorityStatus,
    Segment,
    SegmentMember,
    SegmentPriority,
    SegmentStance,
    TargetMetric,
)
from tests.factories import (
    make_account,
    make_activity,
    make_contact,
    make_history,
    make_opportunity,
    make_org_unit,
    make_user,
)

PERIOD = "2025-Q2"
NOW = dt.datetime(2025, 7, 15, 12, tzinfo=dt.UTC)
MOMENT = dt.datetime(2025, 7, 1, tzinfo=dt.UTC)  # the end of 2025-Q2: when knowledge is measured


def at(day: dt.date, hour: int = 10) -> dt.datetime:
    """Noon-ish UTC on ``day``."""
    return dt.datetime(day.year, day.month, day.day, hour, tzinfo=dt.UTC)


@dataclass
class World:
    """The organisation, its priority and what was built in it."""

    company: OrgUnit
    north: OrgUnit
    south: OrgUnit
    team_a: OrgUnit
    team_b: OrgUnit
    team_c: OrgUnit
    manager: User
    reps: dict[str, User]
    priority: Priority
    fs_accounts: list[Account]
    small_accounts: list[Account]
    other_account: Account
    deals: dict[str, Opportunity] = field(default_factory=dict)
    activities: list[Activity] = field(default_factory=list)


def _segment(
    session: Session, name: str, stance: SegmentStance, accounts: list[Account], priority: Priority
) -> Segment:
    segment = Segment(name=name, stance=stance, rule={"all": []}, is_active=True, member_count=len(accounts))
    session.add(segment)
    session.flush()
    session.execute(insert(SegmentMember), [{"segment_id": segment.id, "account_id": a.id} for a in accounts])
    session.execute(insert(SegmentPriority), [{"segment_id": segment.id, "priority_id": priority.id}])
    return segment


def build_world(session: Session, *, target: TargetMetric = TargetMetric.SHARE_OF_PIPELINE) -> World:
    """The organisation, the priority (share-of-pipeline target 40% unless told otherwise), segments."""
    company = make_org_unit(session, name="Company", kind=OrgUnitKind.COMPANY)
    north = make_org_unit(session, name="North", kind=OrgUnitKind.REGION, parent_id=company.id)
    south = make_org_unit(session, name="South", kind=OrgUnitKind.REGION, parent_id=company.id)
    team_a = make_org_unit(session, name="Team A", parent_id=north.id)
    team_b = make_org_unit(session, name="Team B", parent_id=north.id)
    team_c = make_org_unit(session, name="Team C", parent_id=south.id)
    manager = make_user(session, full_name="Mia Manager", role=Role.MANAGER, org_unit_id=team_a.id)
    reps = {
        "ann": make_user(session, full_name="Ann Rep", org_unit_id=team_a.id, manager_id=manager.id),
        "ben": make_user(session, full_name="Ben Rep", org_unit_id=team_a.id, manager_id=manager.id),
        "cat": make_user(session, full_name="Cat Rep", org_unit_id=team_b.id),
        "dan": make_user(session, full_name="Dan Rep", org_unit_id=team_c.id),
    }
    priority = Priority(
        org_unit_id=company.id,
        title="Win enterprise FS",
        intent_what="w",
        intent_why="y",
        target_metric=target,
        target_value=Decimal(40) if target == TargetMetric.SHARE_OF_PIPELINE else Decimal(1_000_000),
        target_period="2025",
        status=PriorityStatus.ACTIVE,
        effective_from=dt.date(2025, 1, 1),
    )
    session.add(priority)
    session.flush()
    fs = [make_account(session, name=f"Bank {n}", employees=5000) for n in range(2)]
    small = [make_account(session, name=f"Shop {n}", employees=20, industry="Retail") for n in range(2)]
    other = make_account(session, name="Factory", employees=800, industry="Manufacturing")
    fs_segment = _segment(session, "Enterprise FS", SegmentStance.INVEST, fs, priority)
    _segment(session, "Small business", SegmentStance.DEPRIORITISE, small, priority)
    session.add(PipelineDefinition(priority_id=priority.id, name="FS deals", segment_id=fs_segment.id))
    session.flush()
    return World(company, north, south, team_a, team_b, team_c, manager, reps, priority, fs, small, other)


def deal(
    world: World, session: Session, key: str, owner: str, account: Account, amount: int, **fields: Any
) -> Opportunity:
    """A deal of ``owner`` at ``account``, created in the period and open unless told otherwise."""
    values: dict[str, Any] = {
        "owner_id": world.reps[owner].id,
        "account_id": account.id,
        "amount": Decimal(amount),
        "created_at": at(dt.date(2025, 5, 2)),
        "close_date": dt.date(2025, 9, 30),
        "probability": 20,
    }
    values.update(fields)
    opportunity = make_opportunity(session, name=key, **values)
    world.deals[key] = opportunity
    return opportunity


def activity(
    world: World, session: Session, owner: str, opportunity: Opportunity | None, day: dt.date
) -> None:
    """One activity of ``owner`` (on a deal or not) on ``day``."""
    world.activities.append(
        make_activity(
            session,
            owner_id=world.reps[owner].id,
            opportunity_id=opportunity.id if opportunity else None,
            account_id=opportunity.account_id if opportunity else None,
            occurred_at=at(day),
        )
    )


def qualify(session: Session, opportunity: Opportunity) -> None:
    """One qualification dimension named on the deal."""
    framework = session.query(QualificationFramework).filter_by(key="test").first()
    if framework is None:
        framework = QualificationFramework(key="test", name="Test")
        session.add(framework)
        session.flush()
        session.add(
            QualificationDimension(framework_id=framework.id, key="metrics", name="Metrics", position=0)
        )
        session.flush()
    dimension = session.query(QualificationDimension).filter_by(framework_id=framework.id).one()
    session.add(
        QualificationEntry(
            opportunity_id=opportunity.id, dimension_id=dimension.id, status=QualificationStatus.IDENTIFIED
        )
    )
    session.flush()


def map_stakeholder(session: Session, opportunity: Opportunity) -> None:
    """One stakeholder on the deal."""
    contact = make_contact(session, account_id=opportunity.account_id)
    session.add(
        Stakeholder(opportunity_id=opportunity.id, contact_id=contact.id, role=StakeholderRole.CHAMPION)
    )
    session.flush()


def populate(world: World, session: Session) -> None:
    """Deals, activities and evidence of the period and the one before it."""
    fs1, fs2 = world.fs_accounts
    small1, small2 = world.small_accounts
    # Created in 2025-Q2: 500 toward the priority, 800 off-strategy, 200 elsewhere.
    ann_fs = deal(world, session, "ann-fs", "ann", fs1, 100, close_date=dt.date(2025, 6, 20), probability=100)
    ann_small = deal(world, session, "ann-small", "ann", small1, 300)
    ben_other = deal(world, session, "ben-other", "ben", world.other_account, 200)
    cat_fs = deal(world, session, "cat-fs", "cat", fs2, 400)
    dan_small = deal(world, session, "dan-small", "dan", small2, 500)
    # Activities in 2025-Q2: 4 on FS deals, 4 on small-business deals, 2 elsewhere.
    for item, owner, day in (
        (ann_fs, "ann", dt.date(2025, 6, 25)),
        (ann_fs, "ann", dt.date(2025, 5, 5)),
        (ann_small, "ann", dt.date(2025, 5, 6)),
        (ann_small, "ann", dt.date(2025, 5, 7)),
        (ann_small, "ann", dt.date(2025, 5, 8)),
        (ben_other, "ben", dt.date(2025, 5, 9)),
        (cat_fs, "cat", dt.date(2025, 5, 20)),
        (cat_fs, "cat", dt.date(2025, 5, 21)),
        (dan_small, "dan", dt.date(2025, 6, 1)),
    ):
        activity(world, session, owner, item, day)
    activity(world, session, "ben", None, dt.date(2025, 6, 2))
    # Evidence: Ann's FS deal is qualified, mapped and touched within 21 days of the period's end.
    qualify(session, ann_fs)
    map_stakeholder(session, ann_fs)
    # Closed FS deals: Q1 (the baseline) 2 won of 2, cycles 20 and 40 days, 800 won;
    # Q2: Ann won 1000 in 30 days, Cat lost one.
    for key, owner, account, amount, created, closed, won in (
        ("q1-won-a", "ann", fs1, 300, dt.date(2025, 1, 1), dt.date(2025, 1, 21), True),
        ("q1-won-b", "cat", fs2, 500, dt.date(2024, 12, 31), dt.date(2025, 2, 9), True),
        ("q2-won", "ann", fs1, 1000, dt.date(2025, 3, 2), dt.date(2025, 4, 1), True),
        ("q2-lost", "cat", fs2, 700, dt.date(2025, 3, 10), dt.date(2025, 5, 10), False),
    ):
        deal(
            world, session, key, owner, account, amount,
            created_at=at(created, 9), close_date=closed, is_closed=True, is_won=won,
            stage="Closed Won" if won else "Closed Lost", probability=100 if won else 0,
        )  # fmt: skip
    # On 1 April (the start of Q2, when its forecast was taken) the deal lost in May stood at 50%.
    make_history(
        session, world.deals["q2-lost"], changed_at=at(dt.date(2025, 3, 15)), probability=50, stage="Proposal"
    )
