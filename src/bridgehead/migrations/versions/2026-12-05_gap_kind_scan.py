"""Re-scan speed (issue 7): when each gap kind was last scanned over every deal.

A full scan keeps the time once per kind instead of rewriting ``last_seen_at`` on every open
signal it finds again (see ``GapKindScan``). Existing signals keep their stamps; the table
starts empty.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-05 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bridgehead.common.types

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``gap_kind_scan``."""
    op.create_table(
        "gap_kind_scan",
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("full_scan_at", bridgehead.common.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("kind", name=op.f("pk_gap_kind_scan")),
    )


def downgrade() -> None:
    """Drop ``gap_kind_scan``."""
    op.drop_table("gap_kind_scan")
