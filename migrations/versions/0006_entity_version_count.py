"""entities keep a count of their finalized versions

Revision ID: 0006
Revises: 0001
Create Date: 2026-11-26 13:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("entities", schema=None) as batch_op:
        batch_op.add_column(sa.Column("version_count", sa.Integer(), server_default="0", nullable=False))
    op.execute(
        "UPDATE entities SET version_count = (SELECT count(*) FROM entity_versions "
        "WHERE entity_versions.entity_id = entities.id AND entity_versions.state = 'FINALIZED')"
    )


def downgrade() -> None:
    with op.batch_alter_table("entities", schema=None) as batch_op:
        batch_op.drop_column("version_count")
