"""Database plumbing: the declarative base, engines, sessions and the unit of work."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

from sqlalchemy import MetaData, Table, event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

from bridgehead.config import Settings

# Stable constraint names make Alembic diffs and SQLite batch migrations predictable.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Base class of every table; carries the naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def is_sqlite_url(url: str) -> bool:
    """Tell whether a database URL points at SQLite."""
    return make_url(url).get_backend_name() == "sqlite"


# Page size of a new SQLite database: 16 KiB instead of SQLite's 4 KiB. A large import is one
# transaction whose pages spill into the write-ahead log, and every page read after that looks the
# page up in the log's index, which grows with the log: a quarter of the pages is a quarter of the
# lookups and of the log. Full Salesforce benchmark import (10.4 million rows): index rebuilds
# 29.3 -> 20.9 s, gap scan 45-53 -> 36.7 s, commit 23.4 -> 19.1 s. 16 KiB, not 64 KiB (which
# measured about the same): every small write from a page logs whole pages.
SQLITE_PAGE_SIZE = 16384


def _set_sqlite_pragmas(dbapi_connection: Any, _record: ConnectionPoolEntry, *, lock_wait_ms: int) -> None:
    # SQLAlchemy, not the sqlite3 driver, decides when transactions begin (see _emit_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    # Applies only to a file with no table yet (a new database); an existing one keeps its size.
    cursor.execute(f"PRAGMA page_size={SQLITE_PAGE_SIZE}")
    cursor.execute("PRAGMA journal_mode=WAL")
    # NORMAL is durable across application crashes in WAL mode and much faster than FULL.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={int(lock_wait_ms)}")
    cursor.close()


# Execution option naming a SQLite transaction whose writes need no per-row foreign-key checks
# (see begin_trusted_bulk_write).
TRUSTED_BULK_WRITE = "bridgehead_trusted_bulk_write"
# Execution option starting a SQLite transaction with the write lock (BEGIN IMMEDIATE), see
# begin_trusted_bulk_write.
IMMEDIATE_WRITE = "bridgehead_immediate_write"


def _emit_begin(connection: Connection) -> None:
    """SQLAlchemy's documented pysqlite recipe: the driver would otherwise start a transaction only
    at the first write, so reads would see no consistent snapshot and SAVEPOINTs (used to roll
    back one import batch, or one test) would not nest inside a real transaction.

    SQLite reads ``foreign_keys`` only outside a transaction, so it is set here, before every
    BEGIN: on for every transaction except a trusted bulk write, so a pooled connection never
    carries a bulk write's setting into the next one."""
    options = connection.get_execution_options()
    trusted = bool(options.get(TRUSTED_BULK_WRITE, False))
    connection.exec_driver_sql(f"PRAGMA foreign_keys={'OFF' if trusted else 'ON'}")
    connection.exec_driver_sql("BEGIN IMMEDIATE" if options.get(IMMEDIATE_WRITE, False) else "BEGIN")


def begin_trusted_bulk_write(session: Session, *, immediate: bool = False) -> bool:
    """Begin ``session``'s transaction; on SQLite without per-row foreign-key checks.

    ``immediate`` takes SQLite's write lock at once (waiting out ``busy_timeout`` for another
    writer). A background job needs it: its first reads would otherwise pin a snapshot, and a
    request committing a write meanwhile (a token's last-use stamp) would make the job's first
    write fail at once with "database is locked" instead of waiting.

    For a command that writes millions of rows whose references it has itself just read from the
    referenced tables in the same transaction (the import engine stores only ids it looked up and
    rejects every row whose reference it could not find). SQLite checks a foreign key on every
    inserted row by seeking the parent, and cannot set those checks aside inside a transaction:
    on the after-import steps and the activity, history and flag tables that was a third or more
    of each insert. The transaction deletes no referenced rows, so no cascade is missed.

    Returns whether the checks are off: not on PostgreSQL (which keeps every constraint), nor when
    the session's transaction has already begun (SQLite then keeps the setting it began with).
    """
    if session.in_transaction():
        return False
    connection = session.connection(execution_options={TRUSTED_BULK_WRITE: True, IMMEDIATE_WRITE: immediate})
    return connection.dialect.name == "sqlite"


def make_engine(settings: Settings, *, url: str | None = None) -> Engine:
    """Build an engine for the configured database, with SQLite's pragmas applied per connection."""
    from sqlalchemy import create_engine

    database_url = url or settings.database_url
    if is_sqlite_url(database_url):
        engine = create_engine(
            database_url,
            echo=settings.sql_echo,
            connect_args={"check_same_thread": False},
        )
        event.listen(
            engine, "connect", partial(_set_sqlite_pragmas, lock_wait_ms=settings.database_lock_wait_ms)
        )
        event.listen(engine, "begin", _emit_begin)
        event.listen(engine, "checkin", _detach_scratch_databases)
        return engine
    engine = create_engine(database_url, echo=settings.sql_echo, pool_pre_ping=True)
    event.listen(
        engine, "connect", partial(_set_postgres_settings, lock_wait_ms=settings.database_lock_wait_ms)
    )
    return engine


def _set_postgres_settings(dbapi_connection: Any, _record: Any, *, lock_wait_ms: int) -> None:
    """Per PostgreSQL connection: no JIT compilation, and a lock wait as long as SQLite's.

    Our heavy statements (the metrics' grouped reads, the gap detectors) cost more than
    ``jit_above_cost``, so the server compiled each one: 50-80 ms of compiling for a statement of
    0.5-1 s at 1,000,000 deals, with no faster execution measured in return (the activity counts
    542 ms without, 546 ms with); on the gap scan compiling its explanations took longer than
    running them.
    """
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SET jit = off")
        # A statement waiting longer than this for another transaction's lock fails with 55P03
        # (``is_write_conflict``), as SQLite's busy_timeout does: the month sums' triggers lock
        # an owner's month rows until the writer commits, so a deal edit could otherwise wait out
        # a whole import.
        cursor.execute(f"SET lock_timeout = {int(lock_wait_ms)}")
    # psycopg opens a transaction for the SET; end it so the pool hands out an idle connection.
    dbapi_connection.commit()


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit (pages render after the commit)."""
    # Relationships and foreign keys name tables of other domains; all must be mapped first.
    import bridgehead.models  # noqa: F401

    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)


@contextmanager
def unit_of_work(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction: commit when the block succeeds, roll back when it raises."""
    session = session_factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def analyze_scratch(session: Session, *tables: Table) -> None:
    """On PostgreSQL, statistics for freshly filled scratch tables; elsewhere nothing.

    Autovacuum never sees temporary tables, so without this PostgreSQL plans joins against them
    blind (typically as if they held a handful of rows: nested loops over millions). SQLite plans
    such joins well enough from its defaults.
    """
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        return
    for table in tables:
        connection.exec_driver_sql(f"ANALYZE {table.name}")


# A page cache for large set-wise writes and reads: 256 MiB instead of SQLite's default 2 MiB,
# with which every index of a multi-million-row table pages in and out.
LARGE_PAGE_CACHE_KIB = 256 * 1024


@contextmanager
def sqlite_page_cache(
    session: Session, kib: int = LARGE_PAGE_CACHE_KIB, *, temp_too: bool = False
) -> Iterator[None]:
    """On SQLite, a page cache of ``kib`` KiB for the block, then the size it had (so it nests and
    the pooled connection is left as it was); ``temp_too`` also for the temporary database (scratch
    tables). Elsewhere nothing. A per-connection memory setting, not durability."""
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        yield
        return
    with _cache_size(connection, ("main", "temp") if temp_too else ("main",), kib):
        yield


@contextmanager
def _cache_size(connection: Connection, schemas: tuple[str, ...], kib: int) -> Iterator[None]:
    previous = {
        schema: int(connection.exec_driver_sql(f"PRAGMA {schema}.cache_size").scalar_one())
        for schema in schemas
    }
    for schema in schemas:
        connection.exec_driver_sql(f"PRAGMA {schema}.cache_size=-{kib}")
    try:
        yield
    finally:
        for schema, size in previous.items():
            connection.exec_driver_sql(f"PRAGMA {schema}.cache_size={size}")


def sqlite_checks_foreign_keys(session: Session) -> bool | None:
    """On SQLite, whether this transaction checks foreign keys row by row (False in a trusted bulk
    write); None elsewhere (PostgreSQL always checks)."""
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        return None
    return bool(connection.exec_driver_sql("PRAGMA foreign_keys").scalar_one())


# Building an index over millions of rows: SQLite's sorter sorts runs of keys as large as the page
# cache, in one thread; with a 2 MiB cache the runs are small, sorted by helper threads and merged,
# which measured 3x faster than in a 256 MiB cache (5,000,000 activities: 9.3-11.2 -> 3.4 s per
# index on 2 cores; 4.8 s with the small cache alone, threads do nothing for a single run).
INDEX_BUILD_CACHE_KIB = 2 * 1024
INDEX_BUILD_THREADS = 4


@contextmanager
def sqlite_index_build(session: Session, *, schemas: tuple[str, ...] = ("main", "temp")) -> Iterator[None]:
    """On SQLite, settings for ``CREATE INDEX`` over large tables for the block: a small page cache
    for ``schemas`` (``("temp",)`` for scratch tables only, which leaves the main cache's pages
    alone) and sorter helper threads; then the settings the connection had. Elsewhere nothing.
    Per-connection speed settings, not durability."""
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        yield
        return
    threads = int(connection.exec_driver_sql("PRAGMA threads").scalar_one())
    connection.exec_driver_sql(f"PRAGMA threads={min(INDEX_BUILD_THREADS, os.cpu_count() or 1)}")
    try:
        with _cache_size(connection, schemas, INDEX_BUILD_CACHE_KIB):
            yield
    finally:
        connection.exec_driver_sql(f"PRAGMA threads={threads}")


# Connection info key: the scratch database files attached to a pooled SQLite connection until it
# goes back to the pool (see attach_scratch_database).
_ATTACHED_SCRATCH = "bridgehead_attached_scratch"


def attach_scratch_database(session: Session, path: str, schema: str) -> None:
    """On SQLite, ATTACH the database file ``path`` as ``schema`` to the session's connection.

    SQLite cannot DETACH a database that the open transaction has read, so the file stays attached
    until the connection goes back to the pool (after the commit or rollback), and is detached and
    deleted then.
    """
    connection = session.connection()
    connection.exec_driver_sql(f"ATTACH DATABASE ? AS {schema}", (path,))
    connection.info.setdefault(_ATTACHED_SCRATCH, []).append((schema, path))


def _detach_scratch_databases(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    for schema, path in record.info.pop(_ATTACHED_SCRATCH, []):
        try:
            dbapi_connection.execute(f"DETACH DATABASE {schema}")
        finally:
            if os.path.exists(path):
                os.remove(path)


@contextmanager
def no_lock_wait(session: Session) -> Iterator[None]:
    """Inside the block a write fails at once, rather than after ``database_lock_wait_ms``, when
    another transaction holds what it needs (SQLite's write lock during a long import; a row lock
    on PostgreSQL): for writes the caller may skip, such as storing a cache from a page view."""
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        previous = int(connection.exec_driver_sql("PRAGMA busy_timeout").scalar() or 0)
        connection.exec_driver_sql("PRAGMA busy_timeout=0")
        try:
            yield
        finally:
            connection.exec_driver_sql(f"PRAGMA busy_timeout={previous}")
        return
    setting = connection.exec_driver_sql("SELECT current_setting('lock_timeout')").scalar()
    # 1 ms: PostgreSQL reads 0 as "wait for ever".
    connection.exec_driver_sql("SELECT set_config('lock_timeout', '1ms', true)")
    try:
        yield
    finally:
        connection.exec_driver_sql("SELECT set_config('lock_timeout', %(value)s, true)", {"value": setting})


# PostgreSQL's SQLSTATEs for a write that lost to another transaction: deadlock detected,
# serialization failure, lock not available (a lock timeout).
_POSTGRES_CONFLICTS = frozenset({"40P01", "40001", "55P03"})


def is_write_conflict(error: DBAPIError) -> bool:
    """Whether ``error`` means another transaction held what this one needed (SQLite's write lock
    past ``busy_timeout``, a PostgreSQL deadlock or lock timeout), not that the statement was
    wrong: the transaction was rolled back as a whole and the same work may simply be tried again.

    Writes that keep derived sums (``activity_month``, ``opportunity_month``) lock the owner's
    month rows until the writer commits, so two writers may meet there.
    """
    original = error.orig
    if getattr(original, "sqlstate", None) in _POSTGRES_CONFLICTS:
        return True
    message = str(original).lower()
    return type(original).__module__.startswith("sqlite3") and (
        "database is locked" in message or "database table is locked" in message
    )
