"""Planning's quota sheet (issue 3's quota export, issue 7's quota attainment): one row per person,
basis and period, with its ramp and the segment it serves.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bridgehead.common.types

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "quota",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("owner_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "basis",
            sa.Enum(
                "bookings",
                "pipeline_created",
                name="quota_basis",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("period_start_date", sa.Date(), nullable=False),
        sa.Column("period_end_date", sa.Date(), nullable=False),
        sa.Column("quota_amount", bridgehead.common.types.MoneyAmount(), nullable=False),
        sa.Column("ramp_percent", sa.Integer(), nullable=False),
        sa.Column("segment_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("external_id", sa.String(length=64), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("updated_by_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("created_at", bridgehead.common.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", bridgehead.common.types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("period_end_date > period_start_date", name=op.f("ck_quota_period_order")),
        sa.CheckConstraint("quota_amount >= 0", name=op.f("ck_quota_amount_not_negative")),
        sa.CheckConstraint("ramp_percent >= 0 AND ramp_percent <= 100", name=op.f("ck_quota_ramp_range")),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["user.id"], name=op.f("fk_quota_owner_id_user"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["segment_id"], ["segment.id"], name=op.f("fk_quota_segment_id_segment"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["updated_by_id"], ["user.id"], name=op.f("fk_quota_updated_by_id_user"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quota")),
        sa.UniqueConstraint("external_id", name=op.f("uq_quota_external_id")),
        sa.UniqueConstraint(
            "owner_id", "basis", "period_start_date", name=op.f("uq_quota_owner_id_basis_period_start_date")
        ),
    )
    with op.batch_alter_table("quota", schema=None) as batch_op:
        batch_op.create_index(
            "ix_quota_period_start_date_period_end_date",
            ["period_start_date", "period_end_date"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_quota_segment_id"), ["segment_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("quota", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_quota_segment_id"))
        batch_op.drop_index("ix_quota_period_start_date_period_end_date")

    op.drop_table("quota")
