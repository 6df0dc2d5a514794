"""run params and tags carry their run's repo, indexed (ml_repo_id, key, value[ prefix], run_id): a repo's
param or tag filter is one range of its own entries; a kept count of a repo's active runs per (tag key, value)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 07:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TAG_PREFIX = sa.text("substr(value, 1, 200)")  # mlregistry.orm.runs.tag_value_prefix
COUNTED_TAG_LENGTH = 200  # mlregistry.orm.runs.TAG_INDEXED_PREFIX


def _add_repo_column(table: str) -> None:
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.add_column(sa.Column("ml_repo_id", sa.Integer(), nullable=True))
    op.execute(f"UPDATE {table} SET ml_repo_id = (SELECT runs.ml_repo_id FROM runs WHERE runs.id = {table}.run_id)")
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.alter_column("ml_repo_id", existing_type=sa.Integer(), nullable=False)


def upgrade() -> None:
    op.drop_index("ix_run_params_key_value_run_id", table_name="run_params")
    _add_repo_column("run_params")
    op.create_index(
        "ix_run_params_repo_key_value_run_id", "run_params", ["ml_repo_id", "key", "value", "run_id"], unique=False
    )
    # The expression index goes first: SQLite's batch mode rebuilds the table and cannot carry it over.
    op.drop_index("ix_run_tags_key_value_prefix", table_name="run_tags")
    _add_repo_column("run_tags")
    op.create_index(
        "ix_run_tags_repo_key_value_prefix", "run_tags", ["ml_repo_id", "key", TAG_PREFIX, "run_id"], unique=False
    )

    op.create_table(
        "run_tag_counts",
        sa.Column("ml_repo_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("value", sa.String(length=COUNTED_TAG_LENGTH), nullable=False),
        sa.Column("runs", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["ml_repo_id"], ["ml_repos.id"], name=op.f("fk_run_tag_counts_ml_repo_id_ml_repos"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("ml_repo_id", "key", "value", name=op.f("pk_run_tag_counts")),
    )
    op.execute(
        "INSERT INTO run_tag_counts (ml_repo_id, key, value, runs) "
        "SELECT run_tags.ml_repo_id, run_tags.key, run_tags.value, count(*) FROM run_tags "
        "JOIN runs ON runs.id = run_tags.run_id "
        f"WHERE runs.lifecycle_stage = 'active' AND length(run_tags.value) < {COUNTED_TAG_LENGTH} "
        "GROUP BY run_tags.ml_repo_id, run_tags.key, run_tags.value"
    )


def downgrade() -> None:
    op.drop_table("run_tag_counts")
    op.drop_index("ix_run_tags_repo_key_value_prefix", table_name="run_tags")
    with op.batch_alter_table("run_tags", schema=None) as batch_op:
        batch_op.drop_column("ml_repo_id")
    op.create_index("ix_run_tags_key_value_prefix", "run_tags", ["key", TAG_PREFIX, "run_id"], unique=False)
    op.drop_index("ix_run_params_repo_key_value_run_id", table_name="run_params")
    with op.batch_alter_table("run_params", schema=None) as batch_op:
        batch_op.drop_column("ml_repo_id")
    op.create_index("ix_run_params_key_value_run_id", "run_params", ["key", "value", "run_id"], unique=False)
