"""Deal execution: sales processes, qualification, stakeholders, action plans, account plans, handoffs.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bridgehead.common.types

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "qualification_framework",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qualification_framework")),
        sa.UniqueConstraint("key", name=op.f("uq_qualification_framework_key")),
    )
    op.create_table(
        "qualification_dimension",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("framework_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("guidance", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["framework_id"],
            ["qualification_framework.id"],
            name=op.f("fk_qualification_dimension_framework_id_qualification_framework"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qualification_dimension")),
        sa.UniqueConstraint("framework_id", "key", name=op.f("uq_qualification_dimension_framework_id_key")),
    )
    op.create_table(
        "sales_process",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("framework_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("opportunity_types", sa.JSON(), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("updated_at", bridgehead.common.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["framework_id"],
            ["qualification_framework.id"],
            name=op.f("fk_sales_process_framework_id_qualification_framework"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sales_process")),
        sa.UniqueConstraint("key", name=op.f("uq_sales_process_key")),
    )
    op.create_table(
        "process_stage",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("process_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("buyer_milestone", sa.Text(), nullable=False),
        sa.Column("exit_criteria", sa.JSON(), nullable=False),
        sa.Column("required_fields", sa.JSON(), nullable=False),
        sa.Column("required_dimensions", sa.JSON(), nullable=False),
        sa.Column(
            "minimum_status",
            sa.Enum(
                "unknown",
                "identified",
                "validated",
                name="qualification_status",
                native_enum=False,
                create_constraint=True,
                length=30,
            ),
            nullable=False,
        ),
        sa.Column("min_engaged_stakeholders", sa.Integer(), nullable=False),
        sa.Column("requires_economic_buyer", sa.Boolean(), nullable=False),
        sa.Column("probability", sa.Integer(), nullable=False),
        sa.Column("is_closed", sa.Boolean(), nullable=False),
        sa.Column("is_won", sa.Boolean(), nullable=False),
        sa.Column("crm_stage_names", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["process_id"],
            ["sales_process.id"],
            name=op.f("fk_process_stage_process_id_sales_process"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_process_stage")),
        sa.UniqueConstraint("process_id", "name", name=op.f("uq_process_stage_process_id_name")),
        sa.UniqueConstraint("process_id", "position", name=op.f("uq_process_stage_process_id_position")),
    )
    op.create_table(
        "account_plan",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("business_units", sa.JSON(), nullable=False),
        sa.Column("created_at", bridgehead.common.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", bridgehead.common.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
            name=op.f("fk_account_plan_account_id_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_plan")),
        sa.UniqueConstraint("account_id", name=op.f("uq_account_plan_account_id")),
    )
    op.create_table(
        "account_plan_item",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("plan_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "objective",
                "strength",
                "weakness",
                "opportunity",
                "threat",
                "relationship_goal",
                name="account_plan_item_kind",
                native_enum=False,
                create_constraint=True,
                length=30,
            ),
            nullable=False,
        ),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("priority_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("task_owner_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("task_due_date", sa.Date(), nullable=True),
        sa.Column("done", sa.Boolean(), nullable=False),
        sa.Column("created_at", bridgehead.common.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["account_plan.id"],
            name=op.f("fk_account_plan_item_plan_id_account_plan"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["priority_id"],
            ["priority.id"],
            name=op.f("fk_account_plan_item_priority_id_priority"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["task_owner_id"],
            ["user.id"],
            name=op.f("fk_account_plan_item_task_owner_id_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_plan_item")),
    )
    op.create_index(op.f("ix_account_plan_item_plan_id"), "account_plan_item", ["plan_id"], unique=False)
    op.create_table(
        "action_plan",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("opportunity_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("created_by_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("created_at", bridgehead.common.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["user.id"],
            name=op.f("fk_action_plan_created_by_id_user"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["opportunity_id"],
            ["opportunity.id"],
            name=op.f("fk_action_plan_opportunity_id_opportunity"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_action_plan")),
        sa.UniqueConstraint("opportunity_id", name=op.f("uq_action_plan_opportunity_id")),
    )
    op.create_table(
        "exit_criterion_check",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("opportunity_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("stage_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("criterion_index", sa.Integer(), nullable=False),
        sa.Column("checked_by_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("checked_at", bridgehead.common.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["checked_by_id"],
            ["user.id"],
            name=op.f("fk_exit_criterion_check_checked_by_id_user"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["opportunity_id"],
            ["opportunity.id"],
            name=op.f("fk_exit_criterion_check_opportunity_id_opportunity"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["stage_id"],
            ["process_stage.id"],
            name=op.f("fk_exit_criterion_check_stage_id_process_stage"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exit_criterion_check")),
        sa.UniqueConstraint(
            "opportunity_id",
            "stage_id",
            "criterion_index",
            name=op.f("uq_exit_criterion_check_opportunity_id_stage_id_criterion_index"),
        ),
    )
    op.create_index(
        op.f("ix_exit_criterion_check_stage_id"), "exit_criterion_check", ["stage_id"], unique=False
    )
    op.create_table(
        "handoff",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("opportunity_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("created_by_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("recipient_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("commitments", sa.JSON(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "accepted",
                name="handoff_status",
                native_enum=False,
                create_constraint=True,
                length=30,
            ),
            nullable=False,
        ),
        sa.Column("accepted_by_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("accepted_at", bridgehead.common.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", bridgehead.common.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["accepted_by_id"], ["user.id"], name=op.f("fk_handoff_accepted_by_id_user"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["user.id"], name=op.f("fk_handoff_created_by_id_user"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["opportunity_id"],
            ["opportunity.id"],
            name=op.f("fk_handoff_opportunity_id_opportunity"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["recipient_id"], ["user.id"], name=op.f("fk_handoff_recipient_id_user"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_handoff")),
        sa.UniqueConstraint("opportunity_id", name=op.f("uq_handoff_opportunity_id")),
    )
    op.create_index(op.f("ix_handoff_recipient_id"), "handoff", ["recipient_id"], unique=False)
    op.create_table(
        "qualification_entry",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("opportunity_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("dimension_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "unknown",
                "identified",
                "validated",
                name="qualification_status",
                native_enum=False,
                create_constraint=True,
                length=30,
            ),
            nullable=False,
        ),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("updated_by_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("updated_at", bridgehead.common.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(
            ["dimension_id"],
            ["qualification_dimension.id"],
            name=op.f("fk_qualification_entry_dimension_id_qualification_dimension"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["opportunity_id"],
            ["opportunity.id"],
            name=op.f("fk_qualification_entry_opportunity_id_opportunity"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["updated_by_id"],
            ["user.id"],
            name=op.f("fk_qualification_entry_updated_by_id_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qualification_entry")),
        sa.UniqueConstraint(
            "opportunity_id", "dimension_id", name=op.f("uq_qualification_entry_opportunity_id_dimension_id")
        ),
    )
    op.create_index(
        op.f("ix_qualification_entry_dimension_id"), "qualification_entry", ["dimension_id"], unique=False
    )
    op.create_table(
        "stage_compliance_flag",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("opportunity_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("stage_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("message", sa.String(length=300), nullable=False),
        sa.Column("detected_at", bridgehead.common.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["opportunity_id"],
            ["opportunity.id"],
            name=op.f("fk_stage_compliance_flag_opportunity_id_opportunity"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["stage_id"],
            ["process_stage.id"],
            name=op.f("fk_stage_compliance_flag_stage_id_process_stage"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stage_compliance_flag")),
    )
    op.create_index(
        "ix_stage_compliance_flag_opportunity_id", "stage_compliance_flag", ["opportunity_id"], unique=False
    )
    op.create_index(
        op.f("ix_stage_compliance_flag_stage_id"), "stage_compliance_flag", ["stage_id"], unique=False
    )
    op.create_table(
        "stage_override",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("opportunity_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("from_stage", sa.String(length=80), nullable=False),
        sa.Column("to_stage", sa.String(length=80), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("missing", sa.JSON(), nullable=False),
        sa.Column("actor_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("created_at", bridgehead.common.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["user.id"], name=op.f("fk_stage_override_actor_id_user"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["opportunity_id"],
            ["opportunity.id"],
            name=op.f("fk_stage_override_opportunity_id_opportunity"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stage_override")),
    )
    op.create_index(
        op.f("ix_stage_override_opportunity_id"), "stage_override", ["opportunity_id"], unique=False
    )
    op.create_table(
        "stakeholder",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("opportunity_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("contact_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "economic_buyer",
                "champion",
                "coach",
                "technical_evaluator",
                "influencer",
                "user",
                "blocker",
                "procurement",
                name="stakeholder_role",
                native_enum=False,
                create_constraint=True,
                length=30,
            ),
            nullable=False,
        ),
        sa.Column(
            "stance",
            sa.Enum(
                "supporter",
                "neutral",
                "opponent",
                name="stakeholder_stance",
                native_enum=False,
                create_constraint=True,
                length=30,
            ),
            nullable=False,
        ),
        sa.Column(
            "influence",
            sa.Enum(
                "high",
                "medium",
                "low",
                name="stakeholder_influence",
                native_enum=False,
                create_constraint=True,
                length=30,
            ),
            nullable=False,
        ),
        sa.Column(
            "reports_to_contact_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("plan", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("created_at", bridgehead.common.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", bridgehead.common.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contact.id"], name=op.f("fk_stakeholder_contact_id_contact"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["opportunity_id"],
            ["opportunity.id"],
            name=op.f("fk_stakeholder_opportunity_id_opportunity"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reports_to_contact_id"],
            ["contact.id"],
            name=op.f("fk_stakeholder_reports_to_contact_id_contact"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stakeholder")),
        sa.UniqueConstraint(
            "opportunity_id", "contact_id", name=op.f("uq_stakeholder_opportunity_id_contact_id")
        ),
    )
    op.create_index(op.f("ix_stakeholder_contact_id"), "stakeholder", ["contact_id"], unique=False)
    op.create_table(
        "white_space_cell",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("plan_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("product", sa.String(length=120), nullable=False),
        sa.Column("business_unit", sa.String(length=120), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "owned",
                "target",
                "open",
                "no_fit",
                name="white_space_status",
                native_enum=False,
                create_constraint=True,
                length=30,
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["account_plan.id"],
            name=op.f("fk_white_space_cell_plan_id_account_plan"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_white_space_cell")),
        sa.UniqueConstraint(
            "plan_id",
            "product",
            "business_unit",
            name=op.f("uq_white_space_cell_plan_id_product_business_unit"),
        ),
    )
    op.create_table(
        "action_step",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("plan_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("buyer_owner", sa.String(length=200), nullable=False),
        sa.Column("seller_owner_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("milestone", sa.String(length=200), nullable=False),
        sa.Column("completed_at", bridgehead.common.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", bridgehead.common.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["action_plan.id"],
            name=op.f("fk_action_step_plan_id_action_plan"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["seller_owner_id"],
            ["user.id"],
            name=op.f("fk_action_step_seller_owner_id_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_action_step")),
    )
    op.create_index("ix_action_step_plan_id_due_date", "action_step", ["plan_id", "due_date"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_action_step_plan_id_due_date", table_name="action_step")
    op.drop_table("action_step")
    op.drop_table("white_space_cell")
    op.drop_index(op.f("ix_stakeholder_contact_id"), table_name="stakeholder")
    op.drop_table("stakeholder")
    op.drop_index(op.f("ix_stage_override_opportunity_id"), table_name="stage_override")
    op.drop_table("stage_override")
    op.drop_index(op.f("ix_stage_compliance_flag_stage_id"), table_name="stage_compliance_flag")
    op.drop_index("ix_stage_compliance_flag_opportunity_id", table_name="stage_compliance_flag")
    op.drop_table("stage_compliance_flag")
    op.drop_index(op.f("ix_qualification_entry_dimension_id"), table_name="qualification_entry")
    op.drop_table("qualification_entry")
    op.drop_index(op.f("ix_handoff_recipient_id"), table_name="handoff")
    op.drop_table("handoff")
    op.drop_index(op.f("ix_exit_criterion_check_stage_id"), table_name="exit_criterion_check")
    op.drop_table("exit_criterion_check")
    op.drop_table("action_plan")
    op.drop_index(op.f("ix_account_plan_item_plan_id"), table_name="account_plan_item")
    op.drop_table("account_plan_item")
    op.drop_table("account_plan")
    op.drop_table("process_stage")
    op.drop_table("sales_process")
    op.drop_table("qualification_dimension")
    op.drop_table("qualification_framework")
