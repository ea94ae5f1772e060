"""The demo organisation: a deterministic, scalable B2B revenue organisation, "Meridian Cloud".

``load_demo`` fills an empty database with a company, its regions and teams, its people, a customer
base with contacts, eight quarters of opportunities with complete stage history and contact roles,
and the activities behind them. The data tells a story the analytics should find: leadership wants
to move upmarket into enterprise financial services, where deals are won, but the commercial teams
and one mid-market team keep spending their pipeline and effort on small accounts.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from bridgehead.audit.service import record_change
from bridgehead.auth.models import Role, User
from bridgehead.auth.passwords import hash_password
from bridgehead.crm.models import (
    Account,
    Activity,
    Contact,
    ContactRole,
    Opportunity,
    OpportunityHistory,
    OrgUnit,
)
from bridgehead.demo.accounts import build_accounts
from bridgehead.demo.activities import build_activities
from bridgehead.demo.catalogue import EMAIL_DOMAIN, REGIONS, TEAM_ARCHETYPES
from bridgehead.demo.deals import build_deal_execution
from bridgehead.demo.gaps import build_gap_signals
from bridgehead.demo.governance import build_initiatives
from bridgehead.demo.history import build_history
from bridgehead.demo.organisation import WELL_KNOWN, Organisation, build_organisation, team_external_id
from bridgehead.demo.pipeline import generate_deals, write_contact_roles, write_opportunities
from bridgehead.demo.quotas import build_quotas
from bridgehead.demo.sampling import Timeline
from bridgehead.demo.segments import build_segments
from bridgehead.demo.strategy import build_strategy
from bridgehead.demo.writer import BulkWriter, ProgressCallback
from bridgehead.errors import Conflict, ValidationFailed
from bridgehead.intelligence.board.demo import build_plan_figures
from bridgehead.intelligence.board.service import refresh_company_board

# Public on purpose: printed by `bridgehead demo` and shown on the sign-in page of a demo install.
DEMO_PASSWORD: str = "bridgehead-demo"  # noqa: S105
MIN_SCALE = 0.01
MAX_SCALE = 100.0

_SHOWCASE_ARCHETYPE = "NA-COMMERCIAL"
_TABLES_FILLED = (OrgUnit, User, Account, Contact, Opportunity, OpportunityHistory, ContactRole, Activity)


@dataclass(frozen=True)
class DemoLogin:
    """A demo user worth signing in as, with what they are for."""

    role: str
    email: str
    full_name: str
    note: str


@dataclass(frozen=True)
class DemoSummary:
    """How much the demo loaded, and who to sign in as (all with ``DEMO_PASSWORD``)."""

    org_units: int
    users: int
    accounts: int
    contacts: int
    opportunities: int
    stage_history: int
    activities: int
    contact_roles: int
    logins: list[DemoLogin]


def database_has_data(session: Session) -> bool:
    """Whether any user, account or opportunity is stored (the demo needs an empty database)."""
    return any(
        session.execute(select(model.id).limit(1)).first() is not None
        for model in (User, Account, Opportunity)
    )


def _check_scale(scale: float) -> None:
    if isinstance(scale, bool) or not isinstance(scale, int | float) or not math.isfinite(scale):
        raise ValidationFailed(f"scale must be a number, got {scale!r}", field="scale", value=scale)
    if not MIN_SCALE <= scale <= MAX_SCALE:
        raise ValidationFailed(
            f"scale must be between {MIN_SCALE} and {MAX_SCALE:g}, got {scale:g}", field="scale", value=scale
        )


def _check_empty(session: Session) -> None:
    if database_has_data(session):
        raise Conflict(
            "the database already has users, accounts or opportunities; load the demo into an empty one"
        )
    # The demo assigns ids from 1, so any other row in its tables would collide.
    for model in _TABLES_FILLED:
        if session.execute(select(model.id).limit(1)).first() is not None:
            raise Conflict(f"table {model.__tablename__} is not empty; load the demo into an empty database")


def load_demo(
    session: Session,
    *,
    scale: float = 1.0,
    seed: int = 7,
    as_of: dt.date | None = None,
    progress: ProgressCallback | None = None,
) -> DemoSummary:
    """Load the demo organisation into an empty database; flush, never commit (the caller owns the transaction).

    ``scale`` multiplies reps, teams, accounts, contacts, deals and activities (0.01 to 100);
    the same ``seed`` and ``as_of`` always give the same data. ``as_of`` (default today) ends the
    eight quarters of history; nothing is dated on or after it. ``progress`` is called with
    (step, rows done, rows total) as each step advances.

    Raises ``ValidationFailed`` for a scale out of range and ``Conflict`` if the database has data.
    """
    _check_scale(scale)
    _check_empty(session)
    if as_of is None:
        as_of = dt.date.today()
    elif isinstance(as_of, dt.datetime):
        as_of = as_of.date()
    timeline = Timeline.ending(as_of)
    rng = np.random.default_rng(seed)
    writer = BulkWriter(session, progress)
    # One hash for every demo login: argon2 is deliberately slow, and all share the password.
    password_hash = hash_password(DEMO_PASSWORD)

    with writer.large_cache():
        org = build_organisation(rng, writer, timeline, scale, password_hash)
        accounts = build_accounts(rng, writer, timeline, scale, org)
        deals = generate_deals(rng, timeline, scale, org, accounts)
        write_opportunities(writer, deals, accounts)
        history_rows = build_history(rng, writer, deals)
        contact_roles = write_contact_roles(rng, writer, deals, accounts)
        activities = build_activities(rng, writer, timeline, scale, org, accounts, deals)
        writer.reset_sequences(
            {
                OrgUnit.__tablename__: org.org_unit_count,
                User.__tablename__: org.user_count,
                Account.__tablename__: accounts.count,
                Contact.__tablename__: accounts.contact_count,
                Opportunity.__tablename__: deals.count,
                OpportunityHistory.__tablename__: history_rows,
                ContactRole.__tablename__: contact_roles,
                Activity.__tablename__: activities,
            }
        )
    # The layers above the CRM records, each built from what is now stored, in the order of the chain.
    priorities = build_strategy(session, as_of=as_of, seed=seed)
    build_segments(session, priorities=priorities, as_of=as_of)
    build_deal_execution(session, as_of=as_of, seed=seed)
    build_initiatives(session, priorities=priorities, as_of=as_of, seed=seed)
    build_plan_figures(session, priorities=priorities)
    build_quotas(session, as_of=as_of)
    build_gap_signals(session, as_of=as_of)
    summary = DemoSummary(
        org_units=org.org_unit_count,
        users=org.user_count,
        accounts=accounts.count,
        contacts=accounts.contact_count,
        opportunities=deals.count,
        stage_history=history_rows,
        activities=activities,
        contact_roles=contact_roles,
        logins=_logins_of(org),
    )
    # One entry for the whole load: the rows were written in bulk, by the system, not by a user.
    counts = {name: value for name, value in vars(summary).items() if isinstance(value, int)}
    record_change(
        session,
        actor_id=None,
        action="load",
        object_type="demo",
        object_id="meridian-cloud",
        before=None,
        after={"scale": scale, "seed": seed, "as_of": as_of, **counts},
        source="demo",
    )
    # The executive's landing page, read once now rather than on the first view.
    refresh_company_board(session)
    session.flush()
    return summary


def _showcase_team(org: Organisation) -> int:
    archetype = next(index for index, item in enumerate(TEAM_ARCHETYPES) if item.key == _SHOWCASE_ARCHETYPE)
    return int(org.archetype_team_start[archetype])


def _logins_of(org: Organisation) -> list[DemoLogin]:
    logins = []
    for user_index, (role, _, note) in enumerate(WELL_KNOWN):
        full_name, email = org.user_names[user_index]
        logins.append(DemoLogin(role.value, email, full_name, note))
    vp_name, vp_email = org.user_names[int(org.region_vp_ids[0]) - 1]
    logins.append(DemoLogin(Role.MANAGER.value, vp_email, vp_name, f"regional VP, {REGIONS[0][1]}"))
    team = _showcase_team(org)
    team_name = org.team_names[team]
    manager_name, manager_email = org.user_names[int(org.team_manager_ids[team]) - 1]
    logins.append(DemoLogin(Role.MANAGER.value, manager_email, manager_name, f"manager of {team_name}"))
    rep_name, rep_email = org.user_names[int(org.rep_ids[org.team_rep_start[team]]) - 1]
    logins.append(DemoLogin(Role.REP.value, rep_email, rep_name, f"rep in {team_name}"))
    return logins


def demo_logins(session: Session) -> list[DemoLogin]:
    """The demo's showcase logins, read back from a loaded database (empty if the demo is not loaded)."""
    logins: list[DemoLogin] = []
    for role, login, note in WELL_KNOWN:
        user = session.scalars(select(User).where(User.email == f"{login}@{EMAIL_DOMAIN}")).first()
        if user is not None:
            logins.append(DemoLogin(role.value, user.email, user.full_name, note))
    showcase = (
        (Role.MANAGER, f"DEMO-ORG-{REGIONS[0][0]}", "regional VP, {unit}"),
        (Role.MANAGER, team_external_id(_SHOWCASE_ARCHETYPE, 1), "manager of {unit}"),
        (Role.REP, team_external_id(_SHOWCASE_ARCHETYPE, 1), "rep in {unit}"),
    )
    for role, unit_external_id, note in showcase:
        row = session.execute(
            select(User, OrgUnit.name)
            .join(OrgUnit, User.org_unit_id == OrgUnit.id)
            .where(OrgUnit.external_id == unit_external_id, User.role == role, User.is_active.is_(True))
            .order_by(User.id)
            .limit(1)
        ).first()
        if row is not None:
            user, unit_name = row
            logins.append(DemoLogin(role.value, user.email, user.full_name, note.format(unit=unit_name)))
    return logins


__all__ = [
    "DEMO_PASSWORD",
    "DemoLogin",
    "DemoSummary",
    "ProgressCallback",
    "database_has_data",
    "demo_logins",
    "load_demo",
]
