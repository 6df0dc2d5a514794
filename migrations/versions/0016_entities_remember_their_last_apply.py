"""entities remember their last apply (a digest of caller and manifest, and until when a repeat of it is a
replay): the version create that allocates the number also detects a replay, in one statement

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mlregistry.orm.base

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = mlregistry.orm.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("entities", schema=None) as batch_op:
        batch_op.add_column(sa.Column("replay_digest", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("replay_until", UTC, nullable=True))


def downgrade() -> None:
    # Not batch mode: on SQLite it would copy `entities` and drop the original, and dropping a table deletes
    # its rows first, which cascades to every version. Both databases drop a plain column in place.
    op.execute("ALTER TABLE entities DROP COLUMN replay_until")
    op.execute("ALTER TABLE entities DROP COLUMN replay_digest")
