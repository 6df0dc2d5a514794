"""Runs (experiment tracking): a run of an ML repo with its params, tags and metric history.

`run_latest_metrics` holds the latest point per (run, key), rewritten with each log, so that search
filters and orders on metrics read one indexed row per run instead of the whole history.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mlregistry.orm.base import Base, JSONDocument, utcnow
from mlregistry.orm.tables import ID_LENGTH

RUN_NAME_LENGTH = 256
KEY_LENGTH = 250
PARAM_VALUE_LENGTH = 1000
TAG_VALUE_LENGTH = 5000


class Run(Base):
    __tablename__ = "runs"
    __table_args__ = (
        UniqueConstraint("ml_repo_id", "name", name="uq_runs_ml_repo_id_name"),
        Index("ix_runs_ml_repo_id_start_time", "ml_repo_id", "start_time"),
        Index("ix_runs_ml_repo_id_status", "ml_repo_id", "status"),
        Index("ix_runs_ml_repo_id_end_time", "ml_repo_id", "end_time"),
    )

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    ml_repo_id: Mapped[int] = mapped_column(ForeignKey("ml_repos.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(RUN_NAME_LENGTH))
    status: Mapped[str] = mapped_column(String(16))
    lifecycle_stage: Mapped[str] = mapped_column(String(16), default="active")
    start_time: Mapped[int] = mapped_column(BigInteger)
    end_time: Mapped[int | None] = mapped_column(BigInteger)
    description: Mapped[str | None] = mapped_column(String(4096))
    created_by_subject: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RunParam(Base):
    __tablename__ = "run_params"
    __table_args__ = (Index("ix_run_params_key_value", "key", "value"),)

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(KEY_LENGTH), primary_key=True)
    value: Mapped[str] = mapped_column(String(PARAM_VALUE_LENGTH))


class RunTag(Base):
    __tablename__ = "run_tags"
    # Tag values are too long for a btree entry on Postgres: a tag filter reads (key) then the row.
    __table_args__ = (Index("ix_run_tags_key", "key"),)

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(KEY_LENGTH), primary_key=True)
    value: Mapped[str] = mapped_column(String(TAG_VALUE_LENGTH))


class RunMetric(Base):
    """One logged point; the whole history is kept and read by (run, key, step)."""

    __tablename__ = "run_metrics"
    __table_args__ = (Index("ix_run_metrics_run_id_key_step", "run_id", "key", "step", "timestamp"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(KEY_LENGTH))
    value: Mapped[float] = mapped_column(Float)
    timestamp: Mapped[int] = mapped_column(BigInteger)
    step: Mapped[int] = mapped_column(BigInteger)


class RunLatestMetric(Base):
    """The point with the highest (step, timestamp) per (run, key)."""

    __tablename__ = "run_latest_metrics"
    __table_args__ = (Index("ix_run_latest_metrics_key_value", "key", "value"),)

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(KEY_LENGTH), primary_key=True)
    value: Mapped[float] = mapped_column(Float)
    timestamp: Mapped[int] = mapped_column(BigInteger)
    step: Mapped[int] = mapped_column(BigInteger)
