from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from mlregistry.api.deps import AppSettings, AppStorages, CurrentCaller, DbSession
from mlregistry.api.docs import ERROR_RESPONSES
from mlregistry.api.paging import PageParams, data_response, empty_response, list_response
from mlregistry.api.responses import JSONResponse
from mlregistry.schemas.common import DataEnvelope, EmptyResponse, ListEnvelope
from mlregistry.schemas.resources import ApplyMlRepoRequest, MlRepo
from mlregistry.services import ml_repos, reaper

router = APIRouter(tags=["ML repos"], responses=ERROR_RESPONSES)


@router.put("/ml-repos", response_model=DataEnvelope[MlRepo], summary="Create or update an ML repo")
async def apply_ml_repo(
    body: ApplyMlRepoRequest, session: DbSession, settings: AppSettings, caller: CurrentCaller
) -> JSONResponse:
    result = await ml_repos.apply_ml_repo(session, settings, caller, body.manifest, dry_run=body.dryRun)
    await session.commit()
    return data_response(result)


@router.get("/ml-repos", response_model=ListEnvelope[MlRepo], summary="List ML repos")
async def list_ml_repos(
    session: DbSession,
    settings: AppSettings,
    caller: CurrentCaller,
    page: PageParams,
    name: Annotated[str | None, Query(description="Exact ML repo name")] = None,
    attributes: Annotated[
        list[str] | None, Query(description="Accepted for compatibility; every field is always returned")
    ] = None,
) -> JSONResponse:
    items, total = await ml_repos.list_ml_repos(
        session, settings, caller, name=name, offset=page.offset, limit=page.limit
    )
    return list_response(items, total, page)


@router.get("/ml-repos/{id}", response_model=DataEnvelope[MlRepo], summary="Get an ML repo")
async def get_ml_repo(id: str, session: DbSession, settings: AppSettings, caller: CurrentCaller) -> JSONResponse:
    return data_response(await ml_repos.get_ml_repo(session, settings, caller, id))


@router.delete("/ml-repos/{id}", response_model=EmptyResponse, summary="Delete an ML repo and everything in it")
async def delete_ml_repo(id: str, session: DbSession, storages: AppStorages, caller: CurrentCaller) -> JSONResponse:
    await ml_repos.delete_ml_repo(session, caller, id)
    await session.commit()
    await reaper.drain_quietly(session, storages)
    return empty_response()
