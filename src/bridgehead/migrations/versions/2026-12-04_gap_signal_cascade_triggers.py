"""Gap scan speed (issue 7): on SQLite, gap_signal's deal, account and owner keys become triggers.

SQLite checks a foreign key for every inserted row by opening the parent table and seeking the key
(about 3.6 us a signal for the three keys a detector fills: ~5 s of a first scan's 1.4 million
signals at 1,000,000 deals), and cannot set the checks aside inside a transaction. Signals are
derived data: the scan writes them only by INSERT ... SELECT from the deals and accounts it reads,
so the checks never find an orphan. On SQLite the table is rebuilt without those three keys and
triggers do what their ON DELETE actions did: a deleted deal or account takes its signals along,
a deleted user leaves the signals without an owner. The keys of the people who acknowledge or
snooze a signal (written by hand, one row at a time) stay. PostgreSQL keeps every key (its bulk
scan sets them aside and checks them set-wise).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04 23:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bridgehead.common.types

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_KINDS = (
    "single_threaded",
    "no_economic_buyer",
    "slow_follow_up",
    "stale_deal",
    "qualification_incomplete",
    "close_date_pushed",
    "close_date_past",
    "missing_fields",
    "off_strategy",
    "no_action_plan",
    "action_plan_overdue",
    "handoff_not_accepted",
)
_SEVERITIES = ("low", "medium", "high")
_COPY = (
    "INSERT INTO gap_signal_rebuilt (id, kind, severity, subject_key, opportunity_id, account_id, owner_id, "
    "amount_at_risk, explanation, evidence, raised_at, last_seen_at, resolved_at, acknowledged_at, "
    "acknowledged_by_id, acknowledge_reason, snoozed_until, snoozed_by_id, snooze_reason) "
    "SELECT id, kind, severity, subject_key, opportunity_id, account_id, owner_id, amount_at_risk, explanation, "
    "evidence, raised_at, last_seen_at, resolved_at, acknowledged_at, acknowledged_by_id, acknowledge_reason, "
    "snoozed_until, snoozed_by_id, snooze_reason FROM gap_signal ORDER BY id"
)
_INDEXES = (
    ("ix_gap_signal_owner_id_resolved_at", ["owner_id", "resolved_at", "raised_at", "opportunity_id"]),
    ("ix_gap_signal_opportunity_id", ["opportunity_id"]),
    ("ix_gap_signal_account_id", ["account_id"]),
    ("ix_gap_signal_raised_at", ["raised_at"]),
)
_TRIGGERS = {
    "gap_signal_opportunity_deleted": (
        "CREATE TRIGGER gap_signal_opportunity_deleted AFTER DELETE ON opportunity FOR EACH ROW "
        "BEGIN DELETE FROM gap_signal WHERE opportunity_id = OLD.id; END"
    ),
    "gap_signal_account_deleted": (
        "CREATE TRIGGER gap_signal_account_deleted AFTER DELETE ON account FOR EACH ROW "
        "BEGIN DELETE FROM gap_signal WHERE account_id = OLD.id; END"
    ),
    "gap_signal_owner_deleted": (
        'CREATE TRIGGER gap_signal_owner_deleted AFTER DELETE ON "user" FOR EACH ROW '
        "BEGIN UPDATE gap_signal SET owner_id = NULL WHERE owner_id = OLD.id; END"
    ),
}


def _subject_keys(with_foreign_keys: bool) -> list[sa.ForeignKeyConstraint]:
    if not with_foreign_keys:
        return []
    return [
        sa.ForeignKeyConstraint(
            ["opportunity_id"],
            ["opportunity.id"],
            name=op.f("fk_gap_signal_opportunity_id_opportunity"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_gap_signal_account_id_account"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["user.id"], name=op.f("fk_gap_signal_owner_id_user"), ondelete="SET NULL"
        ),
    ]


def _rebuild(with_foreign_keys: bool) -> None:
    """Copy gap_signal into a table with or without its subject keys (SQLite cannot drop a key)."""
    moment = bridgehead.common.types.UTCDateTime(timezone=True)
    op.create_table(
        "gap_signal_rebuilt",
        sa.Column("id", _ID, nullable=False),
        sa.Column(
            "kind",
            sa.Enum(*_KINDS, name="gap_kind", native_enum=False, create_constraint=True, length=40),
            nullable=False,
        ),
        sa.Column(
            "severity",
            sa.Enum(*_SEVERITIES, name="gap_severity", native_enum=False, create_constraint=True, length=20),
            nullable=False,
        ),
        sa.Column("subject_key", sa.String(length=120), nullable=False),
        sa.Column("opportunity_id", _ID, nullable=True),
        sa.Column("account_id", _ID, nullable=True),
        sa.Column("owner_id", _ID, nullable=True),
        sa.Column("amount_at_risk", bridgehead.common.types.MoneyAmount(), nullable=True),
        sa.Column("explanation", sa.String(length=500), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("raised_at", moment, nullable=False),
        sa.Column("last_seen_at", moment, nullable=False),
        sa.Column("resolved_at", moment, nullable=True),
        sa.Column("acknowledged_at", moment, nullable=True),
        sa.Column("acknowledged_by_id", _ID, nullable=True),
        sa.Column("acknowledge_reason", sa.Text(), nullable=True),
        sa.Column("snoozed_until", moment, nullable=True),
        sa.Column("snoozed_by_id", _ID, nullable=True),
        sa.Column("snooze_reason", sa.Text(), nullable=True),
        *_subject_keys(with_foreign_keys),
        sa.ForeignKeyConstraint(
            ["acknowledged_by_id"],
            ["user.id"],
            name=op.f("fk_gap_signal_acknowledged_by_id_user"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["snoozed_by_id"], ["user.id"], name=op.f("fk_gap_signal_snoozed_by_id_user"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gap_signal")),
    )
    op.execute(_COPY)
    op.drop_index("uq_gap_signal_open_kind_subject", table_name="gap_signal")
    for name, _ in _INDEXES:
        op.drop_index(name, table_name="gap_signal")
    op.drop_table("gap_signal")
    op.rename_table("gap_signal_rebuilt", "gap_signal")
    op.create_index(
        "uq_gap_signal_open_kind_subject",
        "gap_signal",
        ["kind", "subject_key"],
        unique=True,
        sqlite_where=sa.text("resolved_at IS NULL"),
    )
    for name, columns in _INDEXES:
        op.create_index(name, "gap_signal", columns)


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    _rebuild(with_foreign_keys=False)
    for statement in _TRIGGERS.values():
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for name in _TRIGGERS:
        op.execute(f"DROP TRIGGER {name}")
    _rebuild(with_foreign_keys=True)
