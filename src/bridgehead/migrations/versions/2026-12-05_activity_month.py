"""Metrics speed (issue 7): activities per owner, month and kind, kept by triggers on ``activity``.

The metrics counted the activities of the period on every call: 2.5 million a year at 5 million
activities, about a third of the headline (0.33 s of 0.83 s on PostgreSQL, 0.39 of 1.33 s on
SQLite). ``activity_month`` holds the same counts per owner (0 for none), calendar month (UTC)
and kind; the triggers below keep it exact under every write, in the writer's own transaction:

* PostgreSQL: statement-level triggers with transition tables, so a bulk insert or COPY of a
  million rows costs one grouped upsert, not a million. Rows are upserted in key order, so two
  transactions writing the same owners take the row locks in the same order.
* SQLite: row-level triggers (SQLite has no statement-level ones).

Existing activities are counted in once here.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-05 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_POSTGRES_MONTH = "date_trunc('month', occurred_at AT TIME ZONE 'UTC')::date"
# SQLite keeps a UTC time as text starting "YYYY-MM-DD"; a DATE column as "YYYY-MM-DD".
_SQLITE_MONTH = "substr({row}.occurred_at, 1, 7) || '-01'"


def _postgres_delta(sign: str, rows: str) -> str:
    return (
        f"SELECT coalesce(owner_id, 0) AS owner_key, {_POSTGRES_MONTH} AS month, kind, "  # noqa: S608
        f"{sign}count(*) AS n FROM {rows} GROUP BY 1, 2, 3"
    )


_POSTGRES_UPSERT = """
    INSERT INTO activity_month (owner_key, month, kind, activities)
    SELECT owner_key, month, kind, sum(n) FROM ({deltas}) AS delta
    GROUP BY owner_key, month, kind HAVING sum(n) <> 0 ORDER BY owner_key, month, kind
    ON CONFLICT (owner_key, month, kind)
    DO UPDATE SET activities = activity_month.activities + EXCLUDED.activities
"""

_POSTGRES_FUNCTIONS = {
    "activity_month_inserted": _POSTGRES_UPSERT.format(deltas=_postgres_delta("", "inserted_rows")),
    "activity_month_deleted": _POSTGRES_UPSERT.format(deltas=_postgres_delta("-", "deleted_rows")),
    "activity_month_updated": _POSTGRES_UPSERT.format(
        deltas=_postgres_delta("-", "old_rows") + " UNION ALL " + _postgres_delta("", "new_rows")
    ),
    "activity_month_truncated": "DELETE FROM activity_month",
}
_POSTGRES_TRIGGERS = {
    "activity_month_inserted": "AFTER INSERT ON activity REFERENCING NEW TABLE AS inserted_rows FOR EACH STATEMENT",
    "activity_month_deleted": "AFTER DELETE ON activity REFERENCING OLD TABLE AS deleted_rows FOR EACH STATEMENT",
    "activity_month_updated": (
        "AFTER UPDATE ON activity REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT"
    ),
    "activity_month_truncated": "AFTER TRUNCATE ON activity FOR EACH STATEMENT",
}


def _sqlite_add(row: str, step: str) -> str:
    month = _SQLITE_MONTH.format(row=row)
    return (
        "INSERT INTO activity_month (owner_key, month, kind, activities) "  # noqa: S608
        f"VALUES (coalesce({row}.owner_id, 0), {month}, {row}.kind, {step}) "
        f"ON CONFLICT (owner_key, month, kind) DO UPDATE SET activities = activities + {step};"
    )


_SQLITE_TRIGGERS = {
    "activity_month_inserted": f"AFTER INSERT ON activity BEGIN {_sqlite_add('NEW', '1')} END",
    "activity_month_deleted": f"AFTER DELETE ON activity BEGIN {_sqlite_add('OLD', '-1')} END",
    # Only when a counted column changes: other updates (a subject, a link) cost nothing.
    "activity_month_updated": (
        "AFTER UPDATE OF owner_id, occurred_at, kind ON activity "
        "WHEN OLD.owner_id IS NOT NEW.owner_id OR OLD.occurred_at IS NOT NEW.occurred_at "
        "OR OLD.kind IS NOT NEW.kind "
        f"BEGIN {_sqlite_add('OLD', '-1')} {_sqlite_add('NEW', '1')} END"
    ),
}


def upgrade() -> None:
    """Create ``activity_month``, its triggers, and count the existing activities in."""
    postgres = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        "activity_month",
        sa.Column("owner_key", sa.Integer(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("activities", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("owner_key", "month", "kind", name=op.f("pk_activity_month")),
        sqlite_with_rowid=False,
    )
    month = _POSTGRES_MONTH if postgres else _SQLITE_MONTH.format(row="activity")
    op.execute(
        "INSERT INTO activity_month (owner_key, month, kind, activities) "  # noqa: S608
        f"SELECT coalesce(owner_id, 0), {month}, kind, count(*) FROM activity GROUP BY 1, 2, 3"
    )
    if postgres:
        for name, body in _POSTGRES_FUNCTIONS.items():
            op.execute(
                f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ "
                f"BEGIN {body}; RETURN NULL; END $$"
            )
            op.execute(f"CREATE TRIGGER {name} {_POSTGRES_TRIGGERS[name]} EXECUTE FUNCTION {name}()")
    else:
        for name, definition in _SQLITE_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {definition}")


def downgrade() -> None:
    """Drop the triggers and ``activity_month``."""
    postgres = op.get_bind().dialect.name == "postgresql"
    for name in _POSTGRES_FUNCTIONS if postgres else _SQLITE_TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (" ON activity" if postgres else ""))
        if postgres:
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    op.drop_table("activity_month")
