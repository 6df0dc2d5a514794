"""Wire types of artifacts, staging, signed URLs, file listings and data directories."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mlregistry.schemas.common import Subject, TokenPagination
from mlregistry.schemas.limits import (
    MAX_PAGE_SIZE,
    DirectoryPath,
    FilePath,
    NumParts,
    PageLimit,
    PathList,
    Tag,
    setting_maximum,
)
from mlregistry.schemas.manifests import (
    ArtifactManifest,
    DataDirectorySource,
    Description,
    EntityName,
    MlRepoName,
    ModelManifest,
    TrueFoundryManagedSource,
    WireModel,
)
from mlregistry.schemas.resources import EntityResource, VersionResource

STAGED_VERSION_RULE = "Omit it: a staged version is numbered when it is finalized"


class StagedArtifactManifest(ArtifactManifest):
    version: None = Field(None, description=STAGED_VERSION_RULE)
    source: TrueFoundryManagedSource = Field(description="Staged files are managed by the registry")


class StagedModelManifest(ModelManifest):
    version: None = Field(None, description=STAGED_VERSION_RULE)
    source: TrueFoundryManagedSource = Field(description="Staged files are managed by the registry")


StageableManifest = Annotated[StagedArtifactManifest | StagedModelManifest, Field(discriminator="type")]


class StageRequest(BaseModel):
    manifest: StageableManifest


class StageResponse(BaseModel):
    id: str = Field(description="The staged version's id (a UUID)")
    storage_root: str = Field(description="Where its files go; the finalizing apply names it as `source.uri`")
    artifact_id: str = Field(description="The parent artifact (or model) id")


class SignedUrlsRequest(BaseModel):
    id: str
    paths: PathList
    operation: Literal["READ", "WRITE"]


class SignedUrl(BaseModel):
    path: str
    signed_url: str


class SignedUrlsResponse(BaseModel):
    data: list[SignedUrl]


class MultipartRequest(BaseModel):
    id: str
    path: FilePath
    num_parts: NumParts = Field(description="Number of parts (S3 allows at most 10,000)")


class MultiPartUpload(BaseModel):
    storage_provider: Literal["S3_COMPATIBLE", "AZURE_BLOB"]
    part_signed_urls: list[SignedUrl]
    finalize_signed_url: SignedUrl
    s3_compatible_upload_id: str | None = None


class ListFilesRequest(BaseModel):
    id: str
    path: DirectoryPath | None = Field(None, description="Directory to list; null or empty is the root")
    limit: PageLimit | None = Field(
        None, description="Files per page", json_schema_extra=setting_maximum(MAX_PAGE_SIZE)
    )
    pageToken: str | None = None


class FileInfo(BaseModel):
    model_config = ConfigDict(extra="allow")

    path: str
    is_dir: bool
    file_size: int | None = None
    sha256: str | None = Field(None, description="Recorded by the server when the version was finalized")
    last_modified: str | None = None


class ListFilesResponse(BaseModel):
    data: list[FileInfo]
    pagination: TokenPagination


class IdRequest(BaseModel):
    id: str


class ApplyArtifactVersionTagsRequest(BaseModel):
    artifact_version_id: str
    tags: list[Tag]
    force: bool = False


class ArtifactVersion(VersionResource):
    artifact_id: str
    manifest: ArtifactManifest


class Artifact(EntityResource):
    type: str = "artifact"
    latest_version: ArtifactVersion | None = None


# --- data directories -----------------------------------------------------------------------


class DataDirectoryManifest(WireModel):
    type: Literal["data-dir"] = "data-dir"
    name: EntityName
    ml_repo: MlRepoName
    description: Description | None = None
    metadata: dict[str, Any]
    source: DataDirectorySource


class ApplyDataDirectoryRequest(BaseModel):
    manifest: DataDirectoryManifest


class DeleteFilesRequest(BaseModel):
    id: str
    paths: PathList


class DataDirectory(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    ml_repo_id: str
    name: str
    fqn: str
    created_by_subject: Subject
    created_at: str
    updated_at: str
    manifest: DataDirectoryManifest
    usage_code_snippet: str | None = None
