"""one head after the parallel feature revisions

Revision ID: 0007
Revises: 0002, 0003, 0005, 0006
Create Date: 2026-11-26 13:40:21.627493
"""

from collections.abc import Sequence

revision: str = "0007"
down_revision: str | Sequence[str] | None = ("0002", "0003", "0005", "0006")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
