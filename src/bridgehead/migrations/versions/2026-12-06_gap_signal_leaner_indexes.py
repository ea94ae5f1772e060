"""Gap scan (issue 7): leaner signal indexes, built faster by a first full scan.

A first full scan writes every signal (1,405,891 at 1,000,000 deals) and then builds the signal
table's indexes from the finished table; this migration makes those indexes smaller:

- the owner index (owner, resolved_at, raised_at, deal) served both the inbox and agility. It is
  now two partial indexes: the open signals by owner and money at risk (the inbox's order), and
  the resolved ones, covering, for agility. A first scan resolves nothing, so the second is empty;
- a deal's signal no longer stores its deal's account (the inbox reaches the account through the
  deal), so the account index holds the account subjects only;
- on PostgreSQL the subject key compares byte by byte (COLLATE "C"): a machine key, and the
  unique index over it sorted with the locale's rules took about 0.6 s longer to build.

Same data, same hour: a first scan took about 1 s less on SQLite (11.9 → 10.6-11.0 s) and on
PostgreSQL about 1.7 s less (13.8-14.2 → 12.2-12.4 s).

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-06 03:00:00
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _where(condition: str) -> dict[str, Any]:
    """A partial index's condition, written for both databases."""
    return {"sqlite_where": sa.text(condition), "postgresql_where": sa.text(condition)}


def upgrade() -> None:
    """Split the owner index, keep the account index for account subjects, compare subject keys in C."""
    op.drop_index("ix_gap_signal_owner_id_resolved_at", table_name="gap_signal")
    op.drop_index("ix_gap_signal_account_id", table_name="gap_signal")
    op.execute("UPDATE gap_signal SET account_id = NULL WHERE opportunity_id IS NOT NULL")
    if op.get_bind().dialect.name == "postgresql":
        # Rebuilds the unique index over (kind, subject_key) in the new collation.
        op.execute('ALTER TABLE gap_signal ALTER COLUMN subject_key TYPE varchar(120) COLLATE "C"')
    op.create_index(
        "ix_gap_signal_owner_id_open",
        "gap_signal",
        ["owner_id", "amount_at_risk"],
        **_where("resolved_at IS NULL"),
    )
    op.create_index(
        "ix_gap_signal_owner_id_resolved_at",
        "gap_signal",
        ["owner_id", "resolved_at", "raised_at", "opportunity_id"],
        **_where("resolved_at IS NOT NULL"),
    )
    op.create_index(
        "ix_gap_signal_account_id", "gap_signal", ["account_id"], **_where("account_id IS NOT NULL")
    )


def downgrade() -> None:
    """The indexes of revision 0024, and each deal signal's account read from its deal again."""
    op.drop_index("ix_gap_signal_account_id", table_name="gap_signal")
    op.drop_index("ix_gap_signal_owner_id_resolved_at", table_name="gap_signal")
    op.drop_index("ix_gap_signal_owner_id_open", table_name="gap_signal")
    if op.get_bind().dialect.name == "postgresql":
        op.execute('ALTER TABLE gap_signal ALTER COLUMN subject_key TYPE varchar(120) COLLATE "default"')
    op.execute(
        "UPDATE gap_signal SET account_id = "
        "(SELECT opportunity.account_id FROM opportunity WHERE opportunity.id = gap_signal.opportunity_id) "
        "WHERE opportunity_id IS NOT NULL"
    )
    op.create_index(
        "ix_gap_signal_owner_id_resolved_at",
        "gap_signal",
        ["owner_id", "resolved_at", "raised_at", "opportunity_id"],
    )
    op.create_index("ix_gap_signal_account_id", "gap_signal", ["account_id"])
