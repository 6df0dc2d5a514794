from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from mlregistry.orm.base import Base, JSONDocument, utcnow

ID_LENGTH = 36  # canonical UUID string


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    slug: Mapped[str] = mapped_column(String(128), unique=True)
    email: Mapped[str | None] = mapped_column(String(320), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(256))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True, index=True)  # index added in 0002
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Token(Base):
    """An issued credential. JWTs are found by `jti`; opaque tokens by the sha256 of their secret."""

    __tablename__ = "tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(256))
    kind: Mapped[str] = mapped_column(String(32))
    secret_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Who issued it (the owner, or a tenant admin for `personal-access-tokens/for-user`); added in 0002.
    created_by_subject: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)


class MlRepo(Base):
    __tablename__ = "ml_repos"
    __table_args__ = {"sqlite_autoincrement": True}  # ids are never reused after a delete

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    storage_integration_fqn: Mapped[str] = mapped_column(String(1024))
    account_id: Mapped[str] = mapped_column(String(256))
    manifest: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    created_by_subject: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    created_by_subject_id: Mapped[str] = mapped_column(String(ID_LENGTH), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class MlRepoCollaborator(Base):
    """Who may do what on one ML repo. `principal` is a subject FQN: `user:<email>`, `team:<name>`, ..."""

    __tablename__ = "ml_repo_collaborators"

    ml_repo_id: Mapped[int] = mapped_column(ForeignKey("ml_repos.id", ondelete="CASCADE"), primary_key=True)
    principal: Mapped[str] = mapped_column(String(512), primary_key=True, index=True)
    role_id: Mapped[str] = mapped_column(String(64))


class Entity(Base):
    """A versioned thing inside an ML repo: a model, an artifact or a prompt (`family`)."""

    __tablename__ = "entities"
    __table_args__ = (
        UniqueConstraint("ml_repo_id", "family", "name"),
        Index("ix_entities_family_name", "family", "name"),
        Index("ix_entities_family_created_at", "family", "created_at"),
        Index("ix_entities_repo_family_created_at", "ml_repo_id", "family", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    ml_repo_id: Mapped[int] = mapped_column(ForeignKey("ml_repos.id", ondelete="CASCADE"))
    family: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(256))
    # The last number handed out: incremented in place, so allocating never reads the versions.
    last_version_number: Mapped[int] = mapped_column(Integer, default=0)
    # Finalized versions, kept in step by the version engine: exact list totals without counting rows.
    version_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    latest_version_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    # The apply that made the latest version: a digest of its caller and manifest, and until when the same
    # apply again is a replay of it. The statement that takes the next number compares them, under the row
    # lock, so a replay costs no extra read (services/versions.py checks the version itself before answering).
    replay_digest: Mapped[str | None] = mapped_column(String(64))
    replay_until: Mapped[datetime | None] = mapped_column()
    created_by_subject: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class EntityVersion(Base):
    __tablename__ = "entity_versions"
    __table_args__ = (
        UniqueConstraint("entity_id", "version"),
        UniqueConstraint("entity_id", "version_alias"),
        # List order is (created_at, id) newest first: with the id in the index no page needs a sort.
        Index("ix_entity_versions_repo_family_state_created", "ml_repo_id", "family", "state", "created_at", "id"),
        Index("ix_entity_versions_family_state_created", "family", "state", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    entity_id: Mapped[str] = mapped_column(ForeignKey("entities.id", ondelete="CASCADE"))
    ml_repo_id: Mapped[int] = mapped_column(ForeignKey("ml_repos.id", ondelete="CASCADE"))
    family: Mapped[str] = mapped_column(String(32))
    version: Mapped[int | None] = mapped_column(Integer, index=True)
    state: Mapped[str] = mapped_column(String(16), default="FINALIZED")
    manifest: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    version_alias: Mapped[str | None] = mapped_column(String(128))
    run_id: Mapped[str | None] = mapped_column(String(256), index=True)
    step: Mapped[int] = mapped_column(Integer, default=0, index=True)
    storage_root: Mapped[str | None] = mapped_column(String(1024), index=True)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    metrics: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_by_subject: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class VersionTag(Base):
    """A tag names at most one version of an entity; this table enforces it and serves the tag filter.

    The tagged version's repo, family and creation time are kept here too (they never change), so that
    the tag filter walks one index in list order, newest first, and reads only the page's versions; a
    whole-repo count of a tag is an index-only count. Only finalized versions are ever tagged."""

    __tablename__ = "version_tags"
    __table_args__ = (
        Index("ix_version_tags_tag_order", "tag", "family", "version_created_at", "version_id"),
        Index("ix_version_tags_repo_tag_order", "ml_repo_id", "tag", "family", "version_created_at", "version_id"),
    )

    entity_id: Mapped[str] = mapped_column(ForeignKey("entities.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(256), primary_key=True, index=True)
    version_id: Mapped[str] = mapped_column(ForeignKey("entity_versions.id", ondelete="CASCADE"), index=True)
    # Copies of the version's columns; nullable only because an import writes them right after the rows.
    ml_repo_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    family: Mapped[str | None] = mapped_column(String(32), nullable=True)
    version_created_at: Mapped[datetime | None] = mapped_column(nullable=True)


class LabelInterval(Base):
    """One stretch of time during which a tag or a `version_alias` named one version of an entity.

    Written in the same transaction as every move: a set opens an interval, a removal, a forced move or
    the version's delete closes it (`valid_to`). "As of" reads pick the interval that covers a moment
    through the indexes below; the version id is kept without a foreign key so history outlives deletes.
    """

    __tablename__ = "version_label_intervals"
    __table_args__ = (
        Index(
            "ix_version_label_intervals_entity_kind_label_from", "entity_id", "kind", "label", "valid_from", "valid_to"
        ),
        Index("ix_version_label_intervals_kind_label_from", "kind", "label", "valid_from", "valid_to"),
        Index("ix_version_label_intervals_version_from", "version_id", "valid_from", "valid_to"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    entity_id: Mapped[str] = mapped_column(ForeignKey("entities.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))  # "tag" | "alias"
    label: Mapped[str] = mapped_column(String(256))
    version_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    version: Mapped[int] = mapped_column(Integer)
    valid_from: Mapped[datetime] = mapped_column()
    valid_to: Mapped[datetime | None] = mapped_column()
    start_reason: Mapped[str] = mapped_column(String(16))  # "set" | "moved"
    from_version_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))  # the holder a forced move took it from
    from_version: Mapped[int | None] = mapped_column(Integer)
    started_by_subject: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    end_reason: Mapped[str | None] = mapped_column(String(16))  # "removed" | "moved" | "deleted"
    to_version_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))  # where a forced move took it
    to_version: Mapped[int | None] = mapped_column(Integer)
    ended_by_subject: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)


class ApplyIdempotencyKey(Base):
    """An `Idempotency-Key` a caller sent with an apply, and the version that apply answered."""

    __tablename__ = "apply_idempotency_keys"

    subject_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    key: Mapped[str] = mapped_column(String(256), primary_key=True)
    request_sha256: Mapped[str] = mapped_column(String(64))
    version_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    created_at: Mapped[datetime] = mapped_column(index=True)
