"""Identity tables beyond the core: virtual accounts and their tokens, teams, and the audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from mlregistry.orm.base import Base, JSONDocument, utcnow
from mlregistry.orm.tables import ID_LENGTH


class VirtualAccount(Base):
    """A service identity. `grants` is the normalized form of the manifest's `permissions`."""

    __tablename__ = "virtual_accounts"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    account_id: Mapped[str] = mapped_column(String(256))
    manifest: Mapped[dict[str, Any]] = mapped_column()
    # [{"resource_type": "ml-repo" | "workspace", "resource": <name>, "role_id": ..., "rank": 1..3}]
    grants: Mapped[list[dict[str, Any]]] = mapped_column(JSONDocument, default=list)
    owner_team: Mapped[str | None] = mapped_column(String(128), index=True)
    expires_at: Mapped[datetime | None] = mapped_column(index=True)
    created_by_subject: Mapped[dict[str, Any]] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class VirtualAccountToken(Base):
    """A JWT issued to a virtual account, found by `jti`. Regeneration shortens the old one's expiry."""

    __tablename__ = "virtual_account_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    virtual_account_id: Mapped[str] = mapped_column(ForeignKey("virtual_accounts.id", ondelete="CASCADE"), index=True)
    issued_at: Mapped[datetime] = mapped_column()
    # The `exp` claim signed into the token; `expires_at` may be earlier (grace period after regeneration).
    claim_expires_at: Mapped[datetime] = mapped_column()
    expires_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    account_id: Mapped[str] = mapped_column(String(256))
    manifest: Mapped[dict[str, Any]] = mapped_column()
    created_by_subject: Mapped[dict[str, Any]] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class TeamMember(Base):
    """One e-mail on a team, as a member and/or a manager. Looked up by e-mail at every request."""

    __tablename__ = "team_members"

    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True)
    email: Mapped[str] = mapped_column(String(320), primary_key=True, index=True)
    is_member: Mapped[bool] = mapped_column(Boolean, default=True)
    is_manager: Mapped[bool] = mapped_column(Boolean, default=False)


class AuditEvent(Base):
    """One mutation: who (subject and token), which action, on what, when. Written with the change."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_subject_id_occurred_at", "subject_id", "occurred_at"),
        Index("ix_audit_events_subject_slug_occurred_at", "subject_slug", "occurred_at"),
        Index("ix_audit_events_resource_occurred_at", "resource_type", "resource_id", "occurred_at"),
        Index("ix_audit_events_action_occurred_at", "action", "occurred_at"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    subject_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_slug: Mapped[str] = mapped_column(String(320))
    subject: Mapped[dict[str, Any]] = mapped_column()
    token_id: Mapped[str | None] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    resource_type: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[str] = mapped_column(String(256))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
