"""Revenue intelligence: metric snapshots, gap signals and their acknowledgements.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 00:00:00
"""

from collections.abc import Sequence

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Placeholder: the intelligence domain's tables are added here when its models land.
    pass


def downgrade() -> None:
    pass
