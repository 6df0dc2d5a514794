"""Virtual accounts (contract §8): service identities with explicit permissions; tenant admins manage them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from mlregistry.api.deps import AppSettings, CurrentCaller, DbSession
from mlregistry.api.docs import ERROR_RESPONSES, UNSUPPORTED_RESPONSE
from mlregistry.api.paging import PageParams, data_response, empty_response, list_response, split_repeated
from mlregistry.api.responses import JSONResponse
from mlregistry.repositories.virtual_accounts import VirtualAccountFilters
from mlregistry.schemas.common import DataEnvelope, EmptyResponse, HttpError, ListEnvelope
from mlregistry.schemas.identity import (
    ApplyVirtualAccountRequest,
    ExistsOut,
    RegenerateTokenRequest,
    TokenOut,
    VirtualAccountApplied,
    VirtualAccountOut,
)
from mlregistry.services import virtual_accounts

router = APIRouter(tags=["Virtual accounts"], responses=ERROR_RESPONSES)


@router.get("/virtual-accounts", response_model=ListEnvelope[VirtualAccountOut], summary="List virtual accounts")
async def list_accounts(
    session: DbSession,
    settings: AppSettings,
    caller: CurrentCaller,
    page: PageParams,
    nameSearchQuery: Annotated[str | None, Query(description="Prefix of the name")] = None,
    ownedByTeams: Annotated[list[str] | None, Query(description="Owning team names")] = None,
    isExpired: Annotated[bool | None, Query()] = None,
    filter: Annotated[str | None, Query(description="Accepted for compatibility; not applied")] = None,
) -> JSONResponse:
    filters = VirtualAccountFilters(
        name_prefix=nameSearchQuery,
        owned_by_teams=split_repeated(ownedByTeams) if ownedByTeams is not None else None,
        is_expired=isExpired,
    )
    items, total = await virtual_accounts.list_accounts(
        session, settings, caller, filters, offset=page.offset, limit=page.limit
    )
    return list_response(items, total, page)


@router.put(
    "/virtual-accounts",
    response_model=VirtualAccountApplied,
    summary="Create or update a virtual account (the token is answered on creation)",
)
async def apply_account(
    body: ApplyVirtualAccountRequest, session: DbSession, settings: AppSettings, caller: CurrentCaller
) -> JSONResponse:
    result = await virtual_accounts.apply_account(session, settings, caller, body.manifest, dry_run=body.dryRun)
    await session.commit()
    return JSONResponse(result)


@router.get(
    "/virtual-accounts/exists", response_model=ExistsOut, summary="Whether a virtual account with this name exists"
)
async def account_exists(
    session: DbSession, caller: CurrentCaller, name: Annotated[str, Query(min_length=1)]
) -> JSONResponse:
    return JSONResponse({"exists": await virtual_accounts.exists(session, caller, name)})


@router.get("/virtual-accounts/{id}", response_model=DataEnvelope[VirtualAccountOut], summary="Get a virtual account")
async def get_account(id: str, session: DbSession, settings: AppSettings, caller: CurrentCaller) -> JSONResponse:
    return data_response(await virtual_accounts.get_account(session, settings, caller, id))


@router.delete(
    "/virtual-accounts/{id}", response_model=EmptyResponse, summary="Delete a virtual account and its tokens"
)
async def delete_account(id: str, session: DbSession, caller: CurrentCaller) -> JSONResponse:
    await virtual_accounts.delete_account(session, caller, id)
    await session.commit()
    return empty_response()


@router.get("/virtual-accounts/{id}/token", response_model=TokenOut, summary="The account's current token")
async def get_token(id: str, session: DbSession, settings: AppSettings, caller: CurrentCaller) -> JSONResponse:
    return JSONResponse({"token": await virtual_accounts.current_token(session, settings, caller, id)})


@router.post(
    "/virtual-accounts/{id}/regenerate-token",
    response_model=TokenOut,
    summary="Issue a new token; old ones live for the grace period",
)
async def regenerate_token(
    id: str, body: RegenerateTokenRequest, session: DbSession, settings: AppSettings, caller: CurrentCaller
) -> JSONResponse:
    token = await virtual_accounts.regenerate_token(session, settings, caller, id, body.gracePeriodInMinutes)
    await session.commit()
    return JSONResponse({"token": token})


@router.delete("/virtual-accounts/{id}/jwt/{jwt_id}", response_model=EmptyResponse, summary="Revoke one token")
async def revoke_jwt(id: str, jwt_id: str, session: DbSession, caller: CurrentCaller) -> JSONResponse:
    await virtual_accounts.revoke_jwt(session, caller, id, jwt_id)
    await session.commit()
    return empty_response()


@router.post(
    "/virtual-accounts/{id}/sync-to-secret-store",
    summary="Refused: this server has no external secret store (read the token with GET .../token)",
    status_code=400,
    response_model=HttpError,
    responses=UNSUPPORTED_RESPONSE,
)
async def sync_to_secret_store(
    id: str,
    session: DbSession,
    caller: CurrentCaller,
    force: Annotated[bool, Query(description="Accepted for compatibility; every call is refused")] = False,
) -> JSONResponse:
    await virtual_accounts.sync_to_secret_store(session, caller, id)
