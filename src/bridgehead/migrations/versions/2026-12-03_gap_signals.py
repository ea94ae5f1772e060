"""Execution gaps: the playbook's detector rules and the signals the detectors raise.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bridgehead.common.types

revision: str = "0008"
down_revision: str | None = "0007"
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


def _kind() -> sa.Enum:
    return sa.Enum(*_KINDS, name="gap_kind", native_enum=False, create_constraint=True, length=40)


def _severity() -> sa.Enum:
    return sa.Enum(*_SEVERITIES, name="gap_severity", native_enum=False, create_constraint=True, length=20)


def upgrade() -> None:
    op.create_table(
        "gap_rule",
        sa.Column("id", _ID, nullable=False),
        sa.Column("kind", _kind(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("severity", _severity(), nullable=False),
        sa.Column("thresholds", sa.JSON(), nullable=False),
        sa.Column("updated_by_id", _ID, nullable=True),
        sa.Column("updated_at", bridgehead.common.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["updated_by_id"], ["user.id"], name=op.f("fk_gap_rule_updated_by_id_user"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gap_rule")),
        sa.UniqueConstraint("kind", name=op.f("uq_gap_rule_kind")),
    )
    op.create_table(
        "gap_signal",
        sa.Column("id", _ID, nullable=False),
        sa.Column("kind", _kind(), nullable=False),
        sa.Column("severity", _severity(), nullable=False),
        sa.Column("subject_key", sa.String(length=120), nullable=False),
        sa.Column("opportunity_id", _ID, nullable=True),
        sa.Column("account_id", _ID, nullable=True),
        sa.Column("owner_id", _ID, nullable=True),
        sa.Column("amount_at_risk", bridgehead.common.types.MoneyAmount(), nullable=True),
        sa.Column("explanation", sa.String(length=500), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("raised_at", bridgehead.common.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", bridgehead.common.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", bridgehead.common.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_at", bridgehead.common.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by_id", _ID, nullable=True),
        sa.Column("acknowledge_reason", sa.Text(), nullable=True),
        sa.Column("snoozed_until", bridgehead.common.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("snoozed_by_id", _ID, nullable=True),
        sa.Column("snooze_reason", sa.Text(), nullable=True),
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
    op.create_index(
        "uq_gap_signal_open_kind_subject",
        "gap_signal",
        ["kind", "subject_key"],
        unique=True,
        sqlite_where=sa.text("resolved_at IS NULL"),
        postgresql_where=sa.text("resolved_at IS NULL"),
    )
    op.create_index("ix_gap_signal_owner_id_resolved_at", "gap_signal", ["owner_id", "resolved_at"])
    op.create_index("ix_gap_signal_opportunity_id", "gap_signal", ["opportunity_id"])
    op.create_index("ix_gap_signal_account_id", "gap_signal", ["account_id"])
    op.create_index("ix_gap_signal_raised_at", "gap_signal", ["raised_at"])


def downgrade() -> None:
    op.drop_index("ix_gap_signal_raised_at", table_name="gap_signal")
    op.drop_index("ix_gap_signal_account_id", table_name="gap_signal")
    op.drop_index("ix_gap_signal_opportunity_id", table_name="gap_signal")
    op.drop_index("ix_gap_signal_owner_id_resolved_at", table_name="gap_signal")
    op.drop_index("uq_gap_signal_open_kind_subject", table_name="gap_signal")
    op.drop_table("gap_signal")
    op.drop_table("gap_rule")
