"""Indexes for sorting opportunity lists by amount (all or open deals), name and creation time.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 08:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("opportunity", schema=None) as batch_op:
        batch_op.create_index("ix_opportunity_amount", ["amount"], unique=False)
        batch_op.create_index("ix_opportunity_created_at", ["created_at"], unique=False)
        batch_op.create_index("ix_opportunity_name", ["name"], unique=False)
        batch_op.create_index("ix_opportunity_is_closed_amount", ["is_closed", "amount"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("opportunity", schema=None) as batch_op:
        batch_op.drop_index("ix_opportunity_is_closed_amount")
        batch_op.drop_index("ix_opportunity_name")
        batch_op.drop_index("ix_opportunity_created_at")
        batch_op.drop_index("ix_opportunity_amount")
