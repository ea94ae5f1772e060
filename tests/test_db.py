"""Database plumbing: a trusted bulk write sets SQLite's per-row key checks aside for its own
transaction only, index builds leave the connection's settings as they were, and a write that lost
to another transaction is told apart from a wrong statement."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session

from bridgehead.config import Settings
from bridgehead.db import (
    SQLITE_PAGE_SIZE,
    begin_trusted_bulk_write,
    is_write_conflict,
    make_engine,
    sqlite_index_build,
)
from bridgehead.migrate import upgrade_database

# A contact of an account that does not exist.
DANGLING_CONTACT = text(
    "INSERT INTO contact (external_id, first_name, last_name, account_id, custom_fields, created_at) "
    "VALUES ('dangling', 'Ada', 'Lovelace', 987654, '{}', '2026-01-01')"
)


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    """A migrated SQLite file of this test's own (its pool hands the same connection back)."""
    engine = make_engine(Settings(), url=f"sqlite:///{tmp_path / 'plumbing.db'}")
    upgrade_database(engine)
    yield engine
    engine.dispose()


def _assert_keys_checked(session: Session) -> None:
    """The session's transaction checks foreign keys: a dangling reference is refused."""
    assert _foreign_keys_on(session)
    with pytest.raises(IntegrityError, match="FOREIGN KEY"):
        session.execute(DANGLING_CONTACT)
    session.rollback()


def _foreign_keys_on(session: Session) -> bool:
    return bool(session.execute(text("PRAGMA foreign_keys")).scalar_one())


def _driver_connection(session: Session) -> object:
    return session.connection().connection.driver_connection


def test_a_trusted_bulk_write_skips_key_checks_in_its_transaction_and_the_next_one_checks_again(
    sqlite_engine: Engine,
) -> None:
    with Session(sqlite_engine) as bulk:
        assert begin_trusted_bulk_write(bulk) is True
        assert not _foreign_keys_on(bulk)
        bulk.execute(DANGLING_CONTACT)  # not checked: the caller vouches for its references
        used = _driver_connection(bulk)
        bulk.rollback()
    with Session(sqlite_engine) as ordinary:
        # The pool hands back the very connection the bulk write ran on.
        assert _driver_connection(ordinary) is used
        _assert_keys_checked(ordinary)


def test_a_session_already_in_its_transaction_keeps_its_key_checks(sqlite_engine: Engine) -> None:
    with Session(sqlite_engine) as session:
        session.execute(text("SELECT 1"))
        assert begin_trusted_bulk_write(session) is False
        _assert_keys_checked(session)


def test_postgres_keeps_every_constraint_in_a_trusted_bulk_write(engine: Engine) -> None:
    with Session(engine) as session:
        trusted = begin_trusted_bulk_write(session)
        assert trusted is (engine.dialect.name == "sqlite")
        if not trusted:
            with pytest.raises(IntegrityError):
                session.execute(DANGLING_CONTACT)
        session.rollback()


def test_postgres_connections_compile_no_statement_just_in_time(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("JIT compilation is a PostgreSQL setting")
    with Session(engine) as session:
        assert session.execute(text("SHOW jit")).scalar_one() == "off"
        # The setting is the connection's, not a transaction's: it outlives a rollback.
        session.rollback()
        assert session.execute(text("SHOW jit")).scalar_one() == "off"


def test_an_index_build_puts_the_cache_and_threads_back(sqlite_engine: Engine) -> None:
    with Session(sqlite_engine) as session:
        session.execute(text("PRAGMA main.cache_size=-65536"))
        settings = ("PRAGMA main.cache_size", "PRAGMA temp.cache_size", "PRAGMA threads")
        before = [session.execute(text(setting)).scalar_one() for setting in settings]
        with sqlite_index_build(session):
            during = [session.execute(text(setting)).scalar_one() for setting in settings]
            session.execute(text("CREATE INDEX ix_test_contact_name ON contact (last_name, first_name)"))
        after = [session.execute(text(setting)).scalar_one() for setting in settings]
        session.rollback()
    assert during[:2] == [-2048, -2048]
    assert during[2] >= 1
    assert after == before


def test_a_new_sqlite_database_gets_16_kib_pages_and_an_existing_one_keeps_its_own(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    with sqlite_engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA page_size").scalar_one() == SQLITE_PAGE_SIZE == 16384
    # A database made before (with SQLite's 4 KiB pages) opens, migrates and writes as it is.
    older = tmp_path / "older.db"
    with sqlite3.connect(older) as raw:
        raw.execute("CREATE TABLE made_before (id INTEGER PRIMARY KEY)")
        assert raw.execute("PRAGMA page_size").fetchone()[0] == 4096
    engine = make_engine(Settings(), url=f"sqlite:///{older}")
    try:
        upgrade_database(engine)
        with engine.begin() as connection:
            connection.exec_driver_sql("INSERT INTO made_before (id) VALUES (1)")
            assert connection.exec_driver_sql("PRAGMA page_size").scalar_one() == 4096
            assert connection.exec_driver_sql("PRAGMA integrity_check").scalar_one() == "ok"
    finally:
        engine.dispose()


def test_sqlites_write_lock_held_past_the_lock_wait_is_a_write_conflict(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    engine = make_engine(Settings(database_lock_wait_ms=20), url=f"sqlite:///{path}")
    with engine.connect() as connection:
        connection.exec_driver_sql("CREATE TABLE note (body TEXT)")
        connection.commit()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar_one() == 20
            with pytest.raises(OperationalError) as locked:
                connection.exec_driver_sql("INSERT INTO note VALUES ('mine')")
            assert is_write_conflict(locked.value)
            connection.rollback()
            with pytest.raises(OperationalError) as wrong:
                connection.exec_driver_sql("SELECT * FROM no_such_table")
            assert not is_write_conflict(wrong.value)
    finally:
        holder.rollback()
        holder.close()
        engine.dispose()


def test_a_postgres_lock_held_past_the_lock_wait_is_a_write_conflict_and_a_wrong_statement_is_not(
    engine: Engine,
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("lock timeouts and SQLSTATEs are PostgreSQL's")
    short = make_engine(
        Settings(database_lock_wait_ms=20), url=engine.url.render_as_string(hide_password=False)
    )
    try:
        with engine.connect() as holder, short.connect() as waiter:
            # Every connection waits at most the configured time: no SET in the test.
            assert waiter.execute(text("SHOW lock_timeout")).scalar_one() == "20ms"
            holder.execute(text("SELECT pg_advisory_xact_lock(704221)"))
            with pytest.raises(DBAPIError) as timed_out:
                waiter.execute(text("SELECT pg_advisory_xact_lock(704221)"))
            assert is_write_conflict(timed_out.value)
            waiter.rollback()
            with pytest.raises(DBAPIError) as wrong:
                waiter.execute(text("SELECT * FROM no_such_table"))
            assert not is_write_conflict(wrong.value)
            waiter.rollback()
            holder.rollback()
    finally:
        short.dispose()
