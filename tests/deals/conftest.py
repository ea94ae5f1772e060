"""A small team and one deal with contacts, shared by the deals tests."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy.orm import Session

from bridgehead.auth.models import Role, User
from bridgehead.crm.models import Account, Contact, Opportunity
from tests.factories import make_account, make_contact, make_opportunity, make_user


@dataclass
class Team:
    """A manager with two reps, an executive, a deal of the first rep and contacts at its account."""

    manager: User
    rep: User
    other_rep: User
    executive: User
    account: Account
    contacts: list[Contact]
    deal: Opportunity
    other_account: Account
    stranger: Contact


@pytest.fixture
def team(db_session: Session) -> Team:
    """The team, flushed into the test's transaction."""
    manager = make_user(db_session, role=Role.MANAGER, full_name="Mona Manager")
    rep = make_user(db_session, full_name="Rita Rep", manager_id=manager.id)
    other_rep = make_user(db_session, full_name="Otto Other")
    executive = make_user(db_session, role=Role.EXECUTIVE, full_name="Eve Exec")
    account = make_account(db_session, name="Globex", owner_id=rep.id)
    cfo = make_contact(
        db_session, account_id=account.id, first_name="Carla", last_name="Finance", title="CFO"
    )
    cio = make_contact(
        db_session,
        account_id=account.id,
        first_name="Ian",
        last_name="Tech",
        title="CIO",
        reports_to_id=cfo.id,
    )
    analyst = make_contact(
        db_session,
        account_id=account.id,
        first_name="Ana",
        last_name="Lyst",
        title="Analyst",
        reports_to_id=cio.id,
    )
    other_account = make_account(db_session, name="Initech", owner_id=other_rep.id)
    stranger = make_contact(db_session, account_id=other_account.id, first_name="Sam", last_name="Stranger")
    deal = make_opportunity(
        db_session,
        owner_id=rep.id,
        account_id=account.id,
        name="Globex platform",
        stage="Prospecting",
        type="New Business",
    )
    return Team(
        manager, rep, other_rep, executive, account, [cfo, cio, analyst], deal, other_account, stranger
    )
