"""version tags keep their version's repo, family and creation time: the tag filter walks one index in list order

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 17:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mlregistry.orm.base

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _from_version(tags: sa.TableClause, column: str) -> sa.ScalarSelect[object]:
    """The tagged version's `column`, correlated with the tag row being updated."""
    versions = sa.table("entity_versions", sa.column("id"), sa.column(column))
    return sa.select(versions.c[column]).where(versions.c.id == tags.c.version_id).correlate(tags).scalar_subquery()


def upgrade() -> None:
    with op.batch_alter_table("version_tags", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ml_repo_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("family", sa.String(length=32), nullable=True))
        batch_op.add_column(
            sa.Column("version_created_at", mlregistry.orm.base.UTCDateTime(timezone=True), nullable=True)
        )
    tags = sa.table(
        "version_tags",
        sa.column("version_id"),
        sa.column("ml_repo_id"),
        sa.column("family"),
        sa.column("version_created_at"),
    )
    op.execute(
        tags.update().values(
            ml_repo_id=_from_version(tags, "ml_repo_id"),
            family=_from_version(tags, "family"),
            version_created_at=_from_version(tags, "created_at"),
        )
    )
    with op.batch_alter_table("version_tags", schema=None) as batch_op:
        batch_op.create_index(
            "ix_version_tags_tag_order", ["tag", "family", "version_created_at", "version_id"], unique=False
        )
        batch_op.create_index(
            "ix_version_tags_repo_tag_order",
            ["ml_repo_id", "tag", "family", "version_created_at", "version_id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("version_tags", schema=None) as batch_op:
        batch_op.drop_index("ix_version_tags_repo_tag_order")
        batch_op.drop_index("ix_version_tags_tag_order")
        batch_op.drop_column("version_created_at")
        batch_op.drop_column("family")
        batch_op.drop_column("ml_repo_id")
