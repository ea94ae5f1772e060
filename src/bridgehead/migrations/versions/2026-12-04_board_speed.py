"""Three-gap board speed (issue 7): two covering indexes replace narrower ones of the same lead.

* opportunity (account_id) becomes (account_id, is_won, close_date): the "existing business"
  condition (the account had a won deal closed before this deal was created) is one index seek per
  deal instead of reading every sibling deal's row; the foreign key is served as before;
* activity (owner_id, occurred_at, kind) becomes (owner_id, occurred_at, kind, opportunity_id):
  effort per owner and deal is read from the index alone.

Imports maintain as many indexes as before.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 00:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_opportunity_account_id", table_name="opportunity")
    op.create_index(
        "ix_opportunity_account_id_is_won_close_date", "opportunity", ["account_id", "is_won", "close_date"]
    )
    op.drop_index("ix_activity_owner_id_occurred_at_kind", table_name="activity")
    op.create_index(
        "ix_activity_owner_id_occurred_at_kind_deal",
        "activity",
        ["owner_id", "occurred_at", "kind", "opportunity_id"],
    )


def downgrade() -> None:
    op.drop_index("ix_activity_owner_id_occurred_at_kind_deal", table_name="activity")
    op.create_index("ix_activity_owner_id_occurred_at_kind", "activity", ["owner_id", "occurred_at", "kind"])
    op.drop_index("ix_opportunity_account_id_is_won_close_date", table_name="opportunity")
    op.create_index("ix_opportunity_account_id", "opportunity", ["account_id"])
