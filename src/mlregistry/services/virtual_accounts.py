"""Virtual accounts (service identities) with explicit permissions, and their tokens (contract §8).

A virtual account acts as a `serviceaccount` subject. Its tokens are JWTs with `subjectType:
"serviceaccount"` (the truefoundry library never tries to refresh those) and are found by `jti`, so
the current one can be shown again (`GET .../token`) by signing the same claims once more.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from mlregistry.auth.subject import (
    RESOURCE_ML_REPO,
    RESOURCE_WORKSPACE,
    SUBJECT_SERVICE_ACCOUNT,
    Caller,
    virtual_account_principals,
)
from mlregistry.auth.tokens import build_claims, encode_token
from mlregistry.orm import VirtualAccount, VirtualAccountToken
from mlregistry.repositories import access as access_repo
from mlregistry.repositories import virtual_accounts as repo
from mlregistry.repositories.virtual_accounts import VirtualAccountFilters
from mlregistry.schemas.identity import VirtualAccountManifest
from mlregistry.schemas.manifests import manifest_to_wire
from mlregistry.services import audit
from mlregistry.services.access import GRANTABLE_ROLES, require_tenant_admin
from mlregistry.services.errors import Conflict, Invalid, NotFound, Unsupported
from mlregistry.services.identity import parse_expiration
from mlregistry.services.presenters import iso
from mlregistry.settings import Settings

RESOURCE_TYPE_ALIASES = {
    "ml-repo": RESOURCE_ML_REPO,
    "mlf-project": RESOURCE_ML_REPO,
    "workspace": RESOURCE_WORKSPACE,
}


def _not_found(reference: str) -> str:
    return f"Virtual account '{reference}' not found"


def _grants(manifest: VirtualAccountManifest) -> list[dict[str, Any]]:
    grants: list[dict[str, Any]] = []
    for index, permission in enumerate(manifest.permissions or []):
        resource_type = RESOURCE_TYPE_ALIASES.get(permission.resource_type)
        if resource_type is None:
            raise Invalid.field(
                ["body", "manifest", "permissions", index, "resource_type"],
                f"must be one of {', '.join(sorted(RESOURCE_TYPE_ALIASES))}",
            )
        ranks = GRANTABLE_ROLES[resource_type]
        if permission.role_id not in ranks:
            raise Invalid.field(
                ["body", "manifest", "permissions", index, "role_id"],
                f"must be one of {', '.join(ranks)} for a {permission.resource_type}",
            )
        grants.append(
            {
                "resource_type": resource_type,
                "resource": permission.resource_fqn,
                "role_id": permission.role_id,
                "rank": ranks[permission.role_id],
            }
        )
    return grants


def _token_claims(settings: Settings, account: VirtualAccount, token: VirtualAccountToken) -> dict[str, Any]:
    return build_claims(
        issuer=settings.token_issuer,
        subject_id=account.id,
        jti=token.jti,
        tenant_name=settings.tenant_name,
        username=account.name,
        email=None,
        subject_type=SUBJECT_SERVICE_ACCOUNT,
        expires_at=token.claim_expires_at,
        now=token.issued_at,
    )


def _signed(settings: Settings, account: VirtualAccount, token: VirtualAccountToken) -> str:
    return encode_token(_token_claims(settings, account, token), settings.signing_key)


async def _issue(session: AsyncSession, settings: Settings, account: VirtualAccount) -> str:
    now = datetime.now(UTC).replace(microsecond=0)
    claims = build_claims(
        issuer=settings.token_issuer,
        subject_id=account.id,
        jti="-",
        tenant_name=settings.tenant_name,
        username=account.name,
        email=None,
        subject_type=SUBJECT_SERVICE_ACCOUNT,
        expires_at=account.expires_at,
        now=now,
    )
    token = VirtualAccountToken(
        jti=str(uuid.uuid4()),
        virtual_account_id=account.id,
        issued_at=now,
        claim_expires_at=datetime.fromtimestamp(claims["exp"], UTC),
        expires_at=account.expires_at,
        created_at=datetime.now(UTC),  # full precision: orders tokens issued within one second
    )
    session.add(token)
    await session.flush()
    return _signed(settings, account, token)


def _is_expired(account: VirtualAccount) -> bool:
    return account.expires_at is not None and account.expires_at <= datetime.now(UTC)


def account_to_wire(account: VirtualAccount, tokens: list[VirtualAccountToken], tenant: str) -> dict[str, Any]:
    return {
        "id": account.id,
        "type": "virtual-account",
        "tenantName": tenant,
        "accountId": account.account_id,
        "manifest": account.manifest,
        "jwtId": tokens[0].jti if tokens else None,
        "jwts": [
            {
                "id": token.jti,
                "subjectType": SUBJECT_SERVICE_ACCOUNT,
                "subjectId": account.id,
                "expiry": iso(token.expires_at or token.claim_expires_at),
                "tokenType": "jwt",
                "createdAt": iso(token.created_at),
                "updatedAt": iso(token.created_at),
            }
            for token in tokens
        ],
        "roleIds": sorted({grant["role_id"] for grant in account.grants or []}),
        "createdBySubject": account.created_by_subject,
        "createdAt": iso(account.created_at),
        "updatedAt": iso(account.updated_at),
        "isExpired": _is_expired(account),
    }


async def apply_account(
    session: AsyncSession, settings: Settings, caller: Caller, manifest: VirtualAccountManifest, *, dry_run: bool
) -> dict[str, Any]:
    """Create (answering the first token once) or update a virtual account by name."""
    require_tenant_admin(caller, "manage virtual accounts")
    grants = _grants(manifest)
    expires_at = parse_expiration(manifest.expiration_date, ["body", "manifest", "expiration_date"])
    wire = manifest_to_wire(manifest)
    account_name = manifest.ownedBy.account if manifest.ownedBy and manifest.ownedBy.account else settings.tenant_name
    owner_team = manifest.ownedBy.team if manifest.ownedBy else None
    now = datetime.now(UTC)
    account = await repo.get_by_name(session, manifest.name)
    created = account is None
    if account is None:
        account = VirtualAccount(
            id=str(uuid.uuid4()),
            name=manifest.name,
            created_by_subject=caller.as_subject(),
            created_at=now,
        )
    account.account_id = account_name
    account.manifest = wire
    account.grants = grants
    account.owner_team = owner_team
    account.expires_at = expires_at
    account.updated_at = now
    if dry_run:
        return {"data": account_to_wire(account, [], settings.tenant_name)}
    if created:
        session.add(account)
        try:
            await session.flush()
        except IntegrityError as exc:
            raise Conflict(f"A virtual account named '{manifest.name}' already exists") from exc
        token = await _issue(session, settings, account)
        audit.note(session, caller, "create", "virtual-account", account.id, name=account.name)
        tokens = (await repo.tokens_of(session, [account.id]))[account.id]
        return {"data": account_to_wire(account, tokens, settings.tenant_name), "token": token}
    await session.flush()
    audit.note(session, caller, "update", "virtual-account", account.id, name=account.name)
    tokens = (await repo.tokens_of(session, [account.id]))[account.id]
    return {"data": account_to_wire(account, tokens, settings.tenant_name)}


async def _account(session: AsyncSession, caller: Caller, account_id: str) -> VirtualAccount:
    require_tenant_admin(caller, "manage virtual accounts")
    account = await repo.get(session, account_id)
    if account is None:
        raise NotFound(_not_found(account_id))
    return account


async def exists(session: AsyncSession, caller: Caller, name: str) -> bool:
    require_tenant_admin(caller, "manage virtual accounts")
    return await repo.get_by_name(session, name) is not None


async def get_account(session: AsyncSession, settings: Settings, caller: Caller, account_id: str) -> dict[str, Any]:
    account = await _account(session, caller, account_id)
    tokens = (await repo.tokens_of(session, [account.id]))[account.id]
    return account_to_wire(account, tokens, settings.tenant_name)


async def list_accounts(
    session: AsyncSession,
    settings: Settings,
    caller: Caller,
    filters: VirtualAccountFilters,
    *,
    offset: int,
    limit: int,
) -> tuple[list[dict[str, Any]], int]:
    require_tenant_admin(caller, "manage virtual accounts")
    filters.now = datetime.now(UTC)
    accounts, total = await repo.list_page(session, filters, offset=offset, limit=limit)
    tokens = await repo.tokens_of(session, [account.id for account in accounts])
    return [account_to_wire(account, tokens[account.id], settings.tenant_name) for account in accounts], total


async def current_token(session: AsyncSession, settings: Settings, caller: Caller, account_id: str) -> str:
    account = await _account(session, caller, account_id)
    now = datetime.now(UTC)
    live = [
        token
        for token in (await repo.tokens_of(session, [account.id]))[account.id]
        if token.expires_at is None or token.expires_at > now
    ]
    if not live:
        raise NotFound(f"Virtual account '{account.name}' has no live token; regenerate one")
    return _signed(settings, account, live[0])


async def regenerate_token(
    session: AsyncSession, settings: Settings, caller: Caller, account_id: str, grace_minutes: int
) -> str:
    """Issue a new token; the old ones keep working for `grace_minutes` (0: they stop at once)."""
    account = await _account(session, caller, account_id)
    now = datetime.now(UTC)
    await repo.shorten_tokens(session, account.id, now + timedelta(minutes=grace_minutes))
    token = await _issue(session, settings, account)
    audit.note(session, caller, "regenerate_token", "virtual-account", account.id, grace_period_minutes=grace_minutes)
    return token


async def revoke_jwt(session: AsyncSession, caller: Caller, account_id: str, jwt_id: str) -> None:
    account = await _account(session, caller, account_id)
    token = await session.get(VirtualAccountToken, jwt_id)
    if token is None or token.virtual_account_id != account.id or token.revoked_at is not None:
        raise NotFound(f"Token '{jwt_id}' of virtual account '{account.name}' not found")
    token.revoked_at = datetime.now(UTC)
    await session.flush()
    audit.note(session, caller, "revoke", "virtual-account-token", jwt_id, virtual_account_id=account.id)


async def delete_account(session: AsyncSession, caller: Caller, account_id: str) -> None:
    """Delete the account; its tokens and collaborator entries go with it."""
    account = await _account(session, caller, account_id)
    await access_repo.remove_principal(session, sorted(virtual_account_principals(account.name)))
    await repo.delete_account(session, account.id)
    audit.note(session, caller, "delete", "virtual-account", account.id, name=account.name)


async def sync_to_secret_store(session: AsyncSession, caller: Caller, account_id: str) -> NoReturn:
    """Refuse, for an account the caller may manage: this server keeps tokens itself and writes them nowhere."""
    account = await _account(session, caller, account_id)
    raise Unsupported(
        f"This server has no external secret store to sync virtual account '{account.name}' to. Read the "
        f"current token with GET /api/ml/v1/virtual-accounts/{account.id}/token and store it yourself; after "
        f"POST /api/ml/v1/virtual-accounts/{account.id}/regenerate-token, store the new one."
    )
