"""Workspaces and their members (NeMo-style Entity Store API), mounted at `/apis/entities/v2`."""

from __future__ import annotations

from fastapi import APIRouter, Response

from mlregistry.api.deps import CurrentCaller, DbSession
from mlregistry.api.docs import ENTITY_ERROR_RESPONSES
from mlregistry.api.paging import EntityPageParams, entity_list_response
from mlregistry.api.responses import JSONResponse
from mlregistry.schemas.workspace_models import (
    CreateMemberRequest,
    CreateWorkspaceRequest,
    EntityPage,
    UpdateMemberRequest,
    UpdateWorkspaceRequest,
    Workspace,
    WorkspaceMember,
)
from mlregistry.services import workspaces

router = APIRouter(prefix="/apis/entities/v2/workspaces", tags=["Workspaces"], responses=ENTITY_ERROR_RESPONSES)


@router.post("", status_code=201, response_model=Workspace, summary="Create a workspace (its creator is its Admin)")
async def create_workspace(body: CreateWorkspaceRequest, session: DbSession, caller: CurrentCaller) -> JSONResponse:
    result = await workspaces.create_workspace(session, caller, name=body.name, description=body.description)
    await session.commit()
    return JSONResponse(result, status_code=201)


@router.get("", response_model=EntityPage[Workspace], summary="List the workspaces the caller can read")
async def list_workspaces(session: DbSession, caller: CurrentCaller, page: EntityPageParams) -> JSONResponse:
    items, total = await workspaces.list_workspaces(
        session, caller, sort=page.sort, offset=page.offset, limit=page.page_size
    )
    return entity_list_response(items, total, page, {})


@router.get("/{name}", response_model=Workspace, summary="Get a workspace")
async def get_workspace(name: str, session: DbSession, caller: CurrentCaller) -> JSONResponse:
    return JSONResponse(await workspaces.get_workspace(session, caller, name))


@router.put("/{name}", response_model=Workspace, summary="Update a workspace's description")
@router.patch("/{name}", response_model=Workspace, summary="Update a workspace's description", include_in_schema=False)
async def update_workspace(
    name: str, body: UpdateWorkspaceRequest, session: DbSession, caller: CurrentCaller
) -> JSONResponse:
    result = await workspaces.update_workspace(session, caller, name, description=body.description)
    await session.commit()
    return JSONResponse(result)


@router.delete("/{name}", status_code=204, summary="Delete a workspace (refused while it holds models)")
async def delete_workspace(name: str, session: DbSession, caller: CurrentCaller) -> Response:
    await workspaces.delete_workspace(session, caller, name)
    await session.commit()
    return Response(status_code=204)


@router.get("/{name}/members", response_model=list[WorkspaceMember], summary="List a workspace's members")
async def list_workspace_members(name: str, session: DbSession, caller: CurrentCaller) -> JSONResponse:
    return JSONResponse(await workspaces.list_members(session, caller, name))


@router.post("/{name}/members", status_code=201, response_model=WorkspaceMember, summary="Grant roles to a principal")
async def add_workspace_member(
    name: str, body: CreateMemberRequest, session: DbSession, caller: CurrentCaller
) -> JSONResponse:
    result = await workspaces.set_member_roles(
        session, caller, name, body.principal, list(body.roles), must_exist=False
    )
    await session.commit()
    return JSONResponse(result, status_code=201)


@router.put("/{name}/members/{principal}", response_model=WorkspaceMember, summary="Replace a member's roles")
@router.patch(
    "/{name}/members/{principal}",
    response_model=WorkspaceMember,
    summary="Replace a member's roles",
    include_in_schema=False,
)
async def update_workspace_member(
    name: str, principal: str, body: UpdateMemberRequest, session: DbSession, caller: CurrentCaller
) -> JSONResponse:
    result = await workspaces.set_member_roles(session, caller, name, principal, list(body.roles), must_exist=True)
    await session.commit()
    return JSONResponse(result)


@router.delete("/{name}/members/{principal}", status_code=204, summary="Remove a member")
async def remove_workspace_member(name: str, principal: str, session: DbSession, caller: CurrentCaller) -> Response:
    await workspaces.remove_member(session, caller, name, principal)
    await session.commit()
    return Response(status_code=204)
