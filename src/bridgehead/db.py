"""Database plumbing: the declarative base, engines, sessions and the unit of work."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import MetaData, Table, event
from sqlalchemy.engine import Connection, Engine, make_url
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


def _set_sqlite_pragmas(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    # SQLAlchemy, not the sqlite3 driver, decides when transactions begin (see _emit_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    # NORMAL is durable across application crashes in WAL mode and much faster than FULL.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _emit_begin(connection: Connection) -> None:
    """SQLAlchemy's documented pysqlite recipe: the driver would otherwise start a transaction only
    at the first write, so reads would see no consistent snapshot and SAVEPOINTs (used to roll
    back one import batch, or one test) would not nest inside a real transaction."""
    connection.exec_driver_sql("BEGIN")


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
        event.listen(engine, "connect", _set_sqlite_pragmas)
        event.listen(engine, "begin", _emit_begin)
        return engine
    return create_engine(database_url, echo=settings.sql_echo, pool_pre_ping=True)


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
    schemas = ("main", "temp") if temp_too else ("main",)
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
