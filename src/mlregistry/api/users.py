"""Users (contract §8): tenant administrators manage them; everyone can read themselves."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from mlregistry.api.deps import AppSettings, CurrentCaller, DbSession
from mlregistry.api.docs import ERROR_RESPONSES, UNSUPPORTED_RESPONSE
from mlregistry.api.paging import PageParams, data_response, empty_response, list_response
from mlregistry.api.responses import JSONResponse
from mlregistry.schemas.common import DataEnvelope, EmptyResponse, HttpError, ListEnvelope
from mlregistry.schemas.identity import (
    ChangePasswordRequest,
    InviteUserOut,
    InviteUserRequest,
    RegisterUserRequest,
    SubjectPermissionOut,
    UpdateUserRolesRequest,
    UserOut,
    UserResourceOut,
    UserStateRequest,
    UserTeamOut,
)
from mlregistry.services import role_bindings, users

router = APIRouter(tags=["Users"], responses=ERROR_RESPONSES)


@router.get(
    "/users", response_model=ListEnvelope[UserOut], summary="List users (tenant admins: everyone; others: themselves)"
)
async def list_users(
    session: DbSession,
    settings: AppSettings,
    caller: CurrentCaller,
    page: PageParams,
    query: Annotated[str | None, Query(description="Prefix of the e-mail or user name")] = None,
    showInvalidUsers: Annotated[bool, Query(description="Include deactivated users")] = False,
) -> JSONResponse:
    items, total = await users.list_users(
        session,
        settings,
        caller,
        query=query,
        show_invalid=showInvalidUsers,
        offset=page.offset,
        limit=page.limit,
    )
    return list_response(items, total, page)


@router.post("/users/register", response_model=EmptyResponse, summary="Register a user by e-mail (tenant admins)")
async def register_user(body: RegisterUserRequest, session: DbSession, caller: CurrentCaller) -> JSONResponse:
    await users.register_user(session, caller, body)
    await session.commit()
    return empty_response()


@router.post(
    "/users/invite",
    response_model=InviteUserOut,
    summary="Invite a user by e-mail (tenant admins): creates the user and answers the link to send",
)
async def invite_user(
    body: InviteUserRequest, session: DbSession, settings: AppSettings, caller: CurrentCaller
) -> JSONResponse:
    result = await users.invite_user(session, settings, caller, body.email, body.acceptInviteClientUrl)
    await session.commit()
    return JSONResponse(result)


@router.post(
    "/users/change-password",
    summary="Refused: this server has no passwords (use personal access tokens)",
    status_code=400,
    response_model=HttpError,
    responses=UNSUPPORTED_RESPONSE,
)
async def change_password(body: ChangePasswordRequest, caller: CurrentCaller) -> JSONResponse:
    users.refuse_password_change()


@router.patch("/users/roles", response_model=EmptyResponse, summary="Set a user's tenant roles (tenant admins)")
async def update_roles(body: UpdateUserRolesRequest, session: DbSession, caller: CurrentCaller) -> JSONResponse:
    await users.update_roles(session, caller, body.email, body.roles)
    await session.commit()
    return empty_response()


@router.patch("/users/deactivate", response_model=EmptyResponse, summary="Deactivate a user: its tokens stop at once")
async def deactivate_user(body: UserStateRequest, session: DbSession, caller: CurrentCaller) -> JSONResponse:
    await users.set_active(session, caller, body.email, active=False)
    await session.commit()
    return empty_response()


@router.patch("/users/activate", response_model=EmptyResponse, summary="Activate a user")
async def activate_user(body: UserStateRequest, session: DbSession, caller: CurrentCaller) -> JSONResponse:
    await users.set_active(session, caller, body.email, active=True)
    await session.commit()
    return empty_response()


@router.get("/users/{id}", response_model=DataEnvelope[UserOut], summary="Get a user")
async def get_user(id: str, session: DbSession, settings: AppSettings, caller: CurrentCaller) -> JSONResponse:
    return data_response(await users.get_user(session, settings, caller, id))


@router.delete("/users/{id}", response_model=EmptyResponse, summary="Delete a user and its tokens (tenant admins)")
async def delete_user(
    id: str,
    session: DbSession,
    caller: CurrentCaller,
    tenantName: Annotated[str | None, Query()] = None,
    forceDelete: Annotated[bool | None, Query()] = None,
) -> JSONResponse:
    await users.delete_user(session, caller, id)
    await session.commit()
    return empty_response()


@router.get(
    "/x/users/{id}/resources",
    response_model=DataEnvelope[list[UserResourceOut]],
    summary="Resources the user holds a role on (the user itself and tenant admins)",
)
async def get_user_resources(id: str, session: DbSession, caller: CurrentCaller) -> JSONResponse:
    return data_response(await users.read_roles(session, caller, id, role_bindings.user_resources))


@router.get(
    "/x/users/{id}/permissions",
    response_model=DataEnvelope[list[SubjectPermissionOut]],
    summary="The user's role bindings, including those through its teams (the user itself and tenant admins)",
)
async def get_user_permissions(id: str, session: DbSession, caller: CurrentCaller) -> JSONResponse:
    return data_response(await users.read_roles(session, caller, id, role_bindings.user_permissions))


@router.get(
    "/x/users/{id}/teams",
    response_model=DataEnvelope[list[UserTeamOut]],
    summary="The teams the user is on, with its roles there (the user itself and tenant admins)",
)
async def get_user_teams(id: str, session: DbSession, caller: CurrentCaller) -> JSONResponse:
    return data_response(await users.read_roles(session, caller, id, role_bindings.user_teams))
