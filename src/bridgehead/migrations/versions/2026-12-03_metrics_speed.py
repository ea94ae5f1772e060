"""Metrics speed (issue 7): covering indexes the metrics engine reads instead of table rows.

Each replaces an index of the same leading columns, so imports maintain no more indexes than before
(one fewer on activity):

* opportunity (owner_id, close_date) becomes (owner_id, is_closed, close_date, is_won, amount,
  probability, created_at, stage): per owner, the deals closed in a period (and their cycle
  histogram) are one seek, the open deals one contiguous run, and the table is never visited;
* opportunity (created_at) becomes (created_at, owner_id, amount): pipeline created per owner from
  the index (the list pages still sort by it);
* opportunity (stage) becomes (stage, is_closed, is_won, probability, product): the stage ladder
  without a sort, and the product filter's choices from a narrow index instead of the table;
* activity (owner_id, occurred_at) and (occurred_at, owner_id, kind) become (owner_id, occurred_at,
  kind): activity volumes per owner and kind from the index.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 00:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OWNER_METRICS = [
    "owner_id",
    "is_closed",
    "close_date",
    "is_won",
    "amount",
    "probability",
    "created_at",
    "stage",
]
STAGE_OUTCOME = ["stage", "is_closed", "is_won", "probability", "product"]


def upgrade() -> None:
    op.drop_index("ix_opportunity_owner_id_close_date", table_name="opportunity")
    op.create_index("ix_opportunity_owner_metrics", "opportunity", OWNER_METRICS)
    op.drop_index("ix_opportunity_stage", table_name="opportunity")
    op.create_index("ix_opportunity_stage_outcome", "opportunity", STAGE_OUTCOME)
    op.drop_index("ix_opportunity_created_at", table_name="opportunity")
    op.create_index(
        "ix_opportunity_created_at_owner_id_amount", "opportunity", ["created_at", "owner_id", "amount"]
    )
    op.drop_index("ix_activity_owner_id_occurred_at", table_name="activity")
    op.drop_index("ix_activity_occurred_at_owner_id_kind", table_name="activity")
    op.create_index("ix_activity_owner_id_occurred_at_kind", "activity", ["owner_id", "occurred_at", "kind"])


def downgrade() -> None:
    op.drop_index("ix_activity_owner_id_occurred_at_kind", table_name="activity")
    op.create_index("ix_activity_occurred_at_owner_id_kind", "activity", ["occurred_at", "owner_id", "kind"])
    op.create_index("ix_activity_owner_id_occurred_at", "activity", ["owner_id", "occurred_at"])
    op.drop_index("ix_opportunity_created_at_owner_id_amount", table_name="opportunity")
    op.create_index("ix_opportunity_created_at", "opportunity", ["created_at"])
    op.drop_index("ix_opportunity_stage_outcome", table_name="opportunity")
    op.create_index("ix_opportunity_stage", "opportunity", ["stage"])
    op.drop_index("ix_opportunity_owner_metrics", table_name="opportunity")
    op.create_index("ix_opportunity_owner_id_close_date", "opportunity", ["owner_id", "close_date"])
