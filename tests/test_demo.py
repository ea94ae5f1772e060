"""The demo organisation: shape, consistency, determinism, the planted drivers and the story."""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from typing import Any

import pytest
from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session, aliased

from bridgehead.audit.models import AuditEntry
from bridgehead.auth.models import Role, User
from bridgehead.auth.passwords import verify_password
from bridgehead.common.types import Period
from bridgehead.crm.models import (
    Account,
    Activity,
    Contact,
    ContactRole,
    Opportunity,
    OpportunityHistory,
    OrgUnit,
    OrgUnitKind,
)
from bridgehead.db import Base
from bridgehead.demo import DEMO_PASSWORD, database_has_data, demo_logins, load_demo
from bridgehead.demo.organisation import team_plan
from bridgehead.errors import Conflict, ValidationFailed
from bridgehead.planning import service as planning
from bridgehead.planning.models import Quota, QuotaBasis

AS_OF = dt.date(2026, 11, 20)
AS_OF_START = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
# The first four of the eight quarters end here.
MIDPOINT = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
FINANCIAL = ("Financial Services", "Banking", "Insurance")
DEMO_TABLES = ("org_unit", "user", "account", "contact", "opportunity", "opportunity_history",
               "opportunity_contact_role", "activity")  # fmt: skip


def scalar(session: Session, statement: Any) -> Any:
    return session.execute(statement).scalar_one()


def win_rate(session: Session, *conditions: Any) -> float:
    """Won / closed among closed opportunities joined to their account, filtered by ``conditions``."""
    won = func.sum(case((Opportunity.is_won, 1), else_=0))
    row = session.execute(
        select(won, func.count())
        .select_from(Opportunity)
        .join(Account, Account.id == Opportunity.account_id)
        .where(Opportunity.is_closed, *conditions)
    ).one()
    assert row[1] > 20, f"too few closed deals to compare: {row[1]}"
    return float(row[0]) / float(row[1])


def content_digest(session: Session) -> str:
    """A hash of every demo row; password hashes are salted, so they are left out."""
    digest = hashlib.sha256()
    for name in DEMO_TABLES:
        table = Base.metadata.tables[name]
        columns = [column for column in table.columns if column.name != "password_hash"]
        for row in session.execute(select(*columns).order_by(table.c.id)):
            digest.update(repr(tuple(row)).encode())
    return digest.hexdigest()


def test_team_plan_keeps_teams_of_about_seven_or_eight() -> None:
    teams, reps = team_plan(1.0)
    assert (sum(teams), sum(reps)) == (8, 60)
    teams, reps = team_plan(10.0)
    assert (sum(teams), sum(reps)) == (80, 600)
    assert max(reps) <= 10
    teams, reps = team_plan(0.01)
    assert sum(teams) == 8
    assert all(count == 1 for count in teams)
    assert all(count >= 1 for count in reps)


@pytest.mark.parametrize("scale", [0.0, 0.009, 100.5, -1.0, math.nan, math.inf])
def test_bad_scale_is_refused(db_session: Session, scale: float) -> None:
    with pytest.raises(ValidationFailed) as raised:
        load_demo(db_session, scale=scale, as_of=AS_OF)
    assert raised.value.context["field"] == "scale"
    assert not database_has_data(db_session)


def test_refuses_a_database_with_data(db_session: Session) -> None:
    db_session.add(User(email="someone@example.com", full_name="Some One", role=Role.ADMIN))
    db_session.flush()
    assert database_has_data(db_session)
    with pytest.raises(Conflict):
        load_demo(db_session, scale=0.01, as_of=AS_OF)


def test_loads_a_consistent_organisation(db_session: Session) -> None:
    steps: list[tuple[str, int, int]] = []
    assert not database_has_data(db_session)
    summary = load_demo(
        db_session, scale=0.05, seed=11, as_of=AS_OF, progress=lambda *step: steps.append(step)
    )
    assert database_has_data(db_session)

    # Counts: what the summary says is stored, in the proportions the scale asks for.
    for model, expected in [
        (OrgUnit, summary.org_units), (User, summary.users), (Account, summary.accounts),
        (Contact, summary.contacts), (Opportunity, summary.opportunities),
        (OpportunityHistory, summary.stage_history), (ContactRole, summary.contact_roles),
        (Activity, summary.activities),
    ]:  # fmt: skip
        assert scalar(db_session, select(func.count()).select_from(model)) == expected
    assert summary.org_units == 1 + 3 + 8
    assert summary.users == 4 + 3 + 8 + 8
    assert summary.accounts == 200
    assert summary.opportunities == 1250
    assert 9_000 <= summary.activities <= 11_000
    assert 2.0 <= summary.contacts / summary.accounts <= 4.0
    assert 3.0 <= summary.stage_history / summary.opportunities <= 5.0
    assert 1.0 < summary.contact_roles / summary.opportunities <= 5.0
    audit = db_session.scalars(select(AuditEntry).where(AuditEntry.object_type == "demo")).one()
    assert audit.actor_id is None
    assert audit.after is not None
    assert audit.after["opportunities"] == summary.opportunities
    labels = {label for label, _, _ in steps}
    assert {"accounts", "opportunities", "stage history", "activities"} <= labels
    assert all(0 <= done <= total for _, done, total in steps)

    # The org tree and the manager line.
    assert scalar(db_session, select(func.count()).where(OrgUnit.kind == OrgUnitKind.COMPANY)) == 1
    assert scalar(db_session, select(func.count()).where(OrgUnit.kind == OrgUnitKind.REGION)) == 3
    manager = aliased(User)
    line = db_session.execute(
        select(User.role, manager.role, func.count())
        .join(manager, manager.id == User.manager_id, isouter=True)
        .group_by(User.role, manager.role)
    ).all()
    by_pair = {(role, boss): count for role, boss, count in line}
    assert by_pair[(Role.REP, Role.MANAGER)] == 8
    assert by_pair[(Role.MANAGER, Role.EXECUTIVE)] == 3  # the regional VPs report to the CRO
    assert by_pair[(Role.MANAGER, Role.MANAGER)] == 8  # team managers report to their VP
    assert by_pair[(Role.EXECUTIVE, None)] == 1
    assert scalar(db_session, select(func.count()).where(User.org_unit_id.is_(None))) == 0
    assert scalar(db_session, select(func.count(func.distinct(User.full_name)))) == summary.users

    # One hash for all, and it verifies the published password.
    hashes = db_session.scalars(select(User.password_hash).distinct()).all()
    assert len(hashes) == 1
    assert verify_password(hashes[0], DEMO_PASSWORD)
    logins = demo_logins(db_session)
    assert logins == summary.logins
    assert [login.role for login in logins] == [
        "admin", "executive", "planner", "controller", "manager", "manager", "rep"
    ]  # fmt: skip
    assert logins[0].email == "admin@meridian.example"
    assert logins[-1].note == "rep in NA Commercial"

    # Every opportunity's last history row is its current state; the first is its creation.
    last_change = (
        select(OpportunityHistory.opportunity_id, func.max(OpportunityHistory.changed_at).label("at"))
        .group_by(OpportunityHistory.opportunity_id)
        .subquery()
    )
    mismatched = scalar(
        db_session,
        select(func.count())
        .select_from(Opportunity)
        .join(last_change, last_change.c.opportunity_id == Opportunity.id)
        .join(OpportunityHistory, and_(OpportunityHistory.opportunity_id == Opportunity.id,
                                       OpportunityHistory.changed_at == last_change.c.at))
        .where(
            (OpportunityHistory.stage != Opportunity.stage)
            | (OpportunityHistory.amount != Opportunity.amount)
            | (OpportunityHistory.close_date != Opportunity.close_date)
            | (OpportunityHistory.probability != Opportunity.probability)
            | (OpportunityHistory.forecast_category != Opportunity.forecast_category)
        ),
    )  # fmt: skip
    assert mismatched == 0
    assert scalar(db_session, select(func.count()).select_from(last_change)) == summary.opportunities
    first_change = select(func.min(OpportunityHistory.changed_at)).where(
        OpportunityHistory.opportunity_id == Opportunity.id
    )
    not_at_creation = select(func.count()).where(Opportunity.created_at != first_change.scalar_subquery())
    assert scalar(db_session, not_at_creation) == 0

    # Rows in id order move strictly forward in time within each deal.
    previous = func.lag(OpportunityHistory.changed_at).over(
        partition_by=OpportunityHistory.opportunity_id, order_by=OpportunityHistory.id
    )
    ordered = select(OpportunityHistory.changed_at.label("at"), previous.label("before")).subquery()
    assert scalar(db_session, select(func.count()).where(ordered.c.at <= ordered.c.before)) == 0

    # Nothing happens on or after as_of.
    for column in (OpportunityHistory.changed_at, Activity.occurred_at, Opportunity.created_at,
                   Opportunity.updated_at, Account.created_at, Contact.created_at, User.created_at):  # fmt: skip
        latest = scalar(db_session, select(func.max(column)))
        assert latest.tzinfo is not None
        assert latest < AS_OF_START, column
    assert scalar(db_session, select(func.max(Opportunity.close_date)).where(Opportunity.is_closed)) < AS_OF

    # Flags, stages and forecast categories agree.
    won_stage = case((Opportunity.stage == "Closed Won", True), else_=False)
    assert scalar(db_session, select(func.count()).where(Opportunity.is_won, ~Opportunity.is_closed)) == 0
    assert scalar(db_session, select(func.count()).where(Opportunity.is_won != won_stage)) == 0
    closed_stage = Opportunity.stage.in_(["Closed Won", "Closed Lost"])
    assert scalar(db_session, select(func.count()).where(Opportunity.is_closed != closed_stage)) == 0
    categories = db_session.execute(
        select(
            OpportunityHistory.stage, OpportunityHistory.probability, OpportunityHistory.forecast_category
        ).distinct()
    ).all()
    assert len({stage for stage, _, _ in categories}) == len(categories) == 7
    lost = select(func.count()).where(Opportunity.is_closed, ~Opportunity.is_won)
    assert scalar(db_session, lost.where(Opportunity.loss_reason.is_(None))) == 0
    assert (
        scalar(db_session, select(func.count()).where(~closed_stage, Opportunity.loss_reason.isnot(None)))
        == 0
    )
    closed_share = scalar(db_session, select(func.avg(case((Opportunity.is_closed, 1.0), else_=0.0))))
    assert 0.75 <= closed_share <= 0.9
    stale = select(func.count()).where(~Opportunity.is_closed, Opportunity.close_date < AS_OF)
    open_count = summary.opportunities - scalar(db_session, select(func.count()).where(Opportunity.is_closed))
    assert 0 < scalar(db_session, stale) < 0.15 * open_count

    # Contact roles and activities stay inside the deal's account.
    role_contact = aliased(Contact)
    foreign_roles = (
        select(func.count())
        .select_from(ContactRole)
        .join(Opportunity, Opportunity.id == ContactRole.opportunity_id)
        .join(role_contact, role_contact.id == ContactRole.contact_id)
        .where(role_contact.account_id != Opportunity.account_id)
    )
    assert scalar(db_session, foreign_roles) == 0
    primaries = select(func.count()).where(ContactRole.is_primary)
    assert scalar(db_session, primaries) == summary.opportunities
    stray_activities = (
        select(func.count())
        .select_from(Activity)
        .join(Opportunity, Opportunity.id == Activity.opportunity_id)
        .join(Contact, Contact.id == Activity.contact_id)
        .where(
            (Activity.account_id != Opportunity.account_id)
            | (Contact.account_id != Activity.account_id)
            | (Activity.owner_id != Opportunity.owner_id)
            | (Activity.occurred_at < Opportunity.created_at)
        )
    )
    assert scalar(db_session, stray_activities) == 0
    assert scalar(db_session, select(func.count()).where(Activity.opportunity_id.is_(None))) > 0
    not_rep_owned = select(func.count()).select_from(Account).join(User, User.id == Account.owner_id)
    assert scalar(db_session, not_rep_owned.where(User.role != Role.REP)) == 0

    # Every active rep carries a bookings quota for the four quarters up to AS_OF's and the next one,
    # and the quotas of the quarter before AS_OF's are roughly met (set from the year before, plus 30 %).
    reps = scalar(
        db_session, select(func.count()).select_from(User).where(User.role == Role.REP, User.is_active)
    )
    quotas = db_session.scalars(select(Quota)).all()
    assert len(quotas) == 5 * reps
    assert {quota.basis for quota in quotas} == {QuotaBasis.BOOKINGS}
    current = Period.containing(AS_OF)
    assert {quota.period for quota in quotas} == {
        current.previous().previous().previous().label,
        current.previous().previous().label,
        current.previous().label,
        current.label,
        current.next().label,
    }
    last_quarter = planning.summarise(
        db_session, viewer=None, filters=planning.QuotaFilters(period=current.previous())
    )
    assert last_quarter.attainment is not None
    assert 0.6 < last_quarter.attainment < 1.6

    # Later inserts get fresh ids (PostgreSQL's sequences were moved past the demo's ids).
    db_session.add(OrgUnit(name="New team", kind=OrgUnitKind.TEAM, parent_id=2))
    db_session.add(User(email="new.hire@meridian.example", full_name="New Hire", role=Role.REP))
    db_session.flush()

    with pytest.raises(Conflict):
        load_demo(db_session, scale=0.05, as_of=AS_OF)


def test_same_seed_and_date_give_the_same_data(db_session: Session) -> None:
    load_demo(db_session, scale=0.02, seed=3, as_of=AS_OF)
    first = content_digest(db_session)
    db_session.rollback()
    load_demo(db_session, scale=0.02, seed=3, as_of=AS_OF)
    assert content_digest(db_session) == first
    db_session.rollback()
    load_demo(db_session, scale=0.02, seed=4, as_of=AS_OF)
    assert content_digest(db_session) != first


def test_win_drivers_and_the_downmarket_drift_are_in_the_data(db_session: Session) -> None:
    load_demo(db_session, scale=0.05, seed=7, as_of=AS_OF)

    # Multi-threading: deals with three or more engaged contacts win far more often.
    engaged = (
        select(ContactRole.opportunity_id, func.count().label("contacts"))
        .group_by(ContactRole.opportunity_id)
        .subquery()
    )
    single = win_rate(
        db_session, Opportunity.id.in_(select(engaged.c.opportunity_id).where(engaged.c.contacts == 1))
    )
    multi = win_rate(
        db_session, Opportunity.id.in_(select(engaged.c.opportunity_id).where(engaged.c.contacts >= 3))
    )
    assert multi > single + 0.15

    # Segment fit: enterprise financial services wins more than small business, and is bigger.
    enterprise_fs = and_(Account.employees >= 2000, Account.industry.in_(FINANCIAL))
    small = Account.employees < 200
    assert win_rate(db_session, enterprise_fs) > win_rate(db_session, small) + 0.15
    average_amount = select(func.avg(Opportunity.amount)).join(Account, Account.id == Opportunity.account_id)
    assert scalar(db_session, average_amount.where(enterprise_fs)) > 5 * scalar(
        db_session, average_amount.where(small)
    )
    # Competition lowers the odds.
    assert win_rate(db_session, Opportunity.primary_competitor.isnot(None)) < win_rate(
        db_session, Opportunity.primary_competitor.is_(None)
    )

    # The story: commercial teams put their pipeline and effort into small accounts, and ever more so.
    def small_share(model: Any, team_pattern: str, *conditions: Any) -> float:
        owned = (
            select(func.avg(case((small, 1.0), else_=0.0)))
            .select_from(model)
            .join(Account, Account.id == model.account_id)
            .join(User, User.id == model.owner_id)
            .join(OrgUnit, OrgUnit.id == User.org_unit_id)
            .where(OrgUnit.external_id.like(team_pattern), *conditions)
        )
        return float(scalar(db_session, owned))

    commercial, enterprise = "DEMO-TEAM-%-COMMERCIAL-%", "DEMO-TEAM-%-ENTERPRISE-%"
    assert small_share(Opportunity, commercial) > 0.5
    assert small_share(Opportunity, commercial) > small_share(Opportunity, enterprise) + 0.3
    assert small_share(Activity, commercial) > 0.5
    assert small_share(Activity, "DEMO-TEAM-NA-MIDMARKET-%") > 0.5
    earlier = small_share(Opportunity, commercial, Opportunity.created_at < MIDPOINT)
    later = small_share(Opportunity, commercial, Opportunity.created_at >= MIDPOINT)
    assert later > earlier
