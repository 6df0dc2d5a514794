"""documents are stored as JSON, not JSONB, on Postgres: they come back byte for byte

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 14:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _convert(source: str, target: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return  # SQLite stores JSON as text already
    columns = bind.execute(
        sa.text(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND data_type = :source ORDER BY table_name, column_name"
        ),
        {"source": source},
    ).all()
    for table, column in columns:
        op.execute(f'ALTER TABLE "{table}" ALTER COLUMN "{column}" TYPE {target} USING "{column}"::{target}')


def upgrade() -> None:
    _convert("jsonb", "json")


def downgrade() -> None:
    _convert("json", "jsonb")
