"""The three-gap board (issue 7): the plan figures the board compares effort and outcomes with.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bridgehead.common.types

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "priority_plan",
        sa.Column("priority_id", _ID, nullable=False),
        sa.Column("planned_share_percent", sa.Numeric(precision=5, scale=2), nullable=True),
        sa.Column("assumed_win_rate_percent", sa.Numeric(precision=5, scale=2), nullable=True),
        sa.Column("assumed_cycle_days", sa.Integer(), nullable=True),
        sa.Column("updated_by_id", _ID, nullable=True),
        sa.Column("updated_at", bridgehead.common.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["priority_id"],
            ["priority.id"],
            name=op.f("fk_priority_plan_priority_id_priority"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["updated_by_id"],
            ["user.id"],
            name=op.f("fk_priority_plan_updated_by_id_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("priority_id", name=op.f("pk_priority_plan")),
    )


def downgrade() -> None:
    op.drop_table("priority_plan")
