"""Teams (contract §8). A team is a collaborator on ML repos as `team:<name>`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from mlregistry.api.deps import AppSettings, CurrentCaller, DbSession
from mlregistry.api.docs import ERROR_RESPONSES
from mlregistry.api.paging import PageParams, data_response, empty_response, list_response
from mlregistry.api.responses import JSONResponse
from mlregistry.schemas.common import DataEnvelope, EmptyResponse, ListEnvelope
from mlregistry.schemas.identity import ApplyTeamRequest, SubjectPermissionOut, TeamOut, TeamSubjectOut
from mlregistry.services import teams

router = APIRouter(tags=["Teams"], responses=ERROR_RESPONSES)


@router.get(
    "/teams/user", response_model=ListEnvelope[TeamOut], summary="Teams of the caller (tenant admins: every team)"
)
async def list_teams(
    session: DbSession,
    settings: AppSettings,
    caller: CurrentCaller,
    page: PageParams,
    role: Annotated[str | None, Query(description="`manager`: teams the caller manages")] = None,
    attributes: Annotated[list[str] | None, Query(description="Accepted for compatibility")] = None,
    includeMembership: Annotated[bool, Query(description="Also teams the caller is a member of")] = True,
) -> JSONResponse:
    items, total = await teams.list_teams(
        session,
        settings,
        caller,
        role=role,
        include_membership=includeMembership,
        offset=page.offset,
        limit=page.limit,
    )
    return list_response(items, total, page)


@router.put(
    "/teams", response_model=DataEnvelope[TeamOut], summary="Create (tenant admins) or update (managers) a team"
)
async def apply_team(
    body: ApplyTeamRequest, session: DbSession, settings: AppSettings, caller: CurrentCaller
) -> JSONResponse:
    result = await teams.apply_team(session, settings, caller, body.manifest, dry_run=body.dryRun)
    await session.commit()
    return data_response(result)


@router.get("/teams/{id}/members", response_model=ListEnvelope[TeamSubjectOut], summary="Members of a team")
async def list_members(
    id: str,
    session: DbSession,
    caller: CurrentCaller,
    page: PageParams,
    filter: Annotated[str | None, Query(description="Accepted for compatibility; not applied")] = None,
) -> JSONResponse:
    items, total = await teams.list_subjects(session, caller, id, managers=False, offset=page.offset, limit=page.limit)
    return list_response(items, total, page)


@router.get("/teams/{id}/managers", response_model=ListEnvelope[TeamSubjectOut], summary="Managers of a team")
async def list_managers(
    id: str,
    session: DbSession,
    caller: CurrentCaller,
    page: PageParams,
    filter: Annotated[str | None, Query(description="Accepted for compatibility; not applied")] = None,
) -> JSONResponse:
    items, total = await teams.list_subjects(session, caller, id, managers=True, offset=page.offset, limit=page.limit)
    return list_response(items, total, page)


@router.get(
    "/teams/{id}/permissions",
    response_model=DataEnvelope[list[SubjectPermissionOut]],
    summary="The roles the team holds on ML repos and workspaces (its members, managers and tenant admins)",
)
async def get_team_permissions(id: str, session: DbSession, caller: CurrentCaller) -> JSONResponse:
    return data_response(await teams.team_permissions(session, caller, id))


@router.get("/teams/{id}", response_model=DataEnvelope[TeamOut], summary="Get a team")
async def get_team(id: str, session: DbSession, settings: AppSettings, caller: CurrentCaller) -> JSONResponse:
    return data_response(await teams.get_team(session, settings, caller, id))


@router.delete("/teams/{id}", response_model=EmptyResponse, summary="Delete a team")
async def delete_team(id: str, session: DbSession, caller: CurrentCaller) -> JSONResponse:
    await teams.delete_team(session, caller, id)
    await session.commit()
    return empty_response()
