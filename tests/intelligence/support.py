"""A small organisation built for metric tests: two regions, three teams, a manager and four reps."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from bridgehead.auth.models import Role, User
from bridgehead.crm.models import Opportunity, OrgUnit, OrgUnitKind
from tests.factories import make_opportunity, make_org_unit, make_user

PERIOD = "2025-Q2"
IN_PERIOD = dt.date(2025, 5, 15)


@dataclass
class Org:
    """The test organisation and the deals made in it."""

    company: OrgUnit
    north: OrgUnit
    south: OrgUnit
    team_a: OrgUnit
    team_b: OrgUnit
    team_c: OrgUnit
    manager: User
    rep_a: User
    rep_b: User
    rep_c: User
    rep_d: User
    deals: list[Opportunity] = field(default_factory=list)


def build_org(session: Session) -> Org:
    """Company → North (teams A, B) and South (team C); the manager leads team A (reps A and B)."""
    company = make_org_unit(session, name="Company", kind=OrgUnitKind.COMPANY)
    north = make_org_unit(session, name="North", kind=OrgUnitKind.REGION, parent_id=company.id)
    south = make_org_unit(session, name="South", kind=OrgUnitKind.REGION, parent_id=company.id)
    team_a = make_org_unit(session, name="Team A", parent_id=north.id)
    team_b = make_org_unit(session, name="Team B", parent_id=north.id)
    team_c = make_org_unit(session, name="Team C", parent_id=south.id)
    manager = make_user(session, full_name="Mia Manager", role=Role.MANAGER, org_unit_id=team_a.id)
    rep_a = make_user(session, full_name="Ann Rep", org_unit_id=team_a.id, manager_id=manager.id)
    rep_b = make_user(session, full_name="Ben Rep", org_unit_id=team_a.id, manager_id=manager.id)
    rep_c = make_user(session, full_name="Cat Rep", org_unit_id=team_b.id)
    rep_d = make_user(session, full_name="Dan Rep", org_unit_id=team_c.id)
    return Org(company, north, south, team_a, team_b, team_c, manager, rep_a, rep_b, rep_c, rep_d)


def closed_deal(
    session: Session,
    owner: User,
    *,
    won: bool,
    amount: int,
    cycle_days: int,
    close: dt.date = IN_PERIOD,
    **fields: Any,
) -> Opportunity:
    """A deal closed on ``close`` after ``cycle_days`` days."""
    created = dt.datetime.combine(close - dt.timedelta(days=cycle_days), dt.time(9), tzinfo=dt.UTC)
    return make_opportunity(
        session,
        owner_id=owner.id,
        amount=Decimal(amount),
        stage="Closed Won" if won else "Closed Lost",
        probability=100 if won else 0,
        is_closed=True,
        is_won=won,
        close_date=close,
        created_at=created,
        **fields,
    )


# (owner attribute, won?, amount, cycle days): the closed deals of the period.
CLOSED_DEALS: list[tuple[str, bool, int, int]] = [
    ("rep_a", True, 100_000, 30),
    ("rep_a", True, 300_000, 50),
    ("rep_a", False, 50_000, 10),
    ("rep_b", True, 20_000, 70),
    ("rep_b", False, 80_000, 12),
    ("rep_c", False, 40_000, 5),
    ("rep_c", False, 40_000, 9),
    ("rep_d", True, 500_000, 90),
]


def add_closed_deals(session: Session, org: Org) -> None:
    """The deals of ``CLOSED_DEALS``, plus one won deal outside the period that must never count."""
    for owner, won, amount, days in CLOSED_DEALS:
        org.deals.append(closed_deal(session, getattr(org, owner), won=won, amount=amount, cycle_days=days))
    closed_deal(session, org.rep_a, won=True, amount=999_000, cycle_days=5, close=dt.date(2025, 8, 1))
