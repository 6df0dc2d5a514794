"""Data directories: unversioned folders of files, read and written through signed URLs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from mlregistry.api.deps import AppSettings, AppStorages, BaseUrl, CurrentCaller, DbSession
from mlregistry.api.docs import ERROR_RESPONSES
from mlregistry.api.paging import PageParams, data_response, empty_response, list_response, token_page_response
from mlregistry.api.responses import JSONResponse
from mlregistry.schemas.artifacts import (
    ApplyDataDirectoryRequest,
    DataDirectory,
    DeleteFilesRequest,
    ListFilesRequest,
    ListFilesResponse,
    MultipartRequest,
    MultiPartUpload,
    SignedUrlsRequest,
    SignedUrlsResponse,
)
from mlregistry.schemas.common import DataEnvelope, EmptyResponse, ListEnvelope
from mlregistry.services import data_directories, reaper

router = APIRouter(tags=["Data directories"], responses=ERROR_RESPONSES)


@router.get("/data-directories", response_model=ListEnvelope[DataDirectory], summary="List data directories")
async def list_data_directories(
    session: DbSession,
    settings: AppSettings,
    caller: CurrentCaller,
    page: PageParams,
    fqn: Annotated[str | None, Query(description="Exact FQN `data-dir:{tenant}/{ml_repo}/{name}`")] = None,
    ml_repo_id: Annotated[str | None, Query()] = None,
    name: Annotated[str | None, Query(description="Exact name")] = None,
) -> JSONResponse:
    items, total = await data_directories.list_data_directories(
        session, settings, caller, fqn=fqn, ml_repo_id=ml_repo_id, name=name, offset=page.offset, limit=page.limit
    )
    return list_response(items, total, page)


@router.put(
    "/data-directories", response_model=DataEnvelope[DataDirectory], summary="Create or update a data directory"
)
async def apply_data_directory(
    body: ApplyDataDirectoryRequest,
    session: DbSession,
    settings: AppSettings,
    storages: AppStorages,
    caller: CurrentCaller,
) -> JSONResponse:
    result = await data_directories.apply_data_directory(session, settings, storages, caller, body.manifest)
    await session.commit()
    return data_response(result)


@router.post("/data-directories/files", response_model=ListFilesResponse, summary="List a data directory's files")
async def list_data_directory_files(
    body: ListFilesRequest, session: DbSession, settings: AppSettings, storages: AppStorages, caller: CurrentCaller
) -> JSONResponse:
    items, next_token = await data_directories.list_files(
        session, settings, storages, caller, body.id, body.path, body.limit, body.pageToken
    )
    return token_page_response(items, next_token, body.limit)


# Registered before `DELETE /data-directories/{id}` so that the literal path wins.
@router.delete("/data-directories/files", response_model=EmptyResponse, summary="Delete files of a data directory")
async def delete_data_directory_files(
    body: DeleteFilesRequest, session: DbSession, storages: AppStorages, caller: CurrentCaller
) -> JSONResponse:
    await data_directories.delete_files(session, storages, caller, body.id, body.paths)
    await session.commit()
    return empty_response()


@router.post(
    "/data-directories/signed-urls/multipart",
    response_model=DataEnvelope[MultiPartUpload],
    summary="Start a multipart upload into a data directory",
)
async def create_data_directory_multipart_upload(
    body: MultipartRequest, session: DbSession, storages: AppStorages, caller: CurrentCaller, base_url: BaseUrl
) -> JSONResponse:
    upload = await data_directories.multipart_upload(
        session, storages, caller, body.id, body.path, body.num_parts, base_url
    )
    return data_response(upload)


@router.post("/data-directories/signed-urls", response_model=SignedUrlsResponse, summary="Signed URLs for files")
async def get_data_directory_signed_urls(
    body: SignedUrlsRequest, session: DbSession, storages: AppStorages, caller: CurrentCaller, base_url: BaseUrl
) -> JSONResponse:
    urls = await data_directories.signed_urls(session, storages, caller, body.id, body.paths, body.operation, base_url)
    return data_response(urls)


@router.get("/data-directories/{id}", response_model=DataEnvelope[DataDirectory], summary="Get a data directory")
async def get_data_directory(id: str, session: DbSession, settings: AppSettings, caller: CurrentCaller) -> JSONResponse:
    return data_response(await data_directories.get_data_directory(session, settings, caller, id))


@router.delete("/data-directories/{id}", response_model=EmptyResponse, summary="Delete a data directory")
async def delete_data_directory(
    id: str,
    session: DbSession,
    storages: AppStorages,
    caller: CurrentCaller,
    delete_contents: Annotated[bool, Query(description="Also delete the stored files")] = False,
) -> JSONResponse:
    await data_directories.delete_data_directory(session, caller, id, delete_contents=delete_contents)
    await session.commit()
    await reaper.drain_quietly(session, storages)
    return empty_response()
