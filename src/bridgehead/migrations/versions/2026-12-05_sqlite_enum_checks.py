"""Write speed on SQLite (issues 3 and 7): enum CHECK constraints as equalities instead of IN lists.

SQLite evaluates ``column IN ('a', 'b', …)`` inside a CHECK constraint by building a lookup table
for every row it writes; the same test written ``column = 'a' OR column = 'b' …`` costs almost
nothing (1,405,891 gap signals: 3.97 s against 1.59 s; 5,000,000 activities: 5.8-6.6 s against
3.1-3.4 s). Tables created from now on get the equalities from the DDL compiler
(``bridgehead.common.types``); this revision rewrites the constraints of tables created before.

Only the constraint text changes, never the stored rows, and both forms accept and reject the same
values, so the table definitions are rewritten in place, as SQLite documents for changing CHECK
constraints (https://www.sqlite.org/lang_altertable.html, "otheralter"): in one transaction the
definitions are updated under ``writable_schema`` and the schema version is incremented, instead of
copying every table (minutes for a database with millions of activities). PostgreSQL keeps its IN
lists: nothing to do there.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05 04:00:00
"""

import re
from collections.abc import Callable, Sequence

from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMN = r'(?:"[^"]+"|\w+)'
_LITERAL = r"'(?:[^']|'')*'"
IN_LIST = re.compile(rf"CHECK \(({_COLUMN}) IN \(({_LITERAL}(?:, {_LITERAL})*)\)\)")
EQUALITIES = re.compile(rf"CHECK \(({_COLUMN}) = {_LITERAL}(?: OR \1 = {_LITERAL})+\)")


def as_equalities(table_sql: str) -> str:
    """A table definition with every ``CHECK (column IN (…))`` written as ``CHECK (column = … OR …)``."""

    def rewrite(match: re.Match[str]) -> str:
        column, values = match.group(1), re.findall(_LITERAL, match.group(2))
        return "CHECK (" + " OR ".join(f"{column} = {value}" for value in values) + ")"

    return IN_LIST.sub(rewrite, table_sql)


def as_in_lists(table_sql: str) -> str:
    """The reverse of ``as_equalities``: ``CHECK (column = … OR column = …)`` back to an IN list."""

    def rewrite(match: re.Match[str]) -> str:
        column = match.group(1)
        values = re.findall(rf"{re.escape(column)} = ({_LITERAL})", match.group(0))
        return f"CHECK ({column} IN ({', '.join(values)}))"

    return EQUALITIES.sub(rewrite, table_sql)


def _rewrite_tables(convert: Callable[[str], str]) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    tables = bind.exec_driver_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND sql LIKE '%CHECK (%'"
    )
    rewritten = [(name, sql, convert(sql)) for name, sql in tables.all()]
    changed = [(name, new_sql) for name, sql, new_sql in rewritten if new_sql != sql]
    if not changed:
        return
    version = int(bind.exec_driver_sql("PRAGMA schema_version").scalar_one())
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    try:
        for name, new_sql in changed:
            bind.exec_driver_sql(
                "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = ?", (new_sql, name)
            )
        # A new schema version makes every connection (this one included) reparse the definitions.
        bind.exec_driver_sql(f"PRAGMA schema_version = {version + 1}")
    finally:
        bind.exec_driver_sql("PRAGMA writable_schema = OFF")


def upgrade() -> None:
    _rewrite_tables(as_equalities)


def downgrade() -> None:
    _rewrite_tables(as_in_lists)
