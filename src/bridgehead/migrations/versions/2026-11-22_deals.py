"""Deal execution: sales processes, qualification, stakeholders, action plans, account plans, handoffs.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 00:00:00
"""

from collections.abc import Sequence

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Placeholder: the deals domain's tables are added here when its models land.
    pass


def downgrade() -> None:
    pass
