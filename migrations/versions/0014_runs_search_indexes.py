"""runs search indexes: latest metrics carry the run's repo, tags are indexed by (key, value prefix,
run_id), params by (key, value, run_id), a repo's runs by (lifecycle, start_time, id), metric history
by (run, key, step, timestamp, id); a kept count of each repo's active runs

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 17:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TAG_PREFIX = sa.text("substr(value, 1, 200)")  # mlregistry.orm.runs.tag_value_prefix


def upgrade() -> None:
    op.create_table(
        "run_counts",
        sa.Column("ml_repo_id", sa.Integer(), nullable=False),
        sa.Column("active", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["ml_repo_id"], ["ml_repos.id"], name=op.f("fk_run_counts_ml_repo_id_ml_repos"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("ml_repo_id", name=op.f("pk_run_counts")),
    )
    op.execute(
        "INSERT INTO run_counts (ml_repo_id, active) SELECT ml_repo_id, count(*) FROM runs "
        "WHERE lifecycle_stage = 'active' GROUP BY ml_repo_id"
    )
    with op.batch_alter_table("run_latest_metrics", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ml_repo_id", sa.Integer(), nullable=True))
    op.execute(
        "UPDATE run_latest_metrics SET ml_repo_id = "
        "(SELECT runs.ml_repo_id FROM runs WHERE runs.id = run_latest_metrics.run_id)"
    )
    with op.batch_alter_table("run_latest_metrics", schema=None) as batch_op:
        batch_op.alter_column("ml_repo_id", existing_type=sa.Integer(), nullable=False)
        batch_op.create_index(
            "ix_run_latest_metrics_repo_key_value", ["ml_repo_id", "key", "value", "run_id"], unique=False
        )

    op.drop_index("ix_run_tags_key", table_name="run_tags")
    op.create_index("ix_run_tags_key_value_prefix", "run_tags", ["key", TAG_PREFIX, "run_id"], unique=False)
    op.drop_index("ix_run_params_key_value", table_name="run_params")
    op.create_index("ix_run_params_key_value_run_id", "run_params", ["key", "value", "run_id"], unique=False)

    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_index("ix_runs_ml_repo_id_start_time")
        batch_op.create_index(
            "ix_runs_ml_repo_id_lifecycle_start_time_id",
            ["ml_repo_id", "lifecycle_stage", "start_time", "id"],
            unique=False,
        )

    op.drop_index("ix_run_metrics_run_id_key_step", table_name="run_metrics")
    op.create_index(
        "ix_run_metrics_run_id_key_step_id", "run_metrics", ["run_id", "key", "step", "timestamp", "id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_run_metrics_run_id_key_step_id", table_name="run_metrics")
    op.create_index(
        "ix_run_metrics_run_id_key_step", "run_metrics", ["run_id", "key", "step", "timestamp"], unique=False
    )
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_index("ix_runs_ml_repo_id_lifecycle_start_time_id")
        batch_op.create_index("ix_runs_ml_repo_id_start_time", ["ml_repo_id", "start_time"], unique=False)
    op.drop_index("ix_run_params_key_value_run_id", table_name="run_params")
    op.create_index("ix_run_params_key_value", "run_params", ["key", "value"], unique=False)
    op.drop_index("ix_run_tags_key_value_prefix", table_name="run_tags")
    op.create_index("ix_run_tags_key", "run_tags", ["key"], unique=False)
    with op.batch_alter_table("run_latest_metrics", schema=None) as batch_op:
        batch_op.drop_index("ix_run_latest_metrics_repo_key_value")
        batch_op.drop_column("ml_repo_id")
    op.drop_table("run_counts")
