"""Request-scoped dependencies: settings, the database session, the authenticated caller."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from mlregistry.auth.subject import Caller
from mlregistry.repositories.database import Database
from mlregistry.services import identity
from mlregistry.services.errors import Unauthenticated
from mlregistry.settings import Settings
from mlregistry.storage import StorageRegistry

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

bearer_scheme = HTTPBearer(
    auto_error=False, description="A token issued by mlregistry (`mlregistry admin create-token`)."
)


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session, one transaction per request. Writers commit explicitly before answering."""
    database = get_database(request)
    async with database.session(write=request.method not in READ_METHODS) as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise


AppSettings = Annotated[Settings, Depends(get_settings)]
DbSession = Annotated[AsyncSession, Depends(get_session)]


async def get_caller(
    session: DbSession,
    settings: AppSettings,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Caller:
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise Unauthenticated("Missing bearer token: send `Authorization: Bearer <token>`")
    return await identity.authenticate(session, settings, credentials.credentials.strip())


CurrentCaller = Annotated[Caller, Depends(get_caller)]


def get_storages(request: Request) -> StorageRegistry:
    storages: StorageRegistry = request.app.state.storages
    return storages


def get_base_url(request: Request) -> str:
    """The URL clients reached this server at: local signed URLs point back to it."""
    return str(request.base_url).rstrip("/")


AppStorages = Annotated[StorageRegistry, Depends(get_storages)]
BaseUrl = Annotated[str, Depends(get_base_url)]
