"""Board snapshots on a real database (SQLite and PostgreSQL): a board answered from its snapshot
shows exactly the figures of a fresh reading, and the snapshot gives way when it should."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bridgehead.audit.service import record_change
from bridgehead.config import Settings
from bridgehead.connectors.after_import import run_after_import
from bridgehead.connectors.report import ImportReport
from bridgehead.db import make_engine, make_session_factory
from bridgehead.intelligence.board import service, snapshot
from bridgehead.intelligence.board.models import BoardSnapshot
from bridgehead.intelligence.board.schemas import Board, GapDrill, GapName
from bridgehead.migrate import upgrade_database
from bridgehead.strategy.models import Segment, SegmentStance
from tests.board.support import NOW, PERIOD, World, build_world, deal, populate

DAY = snapshot.Freshness(dt.timedelta(days=1))


@pytest.fixture
def world(db_session: Session) -> World:
    world = build_world(db_session)
    populate(world, db_session)
    db_session.flush()
    return world


def _figures(result: Board) -> list[dict[str, Any]]:
    return [row.model_dump() for row in result.rows]


def _drill_figures(result: GapDrill) -> dict[str, Any]:
    return result.model_dump(include={"value", "parts", "trend", "members", "deals", "inbox"})


def _board(
    session: Session, freshness: snapshot.Freshness | None, *, now: dt.datetime = NOW, **kw: Any
) -> Board:
    return service.board(
        session, viewer=kw.pop("viewer", None), period=PERIOD, now=now, freshness=freshness, **kw
    )


def _record(session: Session, what: str) -> None:
    record_change(
        session,
        actor_id=None,
        action="update",
        object_type="test",
        object_id=what,
        before=None,
        after={"x": 1},
    )


def _snapshots(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(BoardSnapshot)) or 0)


def test_a_board_from_its_snapshot_equals_a_fresh_reading(db_session: Session, world: World) -> None:
    fresh = _board(db_session, None)
    assert not fresh.from_snapshot
    assert fresh.as_of == NOW
    assert _snapshots(db_session) == 0  # a fresh reading without freshness stores nothing

    stored = _board(db_session, DAY)
    assert not stored.from_snapshot
    assert _snapshots(db_session) == 1

    later = NOW + dt.timedelta(hours=3)
    kept = _board(db_session, DAY, now=later)
    assert kept.from_snapshot
    assert not kept.changed_since
    assert kept.as_of == NOW  # the moment the figures describe, not the moment of the view
    assert _figures(kept) == _figures(stored) == _figures(fresh)


@pytest.mark.parametrize("gap", list(GapName))
def test_a_drill_down_reads_the_boards_snapshot(db_session: Session, world: World, gap: GapName) -> None:
    def drill(freshness: snapshot.Freshness | None, now: dt.datetime) -> GapDrill:
        return service.drill_down(
            db_session, viewer=None, priority_id=world.priority.id, gap=gap, period=PERIOD, now=now,
            freshness=freshness,
        )  # fmt: skip

    fresh = drill(None, NOW)
    _board(db_session, DAY)
    kept = drill(DAY, NOW + dt.timedelta(minutes=5))
    assert kept.from_snapshot
    assert kept.as_of == NOW
    assert _drill_figures(kept) == _drill_figures(fresh)
    assert _snapshots(db_session) == 1  # the board's row for the priority, not a second one


def test_a_managers_board_has_a_snapshot_of_its_own(db_session: Session, world: World) -> None:
    everything = _board(db_session, DAY)
    line = _board(db_session, DAY, viewer=world.manager)
    assert not line.from_snapshot  # not the executive's snapshot: another class of viewer
    again = _board(db_session, DAY, viewer=world.manager, now=NOW + dt.timedelta(minutes=1))
    assert again.from_snapshot
    assert _figures(again) == _figures(_board(db_session, None, viewer=world.manager))
    assert _figures(again) != _figures(everything)
    assert _snapshots(db_session) == 2


def test_a_cheap_board_is_read_afresh_after_a_recorded_change(db_session: Session, world: World) -> None:
    before = _board(db_session, DAY)
    deal(world, db_session, "dan-small-2", "dan", world.small_accounts[1], 2000)
    _record(db_session, "new deal")
    db_session.flush()
    after = _board(db_session, DAY, now=NOW + dt.timedelta(minutes=1))
    assert not after.from_snapshot  # reading it took well under LIVE_UNDER_SECONDS
    assert _figures(after) == _figures(_board(db_session, None, now=NOW + dt.timedelta(minutes=1)))
    assert _figures(after) != _figures(before)


def test_an_acknowledged_gap_signal_is_not_a_change_the_board_reads(
    db_session: Session, world: World
) -> None:
    _board(db_session, DAY)
    record_change(
        db_session, actor_id=None, action="acknowledge", object_type="gap_signal", object_id=1,
        before={"acknowledged_at": None}, after={"acknowledged_at": "2025-07-15"},
    )  # fmt: skip
    kept = _board(db_session, DAY, now=NOW + dt.timedelta(minutes=1))
    assert kept.from_snapshot
    assert not kept.changed_since
    _record(db_session, "a deal changed")
    assert not _board(db_session, DAY, now=NOW + dt.timedelta(minutes=2)).from_snapshot


def test_a_slow_board_is_kept_says_data_changed_and_refreshes_on_request(
    db_session: Session, world: World
) -> None:
    before = _board(db_session, DAY)
    # As if reading it had taken seconds (a large organisation).
    db_session.execute(update(BoardSnapshot).values(compute_seconds=snapshot.LIVE_UNDER_SECONDS + 4))
    deal(world, db_session, "dan-small-2", "dan", world.small_accounts[1], 2000)
    _record(db_session, "new deal")
    db_session.flush()
    later = NOW + dt.timedelta(minutes=10)

    kept = _board(db_session, DAY, now=later)
    assert kept.from_snapshot
    assert kept.changed_since
    assert _figures(kept) == _figures(before)

    refreshed = _board(db_session, snapshot.Freshness(DAY.max_age, refresh=True), now=later)
    assert not refreshed.from_snapshot
    assert refreshed.as_of == later
    assert _figures(refreshed) == _figures(_board(db_session, None, now=later))
    assert _figures(refreshed) != _figures(before)
    after_refresh = _board(db_session, DAY, now=later + dt.timedelta(minutes=1))
    assert after_refresh.from_snapshot
    assert not after_refresh.changed_since
    assert _snapshots(db_session) == 1


def test_a_snapshot_older_than_allowed_is_read_afresh(db_session: Session, world: World) -> None:
    _board(db_session, DAY)
    assert _board(db_session, DAY, now=NOW + DAY.max_age).from_snapshot
    late = _board(db_session, DAY, now=NOW + DAY.max_age + dt.timedelta(seconds=1))
    assert not late.from_snapshot
    assert late.as_of == NOW + DAY.max_age + dt.timedelta(seconds=1)


def test_a_changed_priority_definition_is_read_afresh_at_once(db_session: Session, world: World) -> None:
    before = _board(db_session, DAY)
    db_session.execute(update(BoardSnapshot).values(compute_seconds=snapshot.LIVE_UNDER_SECONDS + 4))
    # Small business is no longer deprioritised: its deals stop being off-strategy. No audit
    # entry is written, so only the changed conditions can tell.
    db_session.execute(
        update(Segment).where(Segment.name == "Small business").values(stance=SegmentStance.MAINTAIN)
    )
    after = _board(db_session, DAY, now=NOW + dt.timedelta(minutes=1))
    assert not after.from_snapshot
    assert _figures(after) != _figures(before)


def test_the_period_and_the_unit_have_snapshots_of_their_own(db_session: Session, world: World) -> None:
    _board(db_session, DAY)
    north = _board(db_session, DAY, org_unit_id=world.north.id)
    assert not north.from_snapshot
    earlier = service.board(db_session, viewer=None, period="2025-Q1", now=NOW, freshness=DAY)
    assert not earlier.from_snapshot
    assert _snapshots(db_session) == 3


def test_an_import_refreshes_the_company_board_and_forgets_the_others(
    db_session: Session, world: World
) -> None:
    _board(db_session, DAY, org_unit_id=world.north.id)
    _board(db_session, DAY, viewer=world.manager)
    assert _snapshots(db_session) == 2
    run_after_import(
        db_session, ImportReport(source="test", location="test", policy="all_or_nothing", dry_run=False)
    )
    stored = db_session.scalars(select(BoardSnapshot)).all()
    assert [(row.org_unit_id, row.priority_id) for row in stored] == [(world.company.id, world.priority.id)]
    assert stored[0].data_stamp == snapshot.data_stamp(db_session)


def test_an_organisation_without_priorities_has_nothing_to_refresh(db_session: Session) -> None:
    assert service.refresh_company_board(db_session) is False
    assert _snapshots(db_session) == 0


def test_no_snapshots_when_the_setting_is_zero() -> None:
    assert snapshot.freshness_for(0) is None
    assert snapshot.freshness_for(0, refresh=True) is None
    assert snapshot.freshness_for(90) == snapshot.Freshness(dt.timedelta(minutes=90))


def test_a_view_during_another_writers_transaction_answers_without_storing(tmp_path: Path) -> None:
    """SQLite: while another connection holds the write lock (a long import), the board is read
    and shown; storing its snapshot is skipped at once, and the lock wait is restored after."""
    url = f"sqlite:///{tmp_path / 'busy.db'}"
    engine = make_engine(Settings(database_lock_wait_ms=4321), url=url)
    upgrade_database(engine)
    factory = make_session_factory(engine)
    with factory() as session:
        world = build_world(session)
        populate(world, session)
        session.commit()
        expected = _figures(_board(session, None))
    holder = sqlite3.connect(tmp_path / "busy.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with factory() as session:
            shown = _board(session, DAY)
            assert _figures(shown) == expected
            assert not shown.from_snapshot
            assert session.connection().exec_driver_sql("PRAGMA busy_timeout").scalar() == 4321
            session.commit()
    finally:
        holder.rollback()
        holder.close()
    with factory() as session:
        assert _snapshots(session) == 0
        _board(session, DAY)
        session.commit()
        assert _snapshots(session) == 1
    engine.dispose()
