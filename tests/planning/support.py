"""A small sales organisation for quota tests: a region with two teams, their people, and deals whose
outcome, owner, date and segment each decide whether a quota counts them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy.orm import Session

from bridgehead.auth.models import Role, User
from bridgehead.crm.models import Account, OrgUnit, OrgUnitKind
from bridgehead.planning.models import QuotaBasis
from bridgehead.planning.schemas import QuotaCreate
from bridgehead.strategy.models import Segment, SegmentMember, SegmentStance
from tests.factories import make_account, make_opportunity, make_org_unit, make_user

Q1 = "2026-Q1"
Q1_START = dt.date(2026, 1, 1)


@dataclass
class Org:
    """The people, the units and the segment of the quota tests."""

    region: OrgUnit
    team: OrgUnit
    other_team: OrgUnit
    planner: User
    executive: User
    manager: User
    rep: User
    teammate: User
    other_rep: User
    segment: Segment
    segment_account: Account
    other_account: Account


def make_org(session: Session) -> Org:
    """Two teams under one region; the manager leads ``rep`` and ``teammate``; a segment with one account."""
    region = make_org_unit(session, name="North America", kind=OrgUnitKind.REGION)
    team = make_org_unit(session, name="NA Enterprise", parent_id=region.id)
    other_team = make_org_unit(session, name="EMEA Commercial")
    manager = make_user(session, role=Role.MANAGER, full_name="Maya Manager", org_unit_id=team.id)
    segment = Segment(name="Enterprise FS", stance=SegmentStance.INVEST, rule={"all": []})
    session.add(segment)
    session.flush()
    segment_account = make_account(session, name="Big Bank")
    session.add(SegmentMember(segment_id=segment.id, account_id=segment_account.id))
    session.flush()
    return Org(
        region=region,
        team=team,
        other_team=other_team,
        planner=make_user(session, role=Role.PLANNER, full_name="Pia Planner"),
        executive=make_user(session, role=Role.EXECUTIVE, full_name="Eve Executive"),
        manager=manager,
        rep=make_user(
            session,
            full_name="Rita Rep",
            email="rita@quota.example",
            org_unit_id=team.id,
            manager_id=manager.id,
            external_id="005000000000001AAA",
        ),
        teammate=make_user(
            session,
            full_name="Tom Teammate",
            email="tom@quota.example",
            org_unit_id=team.id,
            manager_id=manager.id,
        ),
        other_rep=make_user(
            session, full_name="Olga Other", email="olga@quota.example", org_unit_id=other_team.id
        ),
        segment=segment,
        segment_account=segment_account,
        other_account=make_account(session, name="Corner Shop"),
    )


def won(
    session: Session, owner: User, amount: str, close_date: dt.date, account: Account | None = None
) -> None:
    """A deal ``owner`` won on ``close_date``."""
    make_opportunity(
        session,
        owner_id=owner.id,
        account_id=account.id if account else None,
        amount=Decimal(amount),
        stage="Closed Won",
        is_closed=True,
        is_won=True,
        close_date=close_date,
        created_at=dt.datetime(2025, 11, 1, tzinfo=dt.UTC),
    )


def lost(session: Session, owner: User, amount: str, close_date: dt.date) -> None:
    """A deal ``owner`` lost on ``close_date``."""
    make_opportunity(
        session,
        owner_id=owner.id,
        amount=Decimal(amount),
        stage="Closed Lost",
        is_closed=True,
        is_won=False,
        close_date=close_date,
        created_at=dt.datetime(2025, 11, 1, tzinfo=dt.UTC),
    )


def quota(
    owner: User,
    amount: str,
    period: str = Q1,
    *,
    basis: QuotaBasis = QuotaBasis.BOOKINGS,
    ramp: int = 100,
    segment: Segment | None = None,
) -> QuotaCreate:
    """What a planner sends to set a quota."""
    return QuotaCreate(
        owner_id=owner.id,
        period=period,
        basis=basis,
        quota_amount=Decimal(amount),
        ramp_percent=ramp,
        segment_id=segment.id if segment else None,
    )
