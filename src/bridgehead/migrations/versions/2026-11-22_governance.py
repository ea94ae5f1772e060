"""Initiative governance: initiatives, milestones, KPIs, gate history, approvals, value confirmation.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bridgehead.common.types

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "initiative",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("priority_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("segment_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("owner_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("sponsor_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("controller_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "stage",
            sa.Enum(
                "identified",
                "detailed",
                "decided",
                "implemented",
                "closed",
                "cancelled",
                name="initiative_stage",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column(
            "value_kind",
            sa.Enum(
                "revenue_uplift",
                "cost_saving",
                name="value_kind",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=True,
        ),
        sa.Column("expected_value_amount", bridgehead.common.types.MoneyAmount(), nullable=True),
        sa.Column("cost_amount", bridgehead.common.types.MoneyAmount(), nullable=True),
        sa.Column("business_case", sa.Text(), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=True),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("next_gate_due_date", sa.Date(), nullable=True),
        sa.Column("cancellation_reason", sa.Text(), nullable=True),
        sa.Column(
            "cancelled_from_stage",
            sa.Enum(
                "identified",
                "detailed",
                "decided",
                "implemented",
                "closed",
                "cancelled",
                name="cancelled_from_stage",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=True,
        ),
        sa.Column("cancelled_at", bridgehead.common.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reopened_at", bridgehead.common.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("stage_changed_at", bridgehead.common.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("created_at", bridgehead.common.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", bridgehead.common.types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "cost_amount IS NULL OR cost_amount >= 0", name=op.f("ck_initiative_cost_not_negative")
        ),
        sa.CheckConstraint(
            "expected_value_amount IS NULL OR expected_value_amount >= 0",
            name=op.f("ck_initiative_expected_value_not_negative"),
        ),
        sa.CheckConstraint(
            "start_date IS NULL OR end_date IS NULL OR start_date < end_date",
            name=op.f("ck_initiative_window_in_order"),
        ),
        sa.ForeignKeyConstraint(
            ["controller_id"], ["user.id"], name=op.f("fk_initiative_controller_id_user"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["user.id"], name=op.f("fk_initiative_created_by_id_user"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["user.id"], name=op.f("fk_initiative_owner_id_user"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["priority_id"],
            ["priority.id"],
            name=op.f("fk_initiative_priority_id_priority"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["segment_id"], ["segment.id"], name=op.f("fk_initiative_segment_id_segment"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["sponsor_id"], ["user.id"], name=op.f("fk_initiative_sponsor_id_user"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_initiative")),
    )
    op.create_index(op.f("ix_initiative_owner_id"), "initiative", ["owner_id"], unique=False)
    op.create_index(op.f("ix_initiative_priority_id"), "initiative", ["priority_id"], unique=False)
    op.create_index("ix_initiative_stage_priority_id", "initiative", ["stage", "priority_id"], unique=False)
    op.create_table(
        "initiative_approval",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("initiative_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "gate",
            sa.Enum(
                "decided",
                "reopen",
                name="approval_gate",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column(
            "decision",
            sa.Enum(
                "approved",
                "rejected",
                name="approval_decision",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("approver_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "approver_role",
            sa.Enum(
                "admin",
                "executive",
                "planner",
                "manager",
                "rep",
                "controller",
                name="role",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("as_sponsor", sa.Boolean(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("decided_at", bridgehead.common.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["approver_id"],
            ["user.id"],
            name=op.f("fk_initiative_approval_approver_id_user"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["initiative_id"],
            ["initiative.id"],
            name=op.f("fk_initiative_approval_initiative_id_initiative"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_initiative_approval")),
    )
    op.create_index(
        "ix_initiative_approval_initiative_id_decided_at",
        "initiative_approval",
        ["initiative_id", "decided_at"],
        unique=False,
    )
    op.create_table(
        "initiative_gate_transition",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("initiative_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "from_stage",
            sa.Enum(
                "identified",
                "detailed",
                "decided",
                "implemented",
                "closed",
                "cancelled",
                name="transition_from_stage",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=True,
        ),
        sa.Column(
            "to_stage",
            sa.Enum(
                "identified",
                "detailed",
                "decided",
                "implemented",
                "closed",
                "cancelled",
                name="transition_to_stage",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("actor_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("occurred_at", bridgehead.common.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["user.id"],
            name=op.f("fk_initiative_gate_transition_actor_id_user"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["initiative_id"],
            ["initiative.id"],
            name=op.f("fk_initiative_gate_transition_initiative_id_initiative"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_initiative_gate_transition")),
    )
    op.create_index(
        "ix_initiative_gate_transition_initiative_id_occurred_at",
        "initiative_gate_transition",
        ["initiative_id", "occurred_at"],
        unique=False,
    )
    op.create_table(
        "initiative_kpi",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("initiative_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("unit", sa.String(length=30), nullable=False),
        sa.Column("baseline_value", sa.Numeric(precision=20, scale=4), nullable=False),
        sa.Column("target_value", sa.Numeric(precision=20, scale=4), nullable=False),
        sa.Column("current_value", sa.Numeric(precision=20, scale=4), nullable=True),
        sa.ForeignKeyConstraint(
            ["initiative_id"],
            ["initiative.id"],
            name=op.f("fk_initiative_kpi_initiative_id_initiative"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_initiative_kpi")),
    )
    op.create_index(
        op.f("ix_initiative_kpi_initiative_id"), "initiative_kpi", ["initiative_id"], unique=False
    )
    op.create_table(
        "initiative_milestone",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("initiative_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=True),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("done_at", bridgehead.common.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("done_by_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("created_at", bridgehead.common.types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "start_date IS NULL OR start_date <= due_date",
            name=op.f("ck_initiative_milestone_dates_in_order"),
        ),
        sa.ForeignKeyConstraint(
            ["done_by_id"],
            ["user.id"],
            name=op.f("fk_initiative_milestone_done_by_id_user"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["initiative_id"],
            ["initiative.id"],
            name=op.f("fk_initiative_milestone_initiative_id_initiative"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_initiative_milestone")),
    )
    op.create_index(
        "ix_initiative_milestone_initiative_id_due_date",
        "initiative_milestone",
        ["initiative_id", "due_date"],
        unique=False,
    )
    op.create_table(
        "initiative_value_confirmation",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("initiative_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("controller_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("realised_value_amount", bridgehead.common.types.MoneyAmount(), nullable=False),
        sa.Column("measured_value_amount", bridgehead.common.types.MoneyAmount(), nullable=True),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("confirmed_at", bridgehead.common.types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "realised_value_amount >= 0",
            name=op.f("ck_initiative_value_confirmation_realised_value_not_negative"),
        ),
        sa.ForeignKeyConstraint(
            ["controller_id"],
            ["user.id"],
            name=op.f("fk_initiative_value_confirmation_controller_id_user"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["initiative_id"],
            ["initiative.id"],
            name=op.f("fk_initiative_value_confirmation_initiative_id_initiative"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_initiative_value_confirmation")),
    )
    op.create_index(
        op.f("ix_initiative_value_confirmation_initiative_id"),
        "initiative_value_confirmation",
        ["initiative_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_initiative_value_confirmation_initiative_id"), table_name="initiative_value_confirmation"
    )
    op.drop_table("initiative_value_confirmation")
    op.drop_index("ix_initiative_milestone_initiative_id_due_date", table_name="initiative_milestone")
    op.drop_table("initiative_milestone")
    op.drop_index(op.f("ix_initiative_kpi_initiative_id"), table_name="initiative_kpi")
    op.drop_table("initiative_kpi")
    op.drop_index(
        "ix_initiative_gate_transition_initiative_id_occurred_at", table_name="initiative_gate_transition"
    )
    op.drop_table("initiative_gate_transition")
    op.drop_index("ix_initiative_approval_initiative_id_decided_at", table_name="initiative_approval")
    op.drop_table("initiative_approval")
    op.drop_index("ix_initiative_stage_priority_id", table_name="initiative")
    op.drop_index(op.f("ix_initiative_priority_id"), table_name="initiative")
    op.drop_index(op.f("ix_initiative_owner_id"), table_name="initiative")
    op.drop_table("initiative")
