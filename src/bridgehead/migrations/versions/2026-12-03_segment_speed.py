"""Segment evaluation speed (issue 4): segment_member without a rowid on SQLite.

A rowid table stores each membership three times (the rowid tree, the primary-key index and the
account index); without a rowid the primary key is the table. PostgreSQL has no rowid, so nothing
changes there.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEX = "ix_segment_member_account_id"


def _rebuild(with_rowid: bool) -> None:
    """Copy segment_member into a table of the wanted kind (SQLite cannot change it in place)."""
    if op.get_bind().dialect.name != "sqlite":
        return
    op.create_table(
        "segment_member_rebuilt",
        sa.Column("segment_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
            name=op.f("fk_segment_member_account_id_account"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["segment_id"],
            ["segment.id"],
            name=op.f("fk_segment_member_segment_id_segment"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("segment_id", "account_id", name=op.f("pk_segment_member")),
        sqlite_with_rowid=with_rowid,
    )
    op.execute(
        "INSERT INTO segment_member_rebuilt (segment_id, account_id) "
        "SELECT segment_id, account_id FROM segment_member ORDER BY segment_id, account_id"
    )
    op.drop_index(_INDEX, table_name="segment_member")
    op.drop_table("segment_member")
    op.rename_table("segment_member_rebuilt", "segment_member")
    op.create_index(_INDEX, "segment_member", ["account_id"], unique=False)


def upgrade() -> None:
    _rebuild(with_rowid=False)


def downgrade() -> None:
    _rebuild(with_rowid=True)
