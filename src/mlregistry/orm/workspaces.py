"""Workspaces and the workspace-scoped model entities of the NeMo-style Models API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mlregistry.orm.base import Base, JSONDocument, utcnow
from mlregistry.orm.tables import ID_LENGTH

WORKSPACE_NAME_LENGTH = 63
ENTITY_NAME_LENGTH = 255
REFERENCE_LENGTH = 1024  # fileset and base model references


class Workspace(Base):
    """A namespace for model entities. Its creator is its admin; members hold the other roles."""

    __tablename__ = "workspaces"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    name: Mapped[str] = mapped_column(String(WORKSPACE_NAME_LENGTH), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    # Empty for the built-in workspaces the migrations create.
    created_by_subject: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    created_by_subject_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, index=True)


class WorkspaceMember(Base):
    """One role a principal (`user:<email>`, `user:<slug>`, `*` for every caller) holds on a workspace."""

    __tablename__ = "workspace_members"

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True)
    principal: Mapped[str] = mapped_column(String(512), primary_key=True, index=True)
    role_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    granted_at: Mapped[datetime] = mapped_column(default=utcnow)


class WorkspaceModel(Base):
    """A NeMo-style model entity: unique by name inside its workspace; the workspace cannot go while it exists."""

    __tablename__ = "workspace_models"
    __table_args__ = (
        UniqueConstraint("workspace_id", "name"),
        Index("ix_workspace_models_workspace_created_at", "workspace_id", "created_at"),
        Index("ix_workspace_models_workspace_updated_at", "workspace_id", "updated_at"),
        Index("ix_workspace_models_workspace_project", "workspace_id", "project"),
        Index("ix_workspace_models_workspace_base_model", "workspace_id", "base_model"),
        Index("ix_workspace_models_workspace_fileset", "workspace_id", "fileset"),
        Index("ix_workspace_models_workspace_finetuning_type", "workspace_id", "finetuning_type"),
        Index("ix_workspace_models_workspace_backend_format", "workspace_id", "backend_format"),
        Index("ix_workspace_models_workspace_trust_remote_code", "workspace_id", "trust_remote_code"),
        # Lists across every workspace (`workspace = "-"`) sort and filter without the workspace prefix.
        Index("ix_workspace_models_created_at", "created_at"),
        Index("ix_workspace_models_updated_at", "updated_at"),
        Index("ix_workspace_models_name", "name"),
        Index("ix_workspace_models_base_model", "base_model"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="RESTRICT"))
    name: Mapped[str] = mapped_column(String(ENTITY_NAME_LENGTH))
    project: Mapped[str | None] = mapped_column(String(ENTITY_NAME_LENGTH))
    description: Mapped[str | None] = mapped_column(String(1000))
    spec: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    finetuning_type: Mapped[str | None] = mapped_column(String(32))
    fileset: Mapped[str | None] = mapped_column(String(REFERENCE_LENGTH))
    base_model: Mapped[str | None] = mapped_column(String(REFERENCE_LENGTH))
    api_endpoint: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    backend_format: Mapped[str | None] = mapped_column(String(32))
    prompt: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    custom_fields: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    ownership: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    model_providers: Mapped[list[str]] = mapped_column(JSON, default=list)
    trust_remote_code: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by_subject: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
