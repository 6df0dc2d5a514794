"""Request bodies and response shapes of the ML registry routes (documented in the OpenAPI page)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from mlregistry.schemas.common import Subject
from mlregistry.schemas.limits import Tag
from mlregistry.schemas.manifests import ArtifactManifest, MlRepoManifest, ModelManifest


class ApplyMlRepoRequest(BaseModel):
    manifest: MlRepoManifest
    dryRun: bool = Field(False, description="Validate and answer the would-be ML repo; persist nothing.")


class ApplyModelVersionRequest(BaseModel):
    manifest: ModelManifest


class ApplyArtifactVersionRequest(BaseModel):
    manifest: ArtifactManifest


class ApplyModelVersionTagsRequest(BaseModel):
    model_version_id: str
    tags: list[Tag]
    force: bool = False


class Metric(BaseModel):
    key: str
    value: float | None = None
    timestamp: int | None = None
    step: int | None = None


class MlRepo(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    tenant_name: str
    account_id: str
    manifest: MlRepoManifest
    created_by_subject: Subject
    created_at: str
    updated_at: str | None = None


class VersionResource(BaseModel):
    """What every family's version carries; each family adds its parent id and manifest type."""

    model_config = ConfigDict(extra="allow")

    id: str
    fqn: str
    ml_repo_id: str
    created_by_subject: Subject
    created_at: str | None = None
    updated_at: str | None = None
    version_alias: str | None = None
    usage_code_snippet: str | None = None
    tags: list[str] | None = None


class EntityResource(BaseModel):
    """What every family's entity carries; each family adds its `type` and `latest_version` type."""

    model_config = ConfigDict(extra="allow")

    id: str
    ml_repo_id: str
    name: str
    fqn: str
    created_by_subject: Subject
    created_at: str | None = None
    updated_at: str | None = None
    run_steps: list[int] | None = Field(
        None, description="The steps at which runs logged its versions (of the `run_id` filter's run, if given)"
    )


class ModelVersion(VersionResource):
    model_id: str
    manifest: ModelManifest
    metrics: list[Metric] | None = None
    deployable: bool | None = None


class Model(EntityResource):
    type: str = "model"
    latest_version: ModelVersion | None = None


class Session(BaseModel):
    model_config = ConfigDict(extra="allow")

    user: dict[str, Any]
    tenantInfo: dict[str, Any]
