"""A full scan on a SQLite file with a helper process writes exactly what a scan on one connection writes."""

from __future__ import annotations

import datetime as dt
import glob
import os
import tempfile
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bridgehead.auth.models import Role, User
from bridgehead.config import Settings
from bridgehead.crm.models import Opportunity
from bridgehead.db import make_engine, make_session_factory, unit_of_work
from bridgehead.intelligence.gaps.helper import KindQueue, can_help
from bridgehead.intelligence.gaps.models import GapKind
from bridgehead.intelligence.gaps.scan import COST_ORDER, DETECTORS, scan, store_defaults
from bridgehead.migrate import upgrade_database
from tests.factories import make_account, make_activity, make_contact, make_opportunity, make_user
from tests.gaps.conftest import NOW, Org, deal, engage, open_signal_rows

TODAY = NOW.date()


@pytest.fixture
def helper_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A glob of the helper's scratch files, made in a directory of this test's own: in the shared
    temporary directory another test's helper (pytest -n 2) would come and go meanwhile."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    return os.path.join(scratch, "bridgehead-gap-helper-*")


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Engine]:
    """A SQLite file with the schema, the playbook defaults and deals tripping several detectors, committed."""
    engine = make_engine(Settings(), url=f"sqlite:///{tmp_path / 'helper.db'}")
    upgrade_database(engine)
    with unit_of_work(make_session_factory(engine)) as session:
        store_defaults(session)
        team = _team(session)
        _trip_detectors(session, team)
    yield engine
    engine.dispose()


def _team(session: Session) -> Org:
    manager = make_user(session, role=Role.MANAGER, full_name="Mona Manager")
    rep = make_user(session, full_name="Rita Rep", manager_id=manager.id)
    account = make_account(session, name="Globex", owner_id=rep.id)
    contacts = [make_contact(session, account_id=account.id, last_name=f"Buyer{i}") for i in range(5)]
    other = make_user(session, full_name="Otto Other")
    executive = make_user(session, role=Role.EXECUTIVE, full_name="Eve Exec")
    planner = make_user(session, role=Role.PLANNER, full_name="Pia Planner")
    return Org(manager, rep, other, executive, planner, account, contacts)


def _trip_detectors(session: Session, team: Org) -> None:
    for offset in range(3):
        deal(session, team, created_at=NOW - dt.timedelta(days=60 + offset))  # stale
        deal(session, team, close_date=TODAY - dt.timedelta(days=5 + offset), stage="Proposal")  # past, late
        busy = deal(session, team, stage="Solution")
        engage(session, busy, team.contacts[offset])  # one engaged stakeholder; the stage asks for two
        inbound = deal(session, team)
        make_activity(
            session, opportunity_id=inbound.id, occurred_at=NOW - dt.timedelta(days=3), direction="inbound"
        )
    won = deal(session, team, stage="Closed Won", is_closed=True, is_won=True)
    won.close_date = TODAY - dt.timedelta(days=10)  # won, no handoff
    session.flush()


def _signals(engine: Engine) -> set[tuple[Any, ...]]:
    with make_session_factory(engine)() as session:
        return open_signal_rows(session)


def _scan(engine: Engine, *, helper: Engine | None) -> list[tuple[GapKind, int, int, int]]:
    with unit_of_work(make_session_factory(engine)) as session:
        result = scan(session, now=NOW, helper_engine=helper, helper_min_deals=0)
    # On this machine (two cores, a SQLite file) the helper takes part whenever it is offered.
    assert bool(result.helper_kinds) == (helper is not None and can_help())
    assert set(result.helper_kinds) <= set(DETECTORS)
    return [(item.kind, item.raised, item.still_open, item.resolved) for item in result.kinds]


def _attached(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return [row[1] for row in connection.exec_driver_sql("PRAGMA database_list")]


def test_a_scan_with_a_helper_writes_what_one_connection_writes(
    database: Engine, tmp_path: Path, helper_files: str
) -> None:
    before = set(glob.glob(helper_files))
    alone = _scan(database, helper=None)
    expected = _signals(database)
    assert len({row[0] for row in expected}) >= 5  # several kinds, so both sides get some
    with database.begin() as connection:
        connection.exec_driver_sql("DELETE FROM gap_signal")

    helped = _scan(database, helper=database)  # a first scan again: the bulk path
    assert helped == alone  # same counts per kind, listed in the order asked
    assert [kind for kind, *_ in helped] == list(DETECTORS)
    assert _signals(database) == expected
    # The helper's scratch file was detached when the connection went back to the pool, and deleted.
    assert _attached(database) == ["main", "temp"] or _attached(database) == ["main"]
    assert set(glob.glob(helper_files)) == before

    # A re-scan with a helper finds the same gaps still open and changes nothing.
    again = _scan(database, helper=database)
    assert [(kind, raised, resolved) for kind, raised, _, resolved in again] == [
        (kind, 0, 0) for kind, *_ in alone
    ]
    assert [still for *_, still, _ in again] == [raised for _, raised, *_ in alone]
    assert _signals(database) == expected


def _every_signal(engine: Engine) -> list[tuple[Any, ...]]:
    """Every signal, open and resolved, as stored (but its id), sorted."""
    columns = "kind, severity, subject_key, opportunity_id, account_id, owner_id, amount_at_risk, "
    columns += "CAST(evidence AS TEXT), raised_at, last_seen_at, resolved_at"
    with engine.connect() as connection:
        rows = connection.exec_driver_sql(f"SELECT {columns} FROM gap_signal").all()  # noqa: S608
    return sorted((tuple(row) for row in rows), key=repr)


def _change_what_the_first_scan_found(engine: Engine) -> None:
    """After a first scan: clear one stale deal's gaps (closed), move one to another owner, change
    one's amount, and add a new stale deal; committed, as between two nightly scans."""
    with unit_of_work(make_session_factory(engine)) as session:
        stale = session.scalars(
            select(Opportunity)
            .where(Opportunity.created_at < NOW - dt.timedelta(days=50))
            .order_by(Opportunity.id)
        ).all()
        closed, moved, dearer = stale[:3]
        closed.is_closed = True
        closed.stage = "Closed Lost"
        moved.owner_id = session.scalars(select(User.id).where(User.full_name == "Otto Other")).one()
        dearer.amount = Decimal("77000")
        make_opportunity(
            session,
            owner_id=closed.owner_id,
            account_id=closed.account_id,
            amount=Decimal("50000"),
            created_at=NOW - dt.timedelta(days=70),
        )


def rescans_with_and_without_a_helper(
    engine: Engine, scan_with: Callable[[Engine | None], tuple[list[Any], list[GapKind]]]
) -> None:
    """A first scan, changes, then the same re-scan twice from the same signals: on one connection,
    and with a helper (``scan_with``: per-kind counts and the helper's kinds). Both must write the
    same signals and report the same counts, and the helper must have taken part."""
    scan_with(None)
    _change_what_the_first_scan_found(engine)
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE saved_signal AS SELECT * FROM gap_signal")
    alone, _ = scan_with(None)
    expected = _every_signal(engine)
    with engine.begin() as connection:
        connection.exec_driver_sql("DELETE FROM gap_signal")
        connection.exec_driver_sql("INSERT INTO gap_signal SELECT * FROM saved_signal")
    helped, helper_kinds = scan_with(engine)
    assert helper_kinds  # the helper detected some of the kinds
    assert set(helper_kinds) < set(DETECTORS)
    assert helped == alone
    # The changes show: gaps resolved (the closed deal), raised (the new one), refreshed (owner, amount).
    assert sum(raised for _, raised, _, _ in alone) > 0
    assert sum(resolved for *_, resolved in alone) > 0
    assert _every_signal(engine) == expected
    owners = {row[5] for row in expected if row[10] is None}
    assert len(owners) >= 2
    assert 7_700_000 in {row[6] for row in expected if row[10] is None}  # cents


@pytest.mark.skipif(not can_help(), reason="a helper needs flock and two cores")
def test_a_rescan_after_changes_writes_with_a_helper_what_it_writes_alone(database: Engine) -> None:
    def scan_with(helper: Engine | None) -> tuple[list[Any], list[GapKind]]:
        with unit_of_work(make_session_factory(database)) as session:
            result = scan(session, now=NOW, helper_engine=helper, helper_min_deals=0)
        counts = [(item.kind, item.raised, item.still_open, item.resolved) for item in result.kinds]
        return counts, result.helper_kinds

    rescans_with_and_without_a_helper(database, scan_with)


def test_a_failing_helper_leaves_its_kinds_to_the_scan_and_nothing_behind(
    database: Engine, tmp_path: Path, helper_files: str
) -> None:
    before = set(glob.glob(helper_files))
    alone = _scan(database, helper=None)
    expected = _signals(database)
    with database.begin() as connection:
        connection.exec_driver_sql("DELETE FROM gap_signal")
    # A helper pointed at a database without the schema fails on its first detector.
    elsewhere = make_engine(Settings(), url=f"sqlite:///{tmp_path / 'empty.db'}")
    with unit_of_work(make_session_factory(database)) as session:
        result = scan(session, now=NOW, helper_engine=elsewhere, helper_min_deals=0)
    elsewhere.dispose()
    assert result.helper_kinds == []
    assert result.helper_error is not None
    assert "helper process failed: OperationalError" in result.helper_error
    assert [(item.kind, item.raised) for item in result.kinds] == [
        (kind, raised) for kind, raised, *_ in alone
    ]
    assert _signals(database) == expected
    assert set(glob.glob(helper_files)) == before


def test_no_helper_before_the_defaults_are_stored(tmp_path: Path) -> None:
    engine = make_engine(Settings(), url=f"sqlite:///{tmp_path / 'new.db'}")
    upgrade_database(engine)
    # Nothing stored yet: the scan writes the rules itself, which a helper could not see, so it
    # runs on its own connection (a helper would fail here: the rules are not committed).
    with unit_of_work(make_session_factory(engine)) as session:
        result = scan(session, now=NOW, helper_engine=engine, helper_min_deals=0)
    assert [item.kind for item in result.kinds] == list(DETECTORS)
    assert result.helper_kinds == []
    engine.dispose()


def test_the_queue_hands_each_kind_out_once_across_its_two_sides(tmp_path: Path) -> None:
    counter = tmp_path / "queue"
    counter.write_text("0")
    kinds = list(COST_ORDER)
    scan_side, helper_side = KindQueue(kinds, str(counter)), KindQueue(kinds, str(counter))
    taken = [scan_side.take(), helper_side.take(), helper_side.take(), scan_side.take()]
    assert taken == kinds[:4]
    helper_side.stop()
    assert scan_side.take() is None
    assert helper_side.take() is None
    assert set(COST_ORDER) == set(DETECTORS)


def test_no_helper_below_the_deal_count_where_it_pays(database: Engine) -> None:
    with unit_of_work(make_session_factory(database)) as session:
        result = scan(session, now=NOW, helper_engine=database)  # a dozen deals, far below the default
    assert result.helper_kinds == []
    assert sum(item.raised for item in result.kinds) > 0
