"""Request-scoped dependencies: settings, the database session, the authenticated caller."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from fastapi.security import HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from mlregistry.api.middleware import OPEN_SESSIONS
from mlregistry.auth.cache import CallerCache
from mlregistry.auth.oidc import OidcVerifier
from mlregistry.auth.subject import Caller
from mlregistry.repositories.database import Database
from mlregistry.services import identity
from mlregistry.services.errors import Unauthenticated
from mlregistry.settings import Settings
from mlregistry.storage import StorageRegistry

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])
# Credentials are accepted in the Authorization header only: query strings end up in logs and histories.
QUERY_CREDENTIAL_NAMES = frozenset({"access_token", "token", "api_key", "apikey", "apiKey", "jwt", "id_token"})


class BearerToken(HTTPBearer):
    """The bearer scheme of the OpenAPI page; per request, the token of an `Authorization: Bearer <token>`
    header or None (FastAPI's own builds a validated credentials model on every request)."""

    async def __call__(self, request: Request) -> str | None:  # type: ignore[override]
        scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
        token = token.strip()
        return token if token and scheme.lower() == "bearer" else None


bearer_scheme = BearerToken(
    auto_error=False, description="A token issued by mlregistry (`mlregistry admin create-token`)."
)


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


READS_ONLY_FLAG = "_mlregistry_reads_only"


def reads_only(endpoint: Endpoint) -> Endpoint:
    """Mark a POST route that only reads (a search with a body): it gets a read session, so that on SQLite
    it neither takes the database's write lock nor waits in the process's queue of writers."""
    setattr(endpoint, READS_ONLY_FLAG, True)
    return endpoint


async def get_session(request: Request) -> AsyncSession:
    """One session, one transaction per request. Writers commit explicitly before answering.

    The request middleware closes it once the answer has been sent (or has failed), which rolls back
    whatever was not committed. A plain dependency, not one with `yield`: FastAPI wraps each of those in
    a cancel scope and an exit stack, about 3% of a version create's CPU (py-spy)."""
    opened: list[Any] | None = request.scope.get(OPEN_SESSIONS)
    if opened is None:
        raise RuntimeError("a database session needs the request middleware, which closes it")
    reads = request.method in READ_METHODS or getattr(request.scope.get("endpoint"), READS_ONLY_FLAG, False)
    context = get_database(request).session(write=not reads)
    session = await context.__aenter__()
    opened.append(context)
    return session


AppSettings = Annotated[Settings, Depends(get_settings)]
DbSession = Annotated[AsyncSession, Depends(get_session)]


def get_oidc_verifier(request: Request) -> OidcVerifier | None:
    verifier: OidcVerifier | None = request.app.state.oidc
    return verifier


async def get_caller(
    request: Request,
    session: DbSession,
    settings: AppSettings,
    token: Annotated[str | None, Depends(bearer_scheme)],
) -> Caller:
    if QUERY_CREDENTIAL_NAMES & request.query_params.keys():
        raise Unauthenticated("Tokens are not accepted in the query string: send `Authorization: Bearer <token>`")
    if token is None:
        raise Unauthenticated("Missing bearer token: send `Authorization: Bearer <token>`")
    return await authenticate_token(request, session, settings, token)


async def authenticate_token(request: Request, session: AsyncSession, settings: Settings, token: str) -> Caller:
    """The caller a token stands for: the one way every route (API or console) turns a token into a Caller."""
    oidc = get_oidc_verifier(request)
    cache: CallerCache | None = getattr(request.app.state, "caller_cache", None)
    try:
        caller = await identity.authenticate(session, settings, token, oidc, cache)
    except identity.UnknownExternalUser as unknown:
        if oidc is None or not settings.oidc_auto_create:
            raise
        # First sight of a verified external identity: end the request's transaction (on SQLite it may hold
        # the write lock), register the user in its own short write transaction, then start over.
        await session.rollback()
        async with get_database(request).session(write=True) as provisioning:
            await identity.provision_external_user(provisioning, oidc.issuer, unknown.claims)
            await provisioning.commit()
        caller = await identity.authenticate(session, settings, token, oidc, cache)
    request.state.subject_id = caller.subject_id  # for the access log
    return caller


CurrentCaller = Annotated[Caller, Depends(get_caller)]


async def get_storages(request: Request) -> StorageRegistry:
    storages: StorageRegistry = request.app.state.storages
    return storages


async def get_base_url(request: Request) -> str:
    """The URL clients reached this server at: local signed URLs point back to it."""
    return str(request.base_url).rstrip("/")


AppStorages = Annotated[StorageRegistry, Depends(get_storages)]
BaseUrl = Annotated[str, Depends(get_base_url)]
