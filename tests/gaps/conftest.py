"""A small team with accounts and contacts for the gap tests, and helpers to scan one kind."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bridgehead.auth.models import Role, User
from bridgehead.common.types import utcnow
from bridgehead.crm.models import Account, ActivityDirection, Contact, Opportunity
from bridgehead.deals.models import Stakeholder, StakeholderRole
from bridgehead.intelligence.gaps.models import GapKind, GapSignal
from bridgehead.intelligence.gaps.scan import ScanResult, scan
from tests.factories import make_account, make_activity, make_contact, make_opportunity, make_user

NOW = utcnow()


@dataclass
class Org:
    """A manager with a rep, another rep outside the line, an executive, a planner; an account with contacts."""

    manager: User
    rep: User
    other_rep: User
    executive: User
    planner: User
    account: Account
    contacts: list[Contact]


@pytest.fixture
def org(db_session: Session) -> Org:
    """The organisation, flushed into the test's transaction."""
    manager = make_user(db_session, role=Role.MANAGER, full_name="Mona Manager")
    rep = make_user(db_session, full_name="Rita Rep", manager_id=manager.id)
    other_rep = make_user(db_session, full_name="Otto Other")
    executive = make_user(db_session, role=Role.EXECUTIVE, full_name="Eve Exec")
    planner = make_user(db_session, role=Role.PLANNER, full_name="Pia Planner")
    account = make_account(db_session, name="Globex", owner_id=rep.id)
    contacts = [make_contact(db_session, account_id=account.id, last_name=f"Buyer{i}") for i in range(5)]
    return Org(manager, rep, other_rep, executive, planner, account, contacts)


def deal(session: Session, org: Org, **fields: Any) -> Opportunity:
    """An open deal of the rep on the org's account, with recent activity (so it is not stale)."""
    values: dict[str, Any] = {
        "owner_id": org.rep.id,
        "account_id": org.account.id,
        "product": "Analytics Cloud",
        "amount": Decimal("50000"),
    }
    values.update(fields)
    return make_opportunity(session, **values)


def engage(
    session: Session, opportunity: Opportunity, contact: Contact, *, role: str = "champion", days_ago: int = 1
) -> Stakeholder:
    """Put ``contact`` on the deal's map and record an outbound call with them ``days_ago`` days ago."""
    stakeholder = Stakeholder(
        opportunity_id=opportunity.id, contact_id=contact.id, role=StakeholderRole(role)
    )
    session.add(stakeholder)
    make_activity(
        session,
        contact_id=contact.id,
        account_id=opportunity.account_id,
        opportunity_id=opportunity.id,
        occurred_at=NOW - dt.timedelta(days=days_ago),
        direction=ActivityDirection.OUTBOUND,
    )
    session.flush()
    return stakeholder


def run(session: Session, kind: GapKind, **options: Any) -> ScanResult:
    """Scan one kind at ``NOW``."""
    return scan(session, kinds=[kind], now=options.pop("now", NOW), **options)


def open_signals(session: Session, kind: GapKind) -> dict[int | None, GapSignal]:
    """Open signals of ``kind`` by deal id (account subjects under their account id, negated)."""
    rows = session.scalars(select(GapSignal).where(GapSignal.kind == kind, GapSignal.resolved_at.is_(None)))
    session.expire_all()
    return {
        (row.opportunity_id if row.opportunity_id is not None else -(row.account_id or 0)): row
        for row in rows
    }


def open_signal_rows(session: Session) -> set[tuple[Any, ...]]:
    """Every open signal's stored values (but its id), to compare what two scans wrote; a signal
    with the subject key "dummy" (a test's placeholder) is left out."""
    rows = session.scalars(
        select(GapSignal).where(GapSignal.resolved_at.is_(None), GapSignal.subject_key != "dummy")
    ).all()
    return {
        (
            row.kind,
            row.severity,
            row.subject_key,
            row.opportunity_id,
            row.account_id,
            row.owner_id,
            row.amount_at_risk,
            row.explanation,
            str(sorted(row.evidence.items())),
            row.raised_at,
        )
        for row in rows
    }
