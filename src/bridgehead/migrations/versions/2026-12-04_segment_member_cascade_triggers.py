"""Segment evaluation speed (issue 4): on SQLite, segment_member's cascades become triggers.

SQLite checks a foreign key for every inserted row by opening the parent table and seeking the key;
a first evaluation of 20 segments over 1,000,000 accounts writes 3 million memberships and spent
1.7 of its 5.8 s on those checks, which SQLite cannot set aside inside a transaction. Memberships
are derived data written only by INSERT ... SELECT from the account and segment tables, so the
checks never find an orphan. On SQLite the table is rebuilt without its foreign keys and two
triggers delete an account's or a segment's memberships with it, as ON DELETE CASCADE did.
PostgreSQL keeps its foreign keys (its bulk load sets them aside and checks them set-wise).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04 23:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEX = "ix_segment_member_account_id"
_TRIGGERS = {
    "segment_member_account_deleted": (
        "CREATE TRIGGER segment_member_account_deleted AFTER DELETE ON account FOR EACH ROW "
        "BEGIN DELETE FROM segment_member WHERE account_id = OLD.id; END"
    ),
    "segment_member_segment_deleted": (
        "CREATE TRIGGER segment_member_segment_deleted AFTER DELETE ON segment FOR EACH ROW "
        "BEGIN DELETE FROM segment_member WHERE segment_id = OLD.id; END"
    ),
}


def _rebuild(with_foreign_keys: bool) -> None:
    """Copy segment_member into a table with or without its foreign keys (SQLite cannot drop them)."""
    foreign_keys = (
        [
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
        ]
        if with_foreign_keys
        else []
    )
    op.create_table(
        "segment_member_rebuilt",
        sa.Column("segment_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        *foreign_keys,
        sa.PrimaryKeyConstraint("segment_id", "account_id", name=op.f("pk_segment_member")),
        sqlite_with_rowid=False,
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
