"""A small organisation for the priority, back-brief and trace tests: company → two regions → teams."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from bridgehead.auth.models import Role, User
from bridgehead.crm.models import OrgUnit, OrgUnitKind
from bridgehead.strategy import service
from bridgehead.strategy.models import Priority
from bridgehead.strategy.schemas import PriorityCreate, RestatementCreate
from tests.factories import make_org_unit, make_user


@dataclass
class Org:
    """Units and people: an executive at the company, a VP per region, a manager and a rep in team A1."""

    company: OrgUnit
    region_a: OrgUnit
    region_b: OrgUnit
    team_a1: OrgUnit
    team_b1: OrgUnit
    executive: User
    admin: User
    planner: User
    vp_a: User
    vp_b: User
    manager_a1: User
    manager_b1: User
    rep_a1: User


def make_org(session: Session) -> Org:
    """Build the organisation (flushed, not committed)."""
    company = make_org_unit(session, name="Acme", kind=OrgUnitKind.COMPANY)
    region_a = make_org_unit(session, name="Region A", kind=OrgUnitKind.REGION, parent_id=company.id)
    region_b = make_org_unit(session, name="Region B", kind=OrgUnitKind.REGION, parent_id=company.id)
    team_a1 = make_org_unit(session, name="Team A1", kind=OrgUnitKind.TEAM, parent_id=region_a.id)
    team_b1 = make_org_unit(session, name="Team B1", kind=OrgUnitKind.TEAM, parent_id=region_b.id)
    executive = make_user(session, role=Role.EXECUTIVE, full_name="Eve Executive", org_unit_id=company.id)
    vp_a = make_user(
        session, role=Role.MANAGER, full_name="Vic VP A", org_unit_id=region_a.id, manager_id=executive.id
    )
    vp_b = make_user(
        session, role=Role.MANAGER, full_name="Val VP B", org_unit_id=region_b.id, manager_id=executive.id
    )
    manager_a1 = make_user(
        session, role=Role.MANAGER, full_name="Mia Manager A1", org_unit_id=team_a1.id, manager_id=vp_a.id
    )
    manager_b1 = make_user(
        session, role=Role.MANAGER, full_name="Max Manager B1", org_unit_id=team_b1.id, manager_id=vp_b.id
    )
    return Org(
        company=company,
        region_a=region_a,
        region_b=region_b,
        team_a1=team_a1,
        team_b1=team_b1,
        executive=executive,
        admin=make_user(session, role=Role.ADMIN, full_name="Ada Admin", org_unit_id=company.id),
        planner=make_user(session, role=Role.PLANNER, full_name="Pat Planner", org_unit_id=company.id),
        vp_a=vp_a,
        vp_b=vp_b,
        manager_a1=manager_a1,
        manager_b1=manager_b1,
        rep_a1=make_user(
            session, role=Role.REP, full_name="Ray Rep", org_unit_id=team_a1.id, manager_id=manager_a1.id
        ),
    )


def statement(**overrides: Any) -> dict[str, Any]:
    """A valid priority statement; any field overridable."""
    values: dict[str, Any] = {
        "title": "Move upmarket",
        "intent_what": "Win enterprise financial-services accounts",
        "intent_why": "That is where we win and where deals are large",
        "target_metric": "bookings_amount",
        "target_scope": "enterprise financial services",
        "target_value": Decimal("12000000"),
        "target_period": "2026",
        "boundaries": "No new pipeline below 200 employees",
        "status": "active",
    }
    values.update(overrides)
    return values


def company_priority(session: Session, org: Org, **overrides: Any) -> Priority:
    """A company priority stated by the executive."""
    return service.create_priority(
        session, actor=org.executive, data=PriorityCreate(**statement(**overrides))
    )


def restatement(
    session: Session, org: Org, parent: Priority, unit: OrgUnit, actor: User | None = None, **overrides: Any
) -> Priority:
    """A restatement of ``parent`` for ``unit``, by its manager line (the executive by default)."""
    data = RestatementCreate(
        org_unit_id=unit.id, **statement(**{"title": f"{parent.title} in {unit.name}", **overrides})
    )
    return service.restate_priority(session, actor=actor or org.executive, parent_id=parent.id, data=data)
