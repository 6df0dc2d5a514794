"""version list indexes end with the id, the tie-break of the list order

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 14:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REPO_INDEX = "ix_entity_versions_repo_family_state_created"
FAMILY_INDEX = "ix_entity_versions_family_state_created"


def _recreate(with_id: bool) -> None:
    tail = ["created_at", "id"] if with_id else ["created_at"]
    with op.batch_alter_table("entity_versions", schema=None) as batch_op:
        batch_op.drop_index(REPO_INDEX)
        batch_op.drop_index(FAMILY_INDEX)
        batch_op.create_index(REPO_INDEX, ["ml_repo_id", "family", "state", *tail], unique=False)
        batch_op.create_index(FAMILY_INDEX, ["family", "state", *tail], unique=False)


def upgrade() -> None:
    _recreate(with_id=True)


def downgrade() -> None:
    _recreate(with_id=False)
