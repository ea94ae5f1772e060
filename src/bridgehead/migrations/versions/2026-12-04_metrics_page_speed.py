"""Metrics page speed (issue 7): an index on the opportunity's product.

The product filter offers every product a viewer's deals carry; with this index the choices are
read one seek per product instead of reading every deal (``common.sql.distinct_by_seeks``).

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


def downgrade() -> None:
    op.drop_index("ix_opportunity_product", table_name="opportunity")
