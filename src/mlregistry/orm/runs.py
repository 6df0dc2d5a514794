"""Runs (experiment tracking): a run of an ML repo with its params, tags and metric history.

`run_latest_metrics` holds the latest point per (run, key), rewritten with each log, so that search
filters and orders on metrics read one indexed row per run instead of the whole history.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, String, UniqueConstraint, func, literal_column
from sqlalchemy.orm import Mapped, mapped_column

from mlregistry.orm.base import Base, JSONDocument, utcnow
from mlregistry.orm.tables import ID_LENGTH

RUN_NAME_LENGTH = 256
KEY_LENGTH = 250
PARAM_VALUE_LENGTH = 1000
TAG_VALUE_LENGTH = 5000
# Tag values are too long for a btree entry on Postgres: the (key, value) index holds this many leading
# characters. A value shorter than that is equal exactly when its prefix is (answered from the index
# alone); a longer one is compared whole after the prefix.
TAG_INDEXED_PREFIX = 200


class Run(Base):
    __tablename__ = "runs"
    __table_args__ = (
        UniqueConstraint("ml_repo_id", "name", name="uq_runs_ml_repo_id_name"),
        # The default order (newest first) of a repo's active runs, and their count, read from one index.
        Index("ix_runs_ml_repo_id_lifecycle_start_time_id", "ml_repo_id", "lifecycle_stage", "start_time", "id"),
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
    """`ml_repo_id` is the run's, written with the param: a repo's param filter is one range of the
    (ml_repo_id, key, value, run_id) index, answered from the index alone, whatever other repos hold."""

    __tablename__ = "run_params"
    __table_args__ = (Index("ix_run_params_repo_key_value_run_id", "ml_repo_id", "key", "value", "run_id"),)

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(KEY_LENGTH), primary_key=True)
    ml_repo_id: Mapped[int] = mapped_column(Integer)
    value: Mapped[str] = mapped_column(String(PARAM_VALUE_LENGTH))


def tag_value_prefix(value: Any) -> Any:
    """The indexed prefix of a tag value; literal bounds, so that the expression matches the index's."""
    return func.substr(value, literal_column("1"), literal_column(str(TAG_INDEXED_PREFIX)))


class RunTag(Base):
    """`ml_repo_id` as for params: a repo's tag filter is one range of (ml_repo_id, key, value prefix, run_id)."""

    __tablename__ = "run_tags"

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(KEY_LENGTH), primary_key=True)
    ml_repo_id: Mapped[int] = mapped_column(Integer)
    value: Mapped[str] = mapped_column(String(TAG_VALUE_LENGTH))


Index("ix_run_tags_repo_key_value_prefix", RunTag.ml_repo_id, RunTag.key, tag_value_prefix(RunTag.value), RunTag.run_id)


class RunTagCount(Base):
    """How many active runs of a repo hold each (tag key, value), for values shorter than the indexed
    prefix, kept with each tag write, tag delete and run delete: the exact `total` of a search whose one
    filter is a tag equality (`tags.team = 'a'`) is a read of these rows, not a count of the matches."""

    __tablename__ = "run_tag_counts"

    ml_repo_id: Mapped[int] = mapped_column(ForeignKey("ml_repos.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(KEY_LENGTH), primary_key=True)
    value: Mapped[str] = mapped_column(String(TAG_INDEXED_PREFIX), primary_key=True)
    runs: Mapped[int] = mapped_column(BigInteger, default=0)


class RunMetric(Base):
    """One logged point; the whole history is kept and read by (run, key, step), in keyset pages."""

    __tablename__ = "run_metrics"
    __table_args__ = (Index("ix_run_metrics_run_id_key_step_id", "run_id", "key", "step", "timestamp", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(KEY_LENGTH))
    value: Mapped[float] = mapped_column(Float)
    timestamp: Mapped[int] = mapped_column(BigInteger)
    step: Mapped[int] = mapped_column(BigInteger)


class RunLatestMetric(Base):
    """The point with the highest (step, timestamp) per (run, key).

    `ml_repo_id` is the run's (a run never changes repo), written with each latest value, so that a
    repo's runs ordered or filtered by one metric are one range of the (ml_repo_id, key, value) index."""

    __tablename__ = "run_latest_metrics"
    __table_args__ = (
        Index("ix_run_latest_metrics_key_value", "key", "value"),
        Index("ix_run_latest_metrics_repo_key_value", "ml_repo_id", "key", "value", "run_id"),
    )

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(KEY_LENGTH), primary_key=True)
    ml_repo_id: Mapped[int] = mapped_column(Integer)
    value: Mapped[float] = mapped_column(Float)
    timestamp: Mapped[int] = mapped_column(BigInteger)
    step: Mapped[int] = mapped_column(BigInteger)


class RunCount(Base):
    """How many active runs each repo holds, kept with each create and delete: the `total` of a search
    with no filter is a read of these rows, not a count over the repo's runs."""

    __tablename__ = "run_counts"

    ml_repo_id: Mapped[int] = mapped_column(ForeignKey("ml_repos.id", ondelete="CASCADE"), primary_key=True)
    active: Mapped[int] = mapped_column(BigInteger, default=0)
