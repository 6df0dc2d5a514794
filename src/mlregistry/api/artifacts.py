"""Artifacts, artifact versions, and the staging routes shared by artifact and model versions."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

from fastapi import APIRouter, Query

from mlregistry.api.deps import AppSettings, AppStorages, BaseUrl, CurrentCaller, DbSession
from mlregistry.api.docs import ERROR_RESPONSES
from mlregistry.api.family_routes import FamilyRoutes, RunVersionFiltersParams, add_family_routes
from mlregistry.api.paging import (
    PageParams,
    data_response,
    empty_response,
    list_response,
    token_page_response,
)
from mlregistry.api.responses import JSONResponse
from mlregistry.schemas.artifacts import (
    ApplyArtifactVersionTagsRequest,
    Artifact,
    ArtifactVersion,
    IdRequest,
    ListFilesRequest,
    ListFilesResponse,
    MultipartRequest,
    MultiPartUpload,
    SignedUrlsRequest,
    SignedUrlsResponse,
    StageRequest,
    StageResponse,
)
from mlregistry.schemas.common import DataEnvelope, EmptyResponse, ListEnvelope
from mlregistry.schemas.resources import ApplyArtifactVersionRequest
from mlregistry.services import files, reaper, versions
from mlregistry.services.families import ARTIFACT
from mlregistry.services.versions import EntityQuery

router = APIRouter(responses=ERROR_RESPONSES)
ARTIFACTS: list[str | Enum] = ["Artifacts"]
VERSIONS: list[str | Enum] = ["Artifact versions"]
add_family_routes(
    router,
    FamilyRoutes(
        family=ARTIFACT,
        entity_path="/artifacts",
        version_path="/artifact-versions",
        entity_tag="Artifacts",
        version_tag="Artifact versions",
        entity_model=Artifact,
        version_model=ArtifactVersion,
        apply_request=ApplyArtifactVersionRequest,
        tags_request=ApplyArtifactVersionTagsRequest,
        tags_version_id_field="artifact_version_id",
        apply_description='An apply whose `source` is `{"type": "truefoundry", "uri": <storage_root>}` '
        "finalizes the staged version with that storage root, recording each file's size and sha256 "
        "(422 naming any file that was never uploaded).",
    ),
)


@router.get("/artifacts", tags=ARTIFACTS, response_model=ListEnvelope[Artifact], summary="List artifacts")
async def list_artifacts(
    session: DbSession,
    settings: AppSettings,
    caller: CurrentCaller,
    page: PageParams,
    fqn: Annotated[str | None, Query(description="Exact FQN `artifact:{tenant}/{ml_repo}/{name}`")] = None,
    ml_repo_id: Annotated[str | None, Query()] = None,
    name: Annotated[str | None, Query(description="Exact artifact name")] = None,
    run_id: Annotated[str | None, Query(description="Artifacts with a version logged by this run")] = None,
    include_empty_artifacts: Annotated[bool, Query(description="Include artifacts without versions")] = True,
) -> JSONResponse:
    query = EntityQuery(fqn=fqn, ml_repo_id=ml_repo_id, name=name, run_id=run_id, include_empty=include_empty_artifacts)
    items, total = await versions.list_entities(
        session, settings, caller, ARTIFACT, query, offset=page.offset, limit=page.limit
    )
    return list_response(items, total, page)


@router.get(
    "/artifact-versions", tags=VERSIONS, response_model=ListEnvelope[ArtifactVersion], summary="List artifact versions"
)
async def list_artifact_versions(
    session: DbSession,
    settings: AppSettings,
    caller: CurrentCaller,
    page: PageParams,
    filters: RunVersionFiltersParams,
    artifact_id: Annotated[str | None, Query()] = None,
) -> JSONResponse:
    items, total = await versions.list_version_items(
        session, settings, caller, ARTIFACT, filters.query(artifact_id), offset=page.offset, limit=page.limit
    )
    return list_response(items, total, page)


@router.post(
    "/artifact-versions/stage",
    tags=VERSIONS,
    response_model=StageResponse,
    summary="Reserve a staged artifact or model version and its storage root (bare object, no envelope)",
)
async def stage_version(
    body: StageRequest, session: DbSession, storages: AppStorages, caller: CurrentCaller
) -> JSONResponse:
    result = await versions.stage_version(session, storages, caller, body.manifest)
    await session.commit()
    return JSONResponse(result)


@router.post(
    "/artifact-versions/signed-urls",
    tags=VERSIONS,
    response_model=SignedUrlsResponse,
    summary="Signed URLs for a version's files: WRITE while staged, READ once finalized",
)
async def get_signed_urls(
    body: SignedUrlsRequest, session: DbSession, storages: AppStorages, caller: CurrentCaller, base_url: BaseUrl
) -> JSONResponse:
    urls = await files.version_signed_urls(session, storages, caller, body.id, body.paths, body.operation, base_url)
    await session.commit()
    return data_response(urls)


@router.post(
    "/artifact-versions/signed-urls/multipart",
    tags=VERSIONS,
    response_model=DataEnvelope[MultiPartUpload],
    summary="Start a multipart upload of one file of a staged version",
)
async def create_multipart_upload(
    body: MultipartRequest, session: DbSession, storages: AppStorages, caller: CurrentCaller, base_url: BaseUrl
) -> JSONResponse:
    upload = await files.version_multipart_upload(
        session, storages, caller, body.id, body.path, body.num_parts, base_url
    )
    await session.commit()
    return data_response(upload)


@router.post(
    "/artifact-versions/files",
    tags=VERSIONS,
    response_model=ListFilesResponse,
    summary="List a finalized version's files (direct children of `path`) with size and sha256",
)
async def list_version_files(
    body: ListFilesRequest, session: DbSession, settings: AppSettings, storages: AppStorages, caller: CurrentCaller
) -> JSONResponse:
    items, next_token = await files.version_files(
        session, settings, storages, caller, body.id, body.path, body.limit, body.pageToken
    )
    return token_page_response(items, next_token, body.limit)


@router.post(
    "/artifact-versions/mark-stage-failure",
    tags=VERSIONS,
    response_model=EmptyResponse,
    summary="Mark a staged version as failed and remove its uploaded files",
)
async def mark_stage_failure(
    body: IdRequest, session: DbSession, storages: AppStorages, caller: CurrentCaller
) -> JSONResponse:
    marked = await files.mark_stage_failure(session, storages, caller, body.id)
    await session.commit()
    if marked:
        await reaper.drain_quietly(session, storages)
    return empty_response()
