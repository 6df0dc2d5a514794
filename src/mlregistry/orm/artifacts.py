"""Tables of the data path: the files recorded for each version, data directories, queued deletions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mlregistry.orm.base import Base, JSONDocument, utcnow
from mlregistry.orm.tables import ID_LENGTH

PATH_LENGTH = 1024


class VersionFile(Base):
    """A file (or directory) of a version. WRITE URLs register the files a stage expects; finalize
    records each file's size and sha256 and adds the directories, so listings are one indexed query."""

    __tablename__ = "version_files"
    __table_args__ = (Index("ix_version_files_version_parent_path", "version_id", "parent", "path"),)

    version_id: Mapped[str] = mapped_column(ForeignKey("entity_versions.id", ondelete="CASCADE"), primary_key=True)
    path: Mapped[str] = mapped_column(String(PATH_LENGTH), primary_key=True)
    parent: Mapped[str] = mapped_column(String(PATH_LENGTH))  # "" for the version root
    is_dir: Mapped[bool] = mapped_column(Boolean, default=False)
    size: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))


class DataDirectory(Base):
    """An unversioned, mutable folder of files in an ML repo."""

    __tablename__ = "data_directories"
    __table_args__ = (
        UniqueConstraint("ml_repo_id", "name"),
        Index("ix_data_directories_name", "name"),
        Index("ix_data_directories_created_at", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    ml_repo_id: Mapped[int] = mapped_column(ForeignKey("ml_repos.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(256))
    manifest: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    # Key prefix of its files in the ML repo's storage; None for an external URI the server cannot sign.
    storage_prefix: Mapped[str | None] = mapped_column(String(PATH_LENGTH))
    created_by_subject: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class StorageDeletion(Base):
    """Objects to remove from a storage, queued in the transaction that deleted their owner.

    Whoever drains the queue claims a row by bumping `attempts` (compare-and-set), so several server
    processes never lose or double-process a deletion; a crashed claim becomes due again after a lease.
    A prefix is swept twice: now, and again once every upload URL signed before the delete has expired,
    so a late upload through such a URL is not left behind either.
    """

    __tablename__ = "storage_deletions"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    storage_integration_fqn: Mapped[str] = mapped_column(String(1024))
    prefix: Mapped[str] = mapped_column(String(PATH_LENGTH))
    due_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    sweeps_left: Mapped[int] = mapped_column(Integer, default=2)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
