"""Users as tenant administrators manage them (contract §8 `users`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, NoReturn
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sqlalchemy.ext.asyncio import AsyncSession

from mlregistry.auth.subject import Caller
from mlregistry.orm import User
from mlregistry.repositories import access as access_repo
from mlregistry.repositories import identity as repo
from mlregistry.repositories import teams as team_repo
from mlregistry.schemas.identity import RegisterUserRequest
from mlregistry.services import audit
from mlregistry.services.access import Role, authorize_user, require_tenant_admin
from mlregistry.services.errors import Conflict, Forbidden, Invalid, NotFound, Unsupported
from mlregistry.services.identity import create_user
from mlregistry.services.presenters import iso
from mlregistry.settings import Settings

RolesView = Callable[[AsyncSession, User], Awaitable[list[dict[str, Any]]]]
ROLE_TENANT_ADMIN = "tenant-admin"
ROLE_TENANT_MEMBER = "tenant-member"
TENANT_ROLES = (ROLE_TENANT_ADMIN, ROLE_TENANT_MEMBER)


def user_to_wire(user: User, tenant: str) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email or user.slug,
        "tenantName": tenant,
        "metadata": {"displayName": user.display_name or user.slug, "userObject": {"username": user.slug}},
        "roles": [ROLE_TENANT_ADMIN if user.is_admin else ROLE_TENANT_MEMBER],
        "accounts": [{"accountId": tenant, "name": tenant}],
        "active": user.active,
        "isEditable": True,
        "createdAt": iso(user.created_at),
        "updatedAt": iso(user.updated_at),
    }


def _not_found(reference: str) -> str:
    return f"User '{reference}' not found"


async def list_users(
    session: AsyncSession,
    settings: Settings,
    caller: Caller,
    *,
    query: str | None,
    show_invalid: bool,
    offset: int,
    limit: int,
) -> tuple[list[dict[str, Any]], int]:
    """Tenant admins list everyone; anyone else sees only themselves."""
    users, total = await repo.list_users(
        session,
        query=query,
        include_inactive=show_invalid,
        only_user_id=None if caller.is_tenant_admin else caller.subject_id,
        offset=offset,
        limit=limit,
    )
    return [user_to_wire(user, settings.tenant_name) for user in users], total


async def _readable_user(session: AsyncSession, caller: Caller, user_id: str) -> User:
    """The user itself and tenant admins may read a user's roles and teams; anyone else gets 404."""
    authorize_user(caller, user_id, Role.VIEWER, not_found=_not_found(user_id))
    user = await repo.get_user(session, user_id)
    if user is None:
        raise NotFound(_not_found(user_id))
    return user


async def get_user(session: AsyncSession, settings: Settings, caller: Caller, user_id: str) -> dict[str, Any]:
    return user_to_wire(await _readable_user(session, caller, user_id), settings.tenant_name)


async def user_by_email(session: AsyncSession, email: str) -> User:
    user = await repo.get_user_by_email(session, email.lower())
    if user is None:
        raise NotFound(_not_found(email))
    return user


async def register_user(session: AsyncSession, caller: Caller, request: RegisterUserRequest) -> None:
    require_tenant_admin(caller, "register users")
    email = request.email.lower()
    if await repo.get_user_by_email(session, email) is not None or await repo.get_user_by_slug(session, email):
        if request.skipIfUserExists:
            return
        raise Conflict(f"A user with email '{email}' already exists")
    if request.dryRun:
        return
    await create_user(session, slug=email, email=email, actor=caller)


def invite_link(accept_invite_client_url: str, email: str) -> str:
    """The client's accept-invite URL with the invitee's e-mail added to its query."""
    try:
        parts = urlsplit(accept_invite_client_url)
    except ValueError as exc:  # e.g. an unclosed IPv6 bracket
        raise Invalid.field(["body", "acceptInviteClientUrl"], f"is not a valid URL ({exc})") from exc
    query = [*parse_qsl(parts.query, keep_blank_values=True), ("email", email)]
    return urlunsplit(parts._replace(query=urlencode(query)))


async def invite_user(
    session: AsyncSession, settings: Settings, caller: Caller, email: str, accept_invite_client_url: str
) -> dict[str, Any]:
    """Create a tenant member with this e-mail and answer the link to pass on (this server sends no e-mail).

    The invitee signs in with a token a tenant admin creates for them (or through OIDC, when configured).
    """
    require_tenant_admin(caller, "invite users")
    email = email.lower()
    link = invite_link(accept_invite_client_url, email)
    if await repo.get_user_by_email(session, email) is not None or await repo.get_user_by_slug(session, email):
        raise Conflict(f"A user with email '{email}' already exists")
    user = await create_user(session, slug=email, email=email, actor=caller)
    audit.note(session, caller, "invite", "user", user.id, email=email, link=link)
    return {"link": link, "data": user_to_wire(user, settings.tenant_name)}


def refuse_password_change() -> NoReturn:
    raise Unsupported(
        "This server has no passwords: users authenticate with tokens (or an OIDC provider). To replace a "
        "credential, create a new personal access token (POST /api/ml/v1/personal-access-tokens, or "
        "`mlregistry admin create-token --user NAME` on the server) and revoke the old one "
        "(DELETE /api/ml/v1/personal-access-tokens/{id})."
    )


async def read_roles(session: AsyncSession, caller: Caller, user_id: str, view: RolesView) -> list[dict[str, Any]]:
    """One of `role_bindings`' views of a user (resources, permissions, teams), for whom may read the user."""
    return await view(session, await _readable_user(session, caller, user_id))


async def update_roles(session: AsyncSession, caller: Caller, email: str, roles: list[str]) -> None:
    require_tenant_admin(caller, "change user roles")
    for index, role in enumerate(roles):
        if role not in TENANT_ROLES:
            raise Invalid.field(["body", "roles", index], f"must be one of {', '.join(TENANT_ROLES)}")
    user = await user_by_email(session, email)
    make_admin = ROLE_TENANT_ADMIN in roles
    if user.id == caller.subject_id and not make_admin:
        raise Forbidden("You cannot remove your own tenant-admin role")
    user.is_admin = make_admin
    await session.flush()
    audit.note(session, caller, "update_roles", "user", user.id, roles=sorted(set(roles)))


async def set_active(session: AsyncSession, caller: Caller, email: str, *, active: bool) -> None:
    require_tenant_admin(caller, "activate or deactivate users")
    await set_user_active(session, caller, await user_by_email(session, email), active=active)


async def set_user_active(session: AsyncSession, caller: Caller, user: User, *, active: bool) -> None:
    """A deactivated user's tokens stop working at once; activating gives them back."""
    require_tenant_admin(caller, "activate or deactivate users")
    if user.id == caller.subject_id and not active:
        raise Forbidden("You cannot deactivate yourself")
    user.active = active
    await session.flush()
    audit.note(session, caller, "activate" if active else "deactivate", "user", user.id)


async def delete_user(session: AsyncSession, caller: Caller, user_id: str) -> None:
    """Delete a user with its tokens, collaborator entries and team memberships (a later namesake inherits nothing)."""
    require_tenant_admin(caller, "delete users")
    if user_id == caller.subject_id:
        raise Forbidden("You cannot delete yourself")
    user = await repo.get_user(session, user_id)
    if user is None:
        raise NotFound(_not_found(user_id))
    principals = [f"user:{user.slug}"] + ([f"user:{user.email}"] if user.email else [])
    await access_repo.remove_principal(session, principals)
    if user.email:
        await team_repo.remove_email(session, user.email)
    await repo.delete_user(session, user.id)
    audit.note(session, caller, "delete", "user", user.id, slug=user.slug)
