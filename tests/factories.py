"""Factories: one function per model, valid defaults, any field overridable, flushed not committed."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from typing import Any

from argon2 import PasswordHasher
from sqlalchemy.orm import Session

from bridgehead.auth.models import ApiToken, Role, User
from bridgehead.auth.service import IssuedToken, create_api_token, start_session
from bridgehead.crm.models import (
    Account,
    Activity,
    ActivityDirection,
    ActivityKind,
    Contact,
    ContactRole,
    ForecastCategory,
    Opportunity,
    OpportunityHistory,
    OrgUnit,
    OrgUnitKind,
)

DEFAULT_PASSWORD = "correct horse battery"
_counter = itertools.count(1)
_password_hash: str | None = None


def _next() -> int:
    return next(_counter)


def _default_hash() -> str:
    """One argon2id hash of ``DEFAULT_PASSWORD`` for every factory user.

    Made with the cheapest parameters: verification reads the cost from the hash itself, so a
    sign-in in a test takes a millisecond instead of the production setting's tenth of a second.
    """
    global _password_hash
    if _password_hash is None:
        _password_hash = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(DEFAULT_PASSWORD)
    return _password_hash


def _save(session: Session, obj: Any) -> Any:
    """Insert and read back, so the object holds what the database stores (money to the cent,
    times in UTC), as it would when a later request loads it."""
    session.add(obj)
    session.flush()
    session.refresh(obj)
    return obj


def make_org_unit(session: Session, **fields: Any) -> OrgUnit:
    """An org unit (a team unless ``kind`` says otherwise)."""
    n = _next()
    values: dict[str, Any] = {"name": f"Team {n}", "kind": OrgUnitKind.TEAM}
    values.update(fields)
    return _save(session, OrgUnit(**values))


def make_user(session: Session, **fields: Any) -> User:
    """A user who can sign in with ``DEFAULT_PASSWORD`` (a rep unless ``role`` says otherwise)."""
    n = _next()
    values: dict[str, Any] = {
        "email": f"user{n}@factory.example",
        "full_name": f"Factory User {n}",
        "role": Role.REP,
        "password_hash": _default_hash(),
        "is_active": True,
    }
    values.update(fields)
    return _save(session, User(**values))


def make_token(session: Session, user: User, **fields: Any) -> IssuedToken:
    """A bearer token for ``user``; ``.secret`` is what a client sends."""
    return create_api_token(
        session, user=user, name=fields.get("name", "test"), expires_in_days=fields.get("expires_in_days")
    )


def make_login_session(session: Session, user: User, *, max_age_seconds: int = 3600) -> str:
    """A login session for ``user``; returns the token a browser's ``bh_session`` cookie carries."""
    return start_session(session, user=user, max_age_seconds=max_age_seconds)


def make_account(session: Session, **fields: Any) -> Account:
    """An account."""
    n = _next()
    values: dict[str, Any] = {
        "external_id": f"ACC-{n}",
        "name": f"Account {n}",
        "industry": "Financial Services",
        "employees": 1000,
        "annual_revenue_amount": Decimal("50000000"),
        "country": "United States",
        "state": "New York",
        "custom_fields": {},
    }
    values.update(fields)
    return _save(session, Account(**values))


def make_contact(session: Session, **fields: Any) -> Contact:
    """A contact."""
    n = _next()
    values: dict[str, Any] = {
        "first_name": "Pat",
        "last_name": f"Contact{n}",
        "email": f"pat{n}@buyer.example",
    }
    values.update(fields)
    return _save(session, Contact(**values))


def make_opportunity(session: Session, **fields: Any) -> Opportunity:
    """An open opportunity in Qualification closing in 30 days, for $10,000."""
    n = _next()
    values: dict[str, Any] = {
        "external_id": f"OPP-{n}",
        "name": f"Deal {n}",
        "amount": Decimal("10000"),
        "stage": "Qualification",
        "probability": 20,
        "close_date": dt.date.today() + dt.timedelta(days=30),
        "created_at": dt.datetime.now(dt.UTC) - dt.timedelta(days=10),
        "is_closed": False,
        "is_won": False,
        "forecast_category": ForecastCategory.PIPELINE,
        "custom_fields": {},
    }
    values.update(fields)
    return _save(session, Opportunity(**values))


def make_history(session: Session, opportunity: Opportunity, **fields: Any) -> OpportunityHistory:
    """A history row repeating the opportunity's current values unless overridden."""
    values: dict[str, Any] = {
        "opportunity_id": opportunity.id,
        "changed_at": dt.datetime.now(dt.UTC),
        "stage": opportunity.stage,
        "amount": opportunity.amount,
        "close_date": opportunity.close_date,
        "probability": opportunity.probability,
        "forecast_category": opportunity.forecast_category,
    }
    values.update(fields)
    return _save(session, OpportunityHistory(**values))


def make_contact_role(session: Session, **fields: Any) -> ContactRole:
    """A contact's role on an opportunity."""
    values: dict[str, Any] = {"role": "Economic Buyer", "is_primary": False}
    values.update(fields)
    return _save(session, ContactRole(**values))


def make_activity(session: Session, **fields: Any) -> Activity:
    """An outbound call an hour ago."""
    values: dict[str, Any] = {
        "kind": ActivityKind.CALL,
        "direction": ActivityDirection.OUTBOUND,
        "subject": "Call",
        "occurred_at": dt.datetime.now(dt.UTC) - dt.timedelta(hours=1),
        "custom_fields": {},
    }
    values.update(fields)
    return _save(session, Activity(**values))


__all__ = ["DEFAULT_PASSWORD", "ApiToken"]
