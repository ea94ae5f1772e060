"""The three-gap board (issue 7): snapshots of what the board read, so the executive's landing page
answers from one indexed row per priority instead of reading every deal again.

At demo ``--scale 10`` (250,000 deals, 2 million activities) reading the company board's inputs
took 5.4-5.5 s on SQLite; the snapshot is refreshed after imports, by the page's Refresh, and when
it is older than ``BRIDGEHEAD_BOARD_SNAPSHOT_MINUTES``.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-06 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bridgehead.common.types

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "board_snapshot",
        sa.Column("id", _ID, nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("org_unit_id", _ID, nullable=False),
        sa.Column("priority_id", _ID, nullable=False),
        sa.Column("period", sa.String(length=20), nullable=False),
        sa.Column("computed_at", bridgehead.common.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("data_stamp", sa.BigInteger(), nullable=False),
        sa.Column("compute_seconds", sa.Float(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_unit_id"],
            ["org_unit.id"],
            name=op.f("fk_board_snapshot_org_unit_id_org_unit"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["priority_id"],
            ["priority.id"],
            name=op.f("fk_board_snapshot_priority_id_priority"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_board_snapshot")),
        sa.UniqueConstraint("key", name=op.f("uq_board_snapshot_key")),
    )
    op.create_index(op.f("ix_board_snapshot_org_unit_id"), "board_snapshot", ["org_unit_id"])
    op.create_index(op.f("ix_board_snapshot_priority_id"), "board_snapshot", ["priority_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_board_snapshot_priority_id"), table_name="board_snapshot")
    op.drop_index(op.f("ix_board_snapshot_org_unit_id"), table_name="board_snapshot")
    op.drop_table("board_snapshot")
