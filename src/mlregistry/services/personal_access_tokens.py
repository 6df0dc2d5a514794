"""Personal access tokens (contract §8 `personal_access_tokens`). The secret is returned once, at
creation; only its `jti` (JWT) or its sha256 (opaque `tfy_` key) is stored."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from mlregistry.auth.subject import Caller
from mlregistry.orm import Token, User
from mlregistry.repositories import identity as repo
from mlregistry.services import audit
from mlregistry.services.access import Role, authorize_user, require_human, require_tenant_admin
from mlregistry.services.errors import Conflict, NotFound
from mlregistry.services.identity import (
    PERSONAL_TOKEN_KINDS,
    TOKEN_KIND_PAT,
    TOKEN_TYPE_JWT,
    issue_token,
    parse_expiration,
    user_caller,
)
from mlregistry.services.presenters import iso
from mlregistry.services.users import user_by_email
from mlregistry.settings import Settings


def token_to_wire(token: Token, owner: User, tenant: str) -> dict[str, Any]:
    """A PAT as the SDK lists it (the `VirtualAccount` shape), never with its secret."""
    # The SDK parses list items as VirtualAccount, whose manifest `type` is the literal "virtual-account".
    manifest: dict[str, Any] = {
        "name": token.name,
        "type": "virtual-account",
        "user_fqn": f"user:{owner.email or owner.slug}",
    }
    if token.expires_at is not None:
        manifest["expiration_date"] = iso(token.expires_at)
    created_at = iso(token.created_at)
    return {
        "id": token.jti,
        "type": "pat",
        "tenantName": tenant,
        "accountId": tenant,
        "manifest": manifest,
        "jwtId": token.jti,
        "createdBySubject": token.created_by_subject or user_caller(owner).as_subject(),
        "createdAt": created_at,
        "updatedAt": created_at,
        "isExpired": token.expires_at is not None and token.expires_at <= datetime.now(UTC),
        "metadata": {"kind": token.kind, "tokenType": "opaque" if token.secret_hash else "jwt"},
    }


async def _caller_user(session: AsyncSession, caller: Caller) -> User:
    require_human(caller, "own personal access tokens")
    user = await repo.get_user(session, caller.subject_id)
    if user is None:  # an external identity is always mapped to a user; this is a deleted one
        raise NotFound("User not found")
    return user


async def list_tokens(
    session: AsyncSession, settings: Settings, caller: Caller, *, name_query: str | None, offset: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    user = await _caller_user(session, caller)
    tokens, total = await repo.list_tokens(
        session, user.id, PERSONAL_TOKEN_KINDS, name_prefix=name_query, offset=offset, limit=limit
    )
    return [token_to_wire(token, user, settings.tenant_name) for token in tokens], total


async def list_tokens_of_user(
    session: AsyncSession, caller: Caller, user: User, *, offset: int, limit: int
) -> tuple[list[Token], int]:
    """A user's live personal tokens: for the user themself and tenant admins (the command line is one)."""
    not_found = f"User '{user.slug}' not found"
    authorize_user(caller, user.id, Role.VIEWER, not_found=not_found)
    return await repo.list_tokens(session, user.id, PERSONAL_TOKEN_KINDS, name_prefix=None, offset=offset, limit=limit)


async def _create(
    session: AsyncSession,
    settings: Settings,
    caller: Caller,
    user: User,
    *,
    name: str,
    expiration_date: str | None,
    token_type: str | None,
) -> str:
    expires_at = parse_expiration(expiration_date, ["body", "expirationDate"])
    if await repo.active_token_named(session, user.id, name) is not None:
        raise Conflict(f"A personal access token named '{name}' already exists")
    issued = await issue_token(
        session,
        settings,
        user,
        name=name,
        expires_at=expires_at,
        kind=TOKEN_KIND_PAT,
        token_type=token_type or TOKEN_TYPE_JWT,
        actor=caller,
    )
    return issued.token


async def create_token(
    session: AsyncSession,
    settings: Settings,
    caller: Caller,
    *,
    name: str,
    expiration_date: str | None,
    token_type: str | None,
) -> str:
    user = await _caller_user(session, caller)
    return await _create(
        session, settings, caller, user, name=name, expiration_date=expiration_date, token_type=token_type
    )


async def create_token_for_user(
    session: AsyncSession,
    settings: Settings,
    caller: Caller,
    *,
    name: str,
    email: str,
    expiration_date: str | None,
    token_type: str | None,
) -> str:
    require_tenant_admin(caller, "create tokens for other users")
    user = await user_by_email(session, email)
    return await _create(
        session, settings, caller, user, name=name, expiration_date=expiration_date, token_type=token_type
    )


async def revoke_token(session: AsyncSession, caller: Caller, token_id: str) -> None:
    """Revoke one token: its owner or a tenant admin. Anyone else is told it does not exist."""
    not_found = f"Personal access token '{token_id}' not found"
    token = await repo.get_token(session, token_id)
    if token is None or token.kind not in PERSONAL_TOKEN_KINDS or token.revoked_at is not None:
        raise NotFound(not_found)
    authorize_user(caller, token.user_id, Role.VIEWER, not_found=not_found)
    token.revoked_at = datetime.now(UTC)
    await session.flush()
    audit.note(session, caller, "revoke", "personal-access-token", token.jti, name=token.name, user_id=token.user_id)


async def revoke_all(session: AsyncSession, caller: Caller, email: str) -> None:
    user = await user_by_email(session, email)
    authorize_user(caller, user.id, Role.VIEWER, not_found=f"User '{email}' not found")
    count = await repo.revoke_tokens_of_user(session, user.id, PERSONAL_TOKEN_KINDS, datetime.now(UTC))
    audit.note(session, caller, "revoke_all", "user", user.id, revoked=count)
