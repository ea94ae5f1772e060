"""Insights speed (issue 7): indexes on the deal's product and the history's stage; a covering signal index.

* The product filter offers every product a viewer's deals carry; with this index the choices are
  read one seek per product instead of reading every deal (``common.sql.distinct_by_seeks``).
* gap_signal (owner_id, resolved_at) becomes (owner_id, resolved_at, raised_at, opportunity_id):
  agility (raised-to-resolved time of the deal signals resolved in a period) reads each owner's
  range of the index alone instead of every signal ever raised. As many indexes as before.
* opportunity_history (stage, probability): the stages deals passed through (the funnel's and the
  waterfall's ladder) one seek per stage instead of reading all history.
* activity (contact_id) becomes (contact_id, occurred_at): "the contact was active since" (an
  engaged stakeholder, in stage compliance and the single-threaded detector) is one seek instead of
  reading every activity of the contact. As many indexes as before.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 20:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_opportunity_product", "opportunity", ["product"])
    op.create_index(
        "ix_opportunity_history_stage_probability", "opportunity_history", ["stage", "probability"]
    )
    op.drop_index("ix_activity_contact_id", table_name="activity")
    op.create_index("ix_activity_contact_id_occurred_at", "activity", ["contact_id", "occurred_at"])
    op.drop_index("ix_gap_signal_owner_id_resolved_at", table_name="gap_signal")
    op.create_index(
        "ix_gap_signal_owner_id_resolved_at",
        "gap_signal",
        ["owner_id", "resolved_at", "raised_at", "opportunity_id"],
    )


def downgrade() -> None:
    op.drop_index("ix_activity_contact_id_occurred_at", table_name="activity")
    op.create_index("ix_activity_contact_id", "activity", ["contact_id"])
    op.drop_index("ix_gap_signal_owner_id_resolved_at", table_name="gap_signal")
    op.create_index("ix_gap_signal_owner_id_resolved_at", "gap_signal", ["owner_id", "resolved_at"])
    op.drop_index("ix_opportunity_history_stage_probability", table_name="opportunity_history")
    op.drop_index("ix_opportunity_product", table_name="opportunity")
