"""Workspace model entities (NeMo-style Models API), mounted at `/apis/models/v2/workspaces/{workspace}/models`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from mlregistry.api.deps import AppSettings, CurrentCaller, DbSession
from mlregistry.api.docs import ENTITY_ERROR_RESPONSES
from mlregistry.api.paging import EntityFilter, EntityPageParams, entity_list_response
from mlregistry.api.responses import JSONResponse
from mlregistry.schemas.workspace_models import (
    CreateModelEntityRequest,
    EntityPage,
    ModelEntity,
    UpdateModelEntityRequest,
)
from mlregistry.services import workspace_models

router = APIRouter(
    prefix="/apis/models/v2/workspaces/{workspace}/models", tags=["Model entities"], responses=ENTITY_ERROR_RESPONSES
)

Verbose = Annotated[bool, Query(description="Return the full spec (otherwise only its top-level scalar keys)")]


@router.post("", status_code=201, response_model=ModelEntity, summary="Create Model")
async def create_model_entity(
    workspace: str, body: CreateModelEntityRequest, session: DbSession, settings: AppSettings, caller: CurrentCaller
) -> JSONResponse:
    result = await workspace_models.create_model(session, settings, caller, workspace, body)
    await session.commit()
    return JSONResponse(result, status_code=201)


@router.get(
    "",
    response_model=EntityPage[ModelEntity],
    summary="List Models (`-` as workspace lists every readable workspace)",
    description='`filter` is a JSON object of field equalities (`{"base_model": "meta/llama-3.2-1b"}`), '
    "also accepted in bracket form (`filter[base_model]=meta/llama-3.2-1b`). Filterable: name, project, "
    "workspace, base_model, fileset, finetuning_type, backend_format, trust_remote_code.",
)
async def list_model_entities(
    workspace: str,
    session: DbSession,
    caller: CurrentCaller,
    page: EntityPageParams,
    filters: EntityFilter,
    verbose: Verbose = False,
) -> JSONResponse:
    items, total = await workspace_models.list_models(
        session,
        caller,
        workspace,
        filters,
        sort=page.sort,
        offset=page.offset,
        limit=page.page_size,
        verbose=verbose,
    )
    return entity_list_response(items, total, page, filters)


@router.get("/{name}", response_model=ModelEntity, summary="Get Model by Workspace and Name")
async def get_model_entity(
    workspace: str, name: str, session: DbSession, caller: CurrentCaller, verbose: Verbose = False
) -> JSONResponse:
    return JSONResponse(await workspace_models.get_model(session, caller, workspace, name, verbose=verbose))


@router.patch(
    "/{name}",
    response_model=ModelEntity,
    summary="Update Model",
    description="A field absent or null in the body keeps its old value.",
)
async def update_model_entity(
    workspace: str,
    name: str,
    body: UpdateModelEntityRequest,
    session: DbSession,
    settings: AppSettings,
    caller: CurrentCaller,
    verbose: Verbose = False,
) -> JSONResponse:
    result = await workspace_models.update_model(session, settings, caller, workspace, name, body, verbose=verbose)
    await session.commit()
    return JSONResponse(result)


@router.delete("/{name}", status_code=204, summary="Delete Model")
async def delete_model_entity(workspace: str, name: str, session: DbSession, caller: CurrentCaller) -> Response:
    await workspace_models.delete_model(session, caller, workspace, name)
    await session.commit()
    return Response(status_code=204)
