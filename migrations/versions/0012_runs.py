"""runs: experiment tracking with params, tags, metric history and latest metric per key

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 14:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mlregistry.orm.base

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = mlregistry.orm.base.UTCDateTime(timezone=True)


def _run_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f(f"fk_{table}_run_id_runs"), ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("ml_repo_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("lifecycle_stage", sa.String(length=16), nullable=False),
        sa.Column("start_time", sa.BigInteger(), nullable=False),
        sa.Column("end_time", sa.BigInteger(), nullable=True),
        sa.Column("description", sa.String(length=4096), nullable=True),
        sa.Column("created_by_subject", sa.JSON(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["ml_repo_id"], ["ml_repos.id"], name=op.f("fk_runs_ml_repo_id_ml_repos"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runs")),
        sa.UniqueConstraint("ml_repo_id", "name", name="uq_runs_ml_repo_id_name"),
    )
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.create_index("ix_runs_ml_repo_id_start_time", ["ml_repo_id", "start_time"], unique=False)
        batch_op.create_index("ix_runs_ml_repo_id_status", ["ml_repo_id", "status"], unique=False)
        batch_op.create_index("ix_runs_ml_repo_id_end_time", ["ml_repo_id", "end_time"], unique=False)

    op.create_table(
        "run_params",
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("value", sa.String(length=1000), nullable=False),
        _run_fk("run_params"),
        sa.PrimaryKeyConstraint("run_id", "key", name=op.f("pk_run_params")),
    )
    op.create_index("ix_run_params_key_value", "run_params", ["key", "value"], unique=False)

    op.create_table(
        "run_tags",
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("value", sa.String(length=5000), nullable=False),
        _run_fk("run_tags"),
        sa.PrimaryKeyConstraint("run_id", "key", name=op.f("pk_run_tags")),
    )
    op.create_index("ix_run_tags_key", "run_tags", ["key"], unique=False)

    op.create_table(
        "run_metrics",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("step", sa.BigInteger(), nullable=False),
        _run_fk("run_metrics"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_run_metrics")),
    )
    op.create_index(
        "ix_run_metrics_run_id_key_step", "run_metrics", ["run_id", "key", "step", "timestamp"], unique=False
    )

    op.create_table(
        "run_latest_metrics",
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("step", sa.BigInteger(), nullable=False),
        _run_fk("run_latest_metrics"),
        sa.PrimaryKeyConstraint("run_id", "key", name=op.f("pk_run_latest_metrics")),
    )
    op.create_index("ix_run_latest_metrics_key_value", "run_latest_metrics", ["key", "value"], unique=False)


def downgrade() -> None:
    op.drop_table("run_latest_metrics")
    op.drop_table("run_metrics")
    op.drop_table("run_tags")
    op.drop_table("run_params")
    op.drop_table("runs")
