"""Small helpers for tests: signing a client in without the password round trip; a SQLite file for
CLI tests; the activity counts the database keeps, against counting the activities."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from bridgehead.auth.models import Role, User
from bridgehead.cli import app
from bridgehead.config import Settings, get_settings
from bridgehead.crm.models import (
    Activity,
    ActivityKind,
    ActivityMonth,
    OpenOpportunityStage,
    Opportunity,
    OpportunityMonth,
    OrgUnitKind,
)
from bridgehead.db import make_engine, make_session_factory, unit_of_work
from bridgehead.intelligence.metrics.periods import parse_period
from bridgehead.intelligence.metrics.scope import MetricFilters
from bridgehead.web.deps import CSRF_COOKIE, SESSION_COOKIE
from tests.factories import make_login_session, make_org_unit, make_user

CSRF_TOKEN = "test-csrf-token"


def bearer(secret: str) -> dict[str, str]:
    """Headers that authenticate an API call with a personal token."""
    return {"Authorization": f"Bearer {secret}"}


def sign_in(client: TestClient, session: Session, user: User) -> str:
    """Give ``client`` a session cookie for ``user`` and a known CSRF cookie; return the session token.

    Commits, so the test's setup survives a later request that fails and rolls its work back.
    """
    token = make_login_session(session, user)
    session.commit()
    client.cookies.set(SESSION_COOKIE, token)
    client.cookies.set(CSRF_COOKIE, CSRF_TOKEN)
    return token


@contextmanager
def sqlite_for_cli(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    name: str = "cli.db",
    columns: int = 200,
    initialise: bool = True,
) -> Iterator[str]:
    """A SQLite file in ``tmp_path`` that ``bridgehead`` commands use (named through the
    environment), migrated unless ``initialise`` is false; yields its URL.

    The working directory moves to ``tmp_path`` so no stray .env file is read, tables are
    ``columns`` wide so no value is cut short, and the cached settings are forgotten on the way in
    and out.
    """
    url = f"sqlite:///{tmp_path / name}"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BRIDGEHEAD_DATABASE_URL", url)
    monkeypatch.setenv("COLUMNS", str(columns))
    get_settings.cache_clear()
    try:
        if initialise:
            result = CliRunner().invoke(app, ["init"])
            assert result.exit_code == 0, result.output
        yield url
    finally:
        get_settings.cache_clear()


@contextmanager
def committed(url: str) -> Iterator[Session]:
    """A session on ``url`` whose work is committed at the end: a CLI test's set-up."""
    engine = make_engine(Settings(), url=url)
    try:
        with unit_of_work(make_session_factory(engine)) as session:
            yield session
    finally:
        engine.dispose()


MonthKey = tuple[int, dt.date, str]


def activities_counted(session: Session) -> dict[MonthKey, int]:
    """What ``activity_month`` should hold: the activities counted per owner (0: none), UTC month and kind."""
    counts: Counter[MonthKey] = Counter()
    for owner_id, occurred_at, kind in session.execute(
        select(Activity.owner_id, Activity.occurred_at, Activity.kind)
    ):
        moment = occurred_at.astimezone(dt.UTC)
        counts[(owner_id or 0, dt.date(moment.year, moment.month, 1), ActivityKind(kind).value)] += 1
    return dict(counts)


def activity_month_kept(session: Session) -> dict[MonthKey, int]:
    """What ``activity_month`` holds (rows counted down to zero are not counts)."""
    session.flush()
    return {
        (row.owner_key, row.month, row.kind): row.activities
        for row in session.scalars(select(ActivityMonth))
        if row.activities != 0
    }


# (owner key, month) -> (created, created cents, open closing, open closing cents, weighted); and
# (owner key, stage) -> (open deals, sum of their probabilities, how many have one).
OpportunitySums = tuple[dict[tuple[int, dt.date], tuple[int, ...]], dict[tuple[int, str], tuple[int, ...]]]


def opportunity_sums_counted(session: Session) -> OpportunitySums:
    """What ``opportunity_month`` and ``open_opportunity_stage`` should hold, from the deals one by one."""
    months: dict[tuple[int, dt.date], list[int]] = {}
    stages: dict[tuple[int, str], list[int]] = {}
    deals = select(
        Opportunity.owner_id,
        Opportunity.created_at,
        Opportunity.close_date,
        Opportunity.amount,
        Opportunity.probability,
        Opportunity.is_closed,
        Opportunity.stage,
    )
    for owner_id, created_at, close_date, amount, probability, is_closed, stage in session.execute(deals):
        owner = owner_id or 0
        cents = int((amount or 0) * 100)
        created = created_at.astimezone(dt.UTC)
        figures = months.setdefault((owner, dt.date(created.year, created.month, 1)), [0] * 5)
        figures[0], figures[1] = figures[0] + 1, figures[1] + cents
        if not is_closed:
            figures = stages.setdefault((owner, stage), [0, 0, 0])
            figures[0] += 1
            if probability is not None:
                figures[1], figures[2] = figures[1] + probability, figures[2] + 1
            if close_date is not None:
                figures = months.setdefault((owner, close_date.replace(day=1)), [0] * 5)
                figures[2] += 1
                figures[3] += cents
                figures[4] += cents * (probability or 0)
    return (
        {key: tuple(value) for key, value in months.items()},
        {key: tuple(value) for key, value in stages.items()},
    )


def opportunity_sums_kept(session: Session) -> OpportunitySums:
    """What ``opportunity_month`` and ``open_opportunity_stage`` hold (sums down to zero left out)."""
    session.flush()
    months = {
        (row.owner_key, row.month): (
            row.created,
            row.created_cents,
            row.open_closing,
            row.open_closing_cents,
            row.open_weighted_cents_percent,
        )
        for row in session.scalars(select(OpportunityMonth))
    }
    stages = {
        (row.owner_key, row.stage): (row.open_deals, row.probability_total, row.with_probability)
        for row in session.scalars(select(OpenOpportunityStage))
        if row.open_deals
    }
    return {key: value for key, value in months.items() if any(value)}, stages


@dataclass(frozen=True)
class TeamAndOutsider:
    """A region with two teams: a manager and a rep in one, an outsider in the other."""

    team_id: int
    manager: User
    rep: User
    outsider: User

    def owner_only_scopes(self) -> list[tuple[User | None, MetricFilters]]:
        """Viewers and filters whose scope depends on the owner alone (the month sums answer them):
        a quarter, a month, the team over a year, the rep, and the manager as viewer."""
        return [
            (None, MetricFilters(period=parse_period("2026-Q2"))),
            (None, MetricFilters(period=parse_period("2026-05"))),
            (None, MetricFilters(period=parse_period("2026"), org_unit_id=self.team_id)),
            (None, MetricFilters(period=parse_period("2026-Q2"), rep_id=self.rep.id)),
            (self.manager, MetricFilters(period=parse_period("2026-Q2"))),
        ]


def team_and_outsider(session: Session) -> TeamAndOutsider:
    """A region with two teams: a manager and a rep in one, an outsider in the other."""
    region = make_org_unit(session)
    team = make_org_unit(session, parent_id=region.id)
    other_team = make_org_unit(session, parent_id=region.id)
    manager = make_user(session, org_unit_id=team.id, role=Role.MANAGER)
    rep = make_user(session, org_unit_id=team.id, manager_id=manager.id)
    outsider = make_user(session, org_unit_id=other_team.id)
    return TeamAndOutsider(team.id, manager, rep, outsider)


def owners_across_a_tree(session: Session) -> list[User | None]:
    """Owners for the trend tests, one per kind of place in the org tree: two reps in a team of a
    region of the company, their manager (on the region), a user with no unit nor manager, and none."""
    company = make_org_unit(session, kind=OrgUnitKind.COMPANY)
    region = make_org_unit(session, parent_id=company.id, kind=OrgUnitKind.REGION)
    team = make_org_unit(session, parent_id=region.id, kind=OrgUnitKind.TEAM)
    manager = make_user(session, org_unit_id=region.id, role=Role.MANAGER)
    reps = [make_user(session, org_unit_id=team.id, manager_id=manager.id) for _ in range(2)]
    return [*reps, manager, make_user(session), None]


def impatient_engine(url: str) -> Engine:
    """An engine on ``url`` that gives up on a lock after 200 ms (a write conflict), for tests that
    check what another connection can read while a long transaction holds its locks."""
    return make_engine(Settings(database_lock_wait_ms=200), url=url)
