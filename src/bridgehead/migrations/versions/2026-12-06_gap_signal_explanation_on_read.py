"""Gap scan (issue 7): a signal's explanation is written from its evidence when it is read, not stored.

Every detector built its one-sentence explanation in SQL for every hit, and the signal stored it
beside the JSON evidence that holds the same facts: at 1,000,000 deals a first scan spent about
2 s building and writing 1.4 million sentences (about 90 bytes each) that are read a page at a
time. ``gaps.explain`` now writes the sentence from the kind and the evidence when a signal is
read (inbox, deal page, API, CSV, CLI), so the column goes. The evidence of every stored signal
already holds what its sentence said.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06 02:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Drop ``gap_signal.explanation`` (SQLite 3.35 and later drop a column in place)."""
    op.drop_column("gap_signal", "explanation")


def downgrade() -> None:
    """Add the column back, empty: older code shows a blank explanation until a signal is raised again."""
    op.add_column(
        "gap_signal", sa.Column("explanation", sa.String(length=500), nullable=False, server_default="")
    )
