"""Secondary indexes set aside while a large load fills a table, rebuilt before the import returns.

Inserting a million rows into a table with half a dozen secondary indexes updates every index row
by row in random key order; building each index once afterwards from sorted keys is several times
faster. This only pays when the load is large relative to what the table already holds, so an
index is set aside only when a batch brings at least ``MIN_ROWS`` rows and at least
``GROWTH_FACTOR`` times the rows the table has (a first load, not a weekly re-import).

Only plain (non-unique) indexes are set aside: unique indexes keep enforcing their constraint
and answer the external-id lookups every later step makes. Each index is dropped and recreated
from the exact definition the database reports, inside the import's transaction, so a failed or
refused import (which the caller rolls back) leaves the schema exactly as it was too.

On PostgreSQL the table's foreign keys are set aside the same way: each one is a trigger that
looks up the referenced row, one query per reference per inserted row (4 per activity), which
cost more than the insert itself. Adding the constraint back checks every row in one join, so an
import that stored a dangling reference still fails (and rolls back) before it commits. The engine
only stores ids it has just read from the referenced tables, so that never happens in practice.
Dropping a foreign key also drops its triggers on the referenced table, which locks that table
against readers as well as writers until the import commits; so keys to ``READ_BY_EVERY_REQUEST``
(``user``, which every signed-in request reads) stay in place and are checked row by row, a lookup
in a small table, and that table's own indexes are never set aside. The dropped indexes already
lock the loaded table. SQLite cannot drop a foreign key without rebuilding the table, so there the
triggers stay.

On PostgreSQL the unique key on ``external_id`` is set aside too, but only while the table's own
rows go in: it is put back before anything looks its records up by id (right after the batch
when the batch refers to its own table, else when a batch into another table starts, or at the
end): each inserted id went into that B-tree at a random place, with a locale-aware comparison at
every level, which was more than half of the insert (3.5 million activities: 29.5 s with it,
12.9 s without, 3.7 s to build it afterwards from sorted keys). Two files into one table in a
row (Salesforce's tasks, then its events) thus build it once, after both. Building it back checks that the
ids are unique, so a duplicate the engine failed to reject still fails the import. SQLite keeps
the key: there it is part of the table's definition.

On PostgreSQL the triggers that keep counts derived from the table (``DERIVED_COUNTS``: the
activities per owner and month; the deals created and open per owner and month, and open per
stage) are set aside too, and the counts made again in one grouped pass before the import
returns: their transition tables hold every row of each statement a second time (the full-size
benchmark, 5 million activities: 212.1 s with them firing, 197.2-205.4 s in three runs set aside,
the same day; counting again takes 2.8 s of that). On SQLite the row triggers cost little (180.1 s
with them; 182.8 s without them the session before) and stay.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Connection, Table, func, select, text
from sqlalchemy.orm import Session

from bridgehead.crm.service import recount_activity_months, recount_opportunity_counts
from bridgehead.db import sqlite_index_build

# Below this many rows a batch is cheaper to index row by row than to rebuild indexes for.
MIN_ROWS = 20_000
# ... and unless it brings at least this many times the rows the table holds already.
GROWTH_FACTOR = 2
# Tables every signed-in request reads: a load never sets their indexes aside, and on PostgreSQL
# never the foreign keys to them either (dropping a key drops its triggers on the referenced
# table, which locks it against readers until the import commits). With the owner keys set aside,
# a first load of 10,402,000 rows locked ``user`` for its minutes, and every page and API call
# waited out the lock wait and answered 503.
READ_BY_EVERY_REQUEST = ("user",)
# PostgreSQL sorts index keys in this much memory per CREATE INDEX (its default is 64 MB).
POSTGRES_INDEX_MEMORY = "256MB"
# Per table: the triggers that keep counts derived from it (migrations 0021 and 0022), and what
# counts them again from scratch.
DERIVED_COUNTS: dict[str, tuple[tuple[str, ...], Callable[[Session], None]]] = {
    "activity": (
        ("activity_month_inserted", "activity_month_updated", "activity_month_deleted"),
        recount_activity_months,
    ),
    "opportunity": (
        ("opportunity_counts_inserted", "opportunity_counts_updated", "opportunity_counts_deleted"),
        recount_opportunity_counts,
    ),
}


@dataclass
class DeferredIndexes:
    """The indexes set aside during one import, by table, with the SQL that recreates them."""

    session: Session
    dropped: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    # PostgreSQL only: (name, definition) of each foreign key set aside, by table.
    foreign_keys: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    # PostgreSQL only: (name, definition) of the external-id unique key set aside, by table.
    unique_keys: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    # PostgreSQL only: tables whose derived-count triggers are disabled until ``rebuild``.
    triggers_off: list[str] = field(default_factory=list)

    def set_aside_for(self, table: Table, incoming_rows: int) -> None:
        """Drop ``table``'s plain indexes if ``incoming_rows`` new rows make a rebuild cheaper."""
        if table.name in self.dropped or incoming_rows < MIN_ROWS or table.name in READ_BY_EVERY_REQUEST:
            return
        existing = self.session.scalar(select(func.count()).select_from(table)) or 0
        if incoming_rows < GROWTH_FACTOR * existing:
            return
        connection = self.session.connection()
        indexes = plain_indexes(self.session, table.name)
        for name, _ in indexes:
            connection.exec_driver_sql(f'DROP INDEX "{name}"')
        self.dropped[table.name] = indexes
        if connection.dialect.name == "postgresql":
            for aside, constraints in (
                (self.foreign_keys, keys_set_aside(self.session, table.name)),
                (self.unique_keys, external_id_keys(self.session, table.name)),
            ):
                if constraints:
                    _alter_constraints(connection, table.name, constraints, add=False)
                    aside[table.name] = constraints
            if table.name in DERIVED_COUNTS:
                _switch_triggers(connection, table.name, enable=False)
                self.triggers_off.append(table.name)

    def restore_unique_keys(self, table_name: str) -> None:
        """Put back ``table_name``'s external-id unique key if it was set aside (a sorted build
        that checks the stored ids are unique)."""
        keys = self.unique_keys.pop(table_name, None)
        if not keys:
            return
        connection = self.session.connection()
        _postgres_index_memory(connection)
        _alter_constraints(connection, table_name, keys, add=True)

    def restore_unique_keys_except(self, table_name: str) -> None:
        """Put back every external-id unique key set aside but ``table_name``'s: a batch into
        another table may look those records up by id."""
        for name in [name for name in self.unique_keys if name != table_name]:
            self.restore_unique_keys(name)

    def rebuild(self) -> None:
        """Recreate every index and foreign key set aside, from its original definition (adding a
        foreign key back checks every stored row against the referenced table); on PostgreSQL,
        then gather the loaded tables' statistics."""
        for table_name in list(self.unique_keys):
            self.restore_unique_keys(table_name)
        if not self.dropped:
            return
        connection = self.session.connection()
        if connection.dialect.name == "postgresql":
            _postgres_index_memory(connection)
        with sqlite_index_build(self.session):
            for indexes in self.dropped.values():
                for _, definition in indexes:
                    connection.exec_driver_sql(definition)
        for table_name, constraints in self.foreign_keys.items():
            _alter_constraints(connection, table_name, constraints, add=True)
        for table_name in self.triggers_off:
            _switch_triggers(connection, table_name, enable=True)
            DERIVED_COUNTS[table_name][1](self.session)
        if connection.dialect.name == "postgresql":
            # Autovacuum sees the rows only after the commit, and then a minute later: until
            # then PostgreSQL plans the steps after the load (deal checks, the gap scan) over
            # millions of rows with default selectivities. ANALYZE reads a sample of the rows.
            for table_name in self.dropped:
                connection.exec_driver_sql(f'ANALYZE "{table_name}"')
        self.dropped.clear()
        self.foreign_keys.clear()
        self.triggers_off.clear()


def _switch_triggers(connection: Connection, table_name: str, *, enable: bool) -> None:
    """Enable or disable the derived-count triggers of ``table_name`` (one ALTER TABLE)."""
    verb = "ENABLE" if enable else "DISABLE"
    clauses = ", ".join(f'{verb} TRIGGER "{name}"' for name in DERIVED_COUNTS[table_name][0])
    connection.exec_driver_sql(f'ALTER TABLE "{table_name}" {clauses}')


def _postgres_index_memory(connection: Connection) -> None:
    """Let PostgreSQL sort index keys in ``POSTGRES_INDEX_MEMORY`` until the transaction ends."""
    connection.exec_driver_sql(f"SET LOCAL maintenance_work_mem = '{POSTGRES_INDEX_MEMORY}'")


def _alter_constraints(
    connection: Connection, table_name: str, constraints: list[tuple[str, str]], *, add: bool
) -> None:
    """One ALTER TABLE that drops ``constraints`` (name, definition), or adds them back."""
    clauses = (
        f'ADD CONSTRAINT "{name}" {definition}' if add else f'DROP CONSTRAINT "{name}"'
        for name, definition in constraints
    )
    connection.exec_driver_sql(f'ALTER TABLE "{table_name}" {", ".join(clauses)}')


def plain_indexes(session: Session, table_name: str) -> list[tuple[str, str]]:
    """(name, CREATE INDEX statement) of each non-unique index on ``table_name``, as stored."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        rows = connection.execute(
            text(
                "SELECT indexname, indexdef FROM pg_indexes "
                "WHERE schemaname = current_schema() AND tablename = :table"
            ),
            {"table": table_name},
        ).all()
    else:
        # Indexes SQLite makes for UNIQUE and PRIMARY KEY constraints have no SQL and are kept.
        rows = connection.execute(
            text(
                "SELECT name, sql FROM sqlite_master "
                "WHERE type = 'index' AND tbl_name = :table AND sql IS NOT NULL"
            ),
            {"table": table_name},
        ).all()
    return sorted(
        (str(name), str(definition))
        for name, definition in rows
        if not str(definition).upper().startswith("CREATE UNIQUE")
    )


def foreign_keys(session: Session, table_name: str) -> list[tuple[str, str]]:
    """(name, definition) of each foreign key of ``table_name`` on PostgreSQL, as stored."""
    return constraints_of(session, table_name, "f")


def keys_set_aside(session: Session, table_name: str) -> list[tuple[str, str]]:
    """The foreign keys of ``table_name`` a large load sets aside on PostgreSQL: all but those to
    ``READ_BY_EVERY_REQUEST`` (name, definition)."""
    return constraints_of(session, table_name, "f", except_to=READ_BY_EVERY_REQUEST)


def constraints_of(
    session: Session, table_name: str, kind: str, *, except_to: tuple[str, ...] = ()
) -> list[tuple[str, str]]:
    """(name, definition) of each constraint of ``kind`` (``pg_constraint.contype``: ``f`` foreign
    key, ``u`` unique) on ``table_name``, on PostgreSQL, as stored; without the foreign keys to the
    tables named in ``except_to``."""
    rows = (
        session.connection()
        .execute(
            text(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE contype = :kind AND conrelid = CAST(quote_ident(:table) AS regclass) "
                "AND confrelid NOT IN (SELECT kept FROM (SELECT to_regclass(quote_ident(name)) AS kept "
                "FROM unnest(CAST(:except_to AS text[])) AS name) AS found WHERE kept IS NOT NULL)"
            ),
            {"table": table_name, "kind": kind, "except_to": list(except_to)},
        )
        .all()
    )
    return sorted((str(name), str(definition)) for name, definition in rows)


def external_id_keys(session: Session, table_name: str) -> list[tuple[str, str]]:
    """(name, definition) of ``table_name``'s unique key on ``external_id`` alone, on PostgreSQL."""
    return [
        (name, definition)
        for name, definition in constraints_of(session, table_name, "u")
        if definition == "UNIQUE (external_id)"
    ]
