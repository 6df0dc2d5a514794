"""Personal access tokens (contract §8). The token is in the creation answer only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from mlregistry.api.deps import AppSettings, CurrentCaller, DbSession
from mlregistry.api.docs import ERROR_RESPONSES
from mlregistry.api.paging import PageParams, empty_response, list_response
from mlregistry.api.responses import JSONResponse
from mlregistry.schemas.common import EmptyResponse, ListEnvelope
from mlregistry.schemas.identity import (
    CreatePersonalAccessTokenForUserRequest,
    CreatePersonalAccessTokenRequest,
    RevokeAllTokensRequest,
    TokenOut,
    VirtualAccountOut,
)
from mlregistry.services import personal_access_tokens as tokens

router = APIRouter(tags=["Personal access tokens"], responses=ERROR_RESPONSES)


@router.get(
    "/personal-access-tokens",
    response_model=ListEnvelope[VirtualAccountOut],
    summary="List the caller's tokens (never their secrets)",
)
async def list_tokens(
    session: DbSession,
    settings: AppSettings,
    caller: CurrentCaller,
    page: PageParams,
    nameSearchQuery: Annotated[str | None, Query(description="Prefix of the token name")] = None,
) -> JSONResponse:
    items, total = await tokens.list_tokens(
        session, settings, caller, name_query=nameSearchQuery, offset=page.offset, limit=page.limit
    )
    return list_response(items, total, page)


@router.post(
    "/personal-access-tokens",
    response_model=TokenOut,
    summary="Create a token for the caller; the answer is the only copy",
)
async def create_token(
    body: CreatePersonalAccessTokenRequest, session: DbSession, settings: AppSettings, caller: CurrentCaller
) -> JSONResponse:
    token = await tokens.create_token(
        session, settings, caller, name=body.name, expiration_date=body.expirationDate, token_type=body.tokenType
    )
    await session.commit()
    return JSONResponse({"token": token})


@router.post(
    "/personal-access-tokens/for-user",
    response_model=TokenOut,
    summary="Create a token for another user (tenant admins)",
)
async def create_token_for_user(
    body: CreatePersonalAccessTokenForUserRequest, session: DbSession, settings: AppSettings, caller: CurrentCaller
) -> JSONResponse:
    token = await tokens.create_token_for_user(
        session,
        settings,
        caller,
        name=body.name,
        email=body.userEmail,
        expiration_date=body.expirationDate,
        token_type=body.tokenType,
    )
    await session.commit()
    return JSONResponse({"token": token})


@router.delete(
    "/personal-access-tokens/revoke/all", response_model=EmptyResponse, summary="Revoke all of a user's tokens"
)
async def revoke_all(body: RevokeAllTokensRequest, session: DbSession, caller: CurrentCaller) -> JSONResponse:
    await tokens.revoke_all(session, caller, body.email)
    await session.commit()
    return empty_response()


@router.delete("/personal-access-tokens/{id}", response_model=EmptyResponse, summary="Revoke one token")
async def revoke_token(id: str, session: DbSession, caller: CurrentCaller) -> JSONResponse:
    await tokens.revoke_token(session, caller, id)
    await session.commit()
    return empty_response()
