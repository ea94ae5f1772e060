"""Metrics speed (issue 7): deals created and open per owner and month, open deals per owner and
stage, kept by triggers on ``opportunity``.

The metrics read every deal created in the period (about 500,000 of 1,000,000) and every open
deal (about 360,000) on each call: 0.45-0.5 s of the 1.0 s headline on SQLite. Two small tables
now hold the same sums, kept exact under every write by the triggers below, in the writer's own
transaction (as ``activity_month``, migration 0021):

* ``opportunity_month``: per owner (0 for none) and calendar month, the deals created that month
  (UTC) and their amount; the open deals whose close date falls in it, their amount, and amount
  times probability.
* ``open_opportunity_stage``: per owner and CRM stage, the open deals (whatever their close date),
  and the sum and count of their probabilities (the stage ladder orders open stages by the average).

PostgreSQL: statement-level triggers with transition tables; one grouped upsert per table and
statement, in key order, and only for the keys whose sums change (an update of a deal's name
writes nothing). SQLite: row-level triggers; the update trigger fires only when a counted column
changes.

Existing deals are counted in once here.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-05 21:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_MONTH_FIGURES = (
    "created",
    "created_cents",
    "open_closing",
    "open_closing_cents",
    "open_weighted_cents_percent",
)
_COUNTED = ("owner_id", "created_at", "amount", "probability", "is_closed", "close_date", "stage")

# PostgreSQL: a timestamptz's UTC month; SQLite keeps a UTC time as text starting "YYYY-MM-DD"
# and a DATE as "YYYY-MM-DD".
_POSTGRES_CREATED_MONTH = "date_trunc('month', {row}created_at AT TIME ZONE 'UTC')::date"
_POSTGRES_CLOSE_MONTH = "date_trunc('month', {row}close_date)::date"
_SQLITE_CREATED_MONTH = "substr({row}created_at, 1, 7) || '-01'"
_SQLITE_CLOSE_MONTH = "substr({row}close_date, 1, 7) || '-01'"


def _month_rows(rows: str, sign: str, postgres: bool) -> str:
    """(owner_key, month, figures…) deltas of the deals in ``rows``: one for its creation month,
    one for its close month when it is open and has a close date."""
    created = (_POSTGRES_CREATED_MONTH if postgres else _SQLITE_CREATED_MONTH).format(row="")
    closing = (_POSTGRES_CLOSE_MONTH if postgres else _SQLITE_CLOSE_MONTH).format(row="")
    amount = "coalesce(amount, 0)"
    return (
        f"SELECT coalesce(owner_id, 0) AS owner_key, {created} AS month, {sign}1 AS created, "  # noqa: S608
        f"{sign}{amount} AS created_cents, 0 AS open_closing, 0 AS open_closing_cents, "
        f"0 AS open_weighted_cents_percent FROM {rows} "
        f"UNION ALL SELECT coalesce(owner_id, 0), {closing}, 0, 0, {sign}1, {sign}{amount}, "
        f"{sign}({amount} * coalesce(probability, 0)) FROM {rows} "
        "WHERE NOT is_closed AND close_date IS NOT NULL"
    )


_STAGE_FIGURES = ("open_deals", "probability_total", "with_probability")


def _stage_rows(rows: str, sign: str) -> str:
    return (
        f"SELECT coalesce(owner_id, 0) AS owner_key, stage, {sign}1 AS open_deals, "  # noqa: S608
        f"{sign}coalesce(probability, 0) AS probability_total, "
        f"{sign}(CASE WHEN probability IS NULL THEN 0 ELSE 1 END) AS with_probability "
        f"FROM {rows} WHERE NOT is_closed"
    )


def _postgres_upserts(deltas: list[tuple[str, str]]) -> str:
    """Both tables' grouped upserts for (rows, sign) transition tables, only where a sum changes."""
    months = " UNION ALL ".join(_month_rows(rows, sign, True) for rows, sign in deltas)
    stages = " UNION ALL ".join(_stage_rows(rows, sign) for rows, sign in deltas)
    sums = ", ".join(f"sum({name})" for name in _MONTH_FIGURES)
    changed = " OR ".join(f"sum({name}) <> 0" for name in _MONTH_FIGURES)
    added = ", ".join(f"{name} = opportunity_month.{name} + EXCLUDED.{name}" for name in _MONTH_FIGURES)
    stage_sums = ", ".join(f"sum({name})" for name in _STAGE_FIGURES)
    stage_changed = " OR ".join(f"sum({name}) <> 0" for name in _STAGE_FIGURES)
    stage_added = ", ".join(
        f"{name} = open_opportunity_stage.{name} + EXCLUDED.{name}" for name in _STAGE_FIGURES
    )
    return (
        f"INSERT INTO opportunity_month (owner_key, month, {', '.join(_MONTH_FIGURES)}) "  # noqa: S608
        f"SELECT owner_key, month, {sums} FROM ({months}) AS delta GROUP BY owner_key, month "
        f"HAVING {changed} ORDER BY owner_key, month "
        f"ON CONFLICT (owner_key, month) DO UPDATE SET {added}; "
        f"INSERT INTO open_opportunity_stage (owner_key, stage, {', '.join(_STAGE_FIGURES)}) "
        f"SELECT owner_key, stage, {stage_sums} FROM ({stages}) AS delta GROUP BY owner_key, stage "
        f"HAVING {stage_changed} ORDER BY owner_key, stage "
        f"ON CONFLICT (owner_key, stage) DO UPDATE SET {stage_added}"
    )


_POSTGRES_FUNCTIONS = {
    "opportunity_counts_inserted": _postgres_upserts([("inserted_rows", "")]),
    "opportunity_counts_deleted": _postgres_upserts([("deleted_rows", "-")]),
    "opportunity_counts_updated": _postgres_upserts([("old_rows", "-"), ("new_rows", "")]),
    "opportunity_counts_truncated": "DELETE FROM opportunity_month; DELETE FROM open_opportunity_stage",
}
_POSTGRES_TRIGGERS = {
    "opportunity_counts_inserted": (
        "AFTER INSERT ON opportunity REFERENCING NEW TABLE AS inserted_rows FOR EACH STATEMENT"
    ),
    "opportunity_counts_deleted": (
        "AFTER DELETE ON opportunity REFERENCING OLD TABLE AS deleted_rows FOR EACH STATEMENT"
    ),
    "opportunity_counts_updated": (
        "AFTER UPDATE ON opportunity REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT"
    ),
    "opportunity_counts_truncated": "AFTER TRUNCATE ON opportunity FOR EACH STATEMENT",
}


def _sqlite_add(row: str, sign: str) -> str:
    """The statements adding (``sign`` "") or taking away ("-") one deal ``row`` (NEW or OLD)."""
    created = _SQLITE_CREATED_MONTH.format(row=f"{row}.")
    closing = _SQLITE_CLOSE_MONTH.format(row=f"{row}.")
    amount = f"coalesce({row}.amount, 0)"
    owner = f"coalesce({row}.owner_id, 0)"
    columns = ", ".join(_MONTH_FIGURES)
    return (
        f"INSERT INTO opportunity_month (owner_key, month, {columns}) "  # noqa: S608
        f"VALUES ({owner}, {created}, {sign}1, {sign}{amount}, 0, 0, 0) "
        "ON CONFLICT (owner_key, month) DO UPDATE SET created = created + excluded.created, "
        "created_cents = created_cents + excluded.created_cents; "
        f"INSERT INTO opportunity_month (owner_key, month, {columns}) "
        f"SELECT {owner}, {closing}, 0, 0, {sign}1, {sign}{amount}, "
        f"{sign}({amount} * coalesce({row}.probability, 0)) "
        f"WHERE NOT {row}.is_closed AND {row}.close_date IS NOT NULL "
        "ON CONFLICT (owner_key, month) DO UPDATE SET open_closing = open_closing + excluded.open_closing, "
        "open_closing_cents = open_closing_cents + excluded.open_closing_cents, "
        "open_weighted_cents_percent = open_weighted_cents_percent + excluded.open_weighted_cents_percent; "
        f"INSERT INTO open_opportunity_stage (owner_key, stage, {', '.join(_STAGE_FIGURES)}) "
        f"SELECT {owner}, {row}.stage, {sign}1, {sign}coalesce({row}.probability, 0), "
        f"{sign}({row}.probability IS NOT NULL) WHERE NOT {row}.is_closed "
        "ON CONFLICT (owner_key, stage) DO UPDATE SET open_deals = open_deals + excluded.open_deals, "
        "probability_total = probability_total + excluded.probability_total, "
        "with_probability = with_probability + excluded.with_probability;"
    )


_SQLITE_TRIGGERS = {
    "opportunity_counts_inserted": f"AFTER INSERT ON opportunity BEGIN {_sqlite_add('NEW', '')} END",
    "opportunity_counts_deleted": f"AFTER DELETE ON opportunity BEGIN {_sqlite_add('OLD', '-')} END",
    # Only when a counted column changes: other updates (a name, a next step) cost nothing.
    "opportunity_counts_updated": (
        f"AFTER UPDATE OF {', '.join(_COUNTED)} ON opportunity WHEN "
        + " OR ".join(f"OLD.{name} IS NOT NEW.{name}" for name in _COUNTED)
        + f" BEGIN {_sqlite_add('OLD', '-')} {_sqlite_add('NEW', '')} END"
    ),
}


def upgrade() -> None:
    """Create both tables and their triggers, and count the existing deals in."""
    postgres = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        "opportunity_month",
        sa.Column("owner_key", sa.Integer(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("created", sa.Integer(), nullable=False),
        sa.Column("created_cents", sa.BigInteger(), nullable=False),
        sa.Column("open_closing", sa.Integer(), nullable=False),
        sa.Column("open_closing_cents", sa.BigInteger(), nullable=False),
        sa.Column("open_weighted_cents_percent", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("owner_key", "month", name=op.f("pk_opportunity_month")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "open_opportunity_stage",
        sa.Column("owner_key", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(length=80), nullable=False),
        sa.Column("open_deals", sa.Integer(), nullable=False),
        sa.Column("probability_total", sa.BigInteger(), nullable=False),
        sa.Column("with_probability", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("owner_key", "stage", name=op.f("pk_open_opportunity_stage")),
        sqlite_with_rowid=False,
    )
    sums = ", ".join(f"sum({name})" for name in _MONTH_FIGURES)
    op.execute(
        f"INSERT INTO opportunity_month (owner_key, month, {', '.join(_MONTH_FIGURES)}) "  # noqa: S608
        f"SELECT owner_key, month, {sums} FROM ({_month_rows('opportunity', '', postgres)}) AS deals "
        "GROUP BY owner_key, month"
    )
    op.execute(
        f"INSERT INTO open_opportunity_stage (owner_key, stage, {', '.join(_STAGE_FIGURES)}) "  # noqa: S608
        "SELECT coalesce(owner_id, 0), stage, count(*), coalesce(sum(probability), 0), count(probability) "
        "FROM opportunity WHERE NOT is_closed GROUP BY 1, 2"
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
    """Drop the triggers and both tables."""
    postgres = op.get_bind().dialect.name == "postgresql"
    for name in _POSTGRES_FUNCTIONS if postgres else _SQLITE_TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (" ON opportunity" if postgres else ""))
        if postgres:
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    op.drop_table("open_opportunity_stage")
    op.drop_table("opportunity_month")
