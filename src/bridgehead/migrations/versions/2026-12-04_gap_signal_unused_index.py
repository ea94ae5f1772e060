"""Gap scan speed (issue 7): drop gap_signal's raised_at index, which no query uses.

No query filters or sorts signals by raised_at alone (the inbox orders by money at risk first;
agility reads raised_at from the covering owner index). Every signal paid for it: a first scan at
1,000,000 deals built it over 1.4 million rows (0.6-1.1 s), and every later insert updated it.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04 23:50:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_gap_signal_raised_at", table_name="gap_signal")


def downgrade() -> None:
    op.create_index("ix_gap_signal_raised_at", "gap_signal", ["raised_at"])
