"""Workspaces and their members. Roles go through the one permission mechanism (services/access.py)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from mlregistry.auth.subject import Caller, normalise_principal
from mlregistry.orm import Workspace
from mlregistry.orm.base import utcnow
from mlregistry.repositories import workspaces as queries
from mlregistry.services.access import Role, authorize, workspace_scope
from mlregistry.services.errors import Conflict, NotFound
from mlregistry.services.presenters import workspace_members_to_wire, workspace_to_wire

BUILT_IN_WORKSPACES = frozenset({"default"})


def workspace_not_found(name: str) -> str:
    return f"Workspace '{name}' not found"


async def workspace_for(session: AsyncSession, caller: Caller, name: str, needed: Role) -> Workspace:
    """The workspace if the caller holds `needed` on it; NotFound if it is missing or unreadable."""
    found = await queries.get_by_name(session, workspace_scope(caller), name)
    return authorize(caller, found, needed, not_found=workspace_not_found(name))


async def create_workspace(
    session: AsyncSession, caller: Caller, *, name: str, description: str | None
) -> dict[str, Any]:
    if await queries.name_taken(session, name):
        raise Conflict(f"Workspace '{name}' already exists")
    now = utcnow()
    workspace = Workspace(
        id=str(uuid.uuid4()),
        name=name,
        description=description,
        created_by_subject=caller.as_subject(),
        created_by_subject_id=caller.subject_id,
        created_at=now,
        updated_at=now,
    )
    try:
        await queries.add(session, workspace)
    except IntegrityError as exc:
        raise Conflict(f"Workspace '{name}' already exists") from exc
    return workspace_to_wire(workspace)


async def get_workspace(session: AsyncSession, caller: Caller, name: str) -> dict[str, Any]:
    return workspace_to_wire(await workspace_for(session, caller, name, Role.VIEWER))


async def list_workspaces(
    session: AsyncSession, caller: Caller, *, sort: str, offset: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    workspaces, total = await queries.list_page(session, workspace_scope(caller), sort=sort, offset=offset, limit=limit)
    return [workspace_to_wire(workspace) for workspace in workspaces], total


async def update_workspace(
    session: AsyncSession, caller: Caller, name: str, *, description: str | None
) -> dict[str, Any]:
    workspace = await workspace_for(session, caller, name, Role.ADMIN)
    if description is not None:
        workspace.description = description
    workspace.updated_at = utcnow()
    await session.flush()
    return workspace_to_wire(workspace)


async def delete_workspace(session: AsyncSession, caller: Caller, name: str) -> None:
    workspace = await workspace_for(session, caller, name, Role.ADMIN)
    if workspace.name in BUILT_IN_WORKSPACES:
        raise Conflict(f"Workspace '{name}' is built in and cannot be deleted")
    if await queries.holds_models(session, workspace.id):
        raise Conflict(f"Workspace '{name}' still holds models; delete them first")
    try:
        await queries.delete_by_id(session, workspace.id)
    except IntegrityError as exc:  # a model was created concurrently
        raise Conflict(f"Workspace '{name}' still holds models; delete them first") from exc


# --- members --------------------------------------------------------------------------------


async def list_members(session: AsyncSession, caller: Caller, name: str) -> list[dict[str, Any]]:
    workspace = await workspace_for(session, caller, name, Role.VIEWER)
    return workspace_members_to_wire(await queries.list_members(session, workspace.id))


async def set_member_roles(
    session: AsyncSession, caller: Caller, name: str, principal: str, roles: list[str], *, must_exist: bool
) -> dict[str, Any]:
    """Grant `roles` to `principal` in place of the roles it held (create, or update with `must_exist`)."""
    workspace = await workspace_for(session, caller, name, Role.ADMIN)
    normalised = normalise_principal(principal)
    if must_exist and not await queries.member_roles(session, workspace.id, normalised):
        raise NotFound(f"Principal '{principal}' is not a member of workspace '{name}'")
    await queries.replace_member_roles(session, workspace.id, normalised, sorted(set(roles)), utcnow())
    return workspace_members_to_wire(await queries.member_roles(session, workspace.id, normalised))[0]


async def remove_member(session: AsyncSession, caller: Caller, name: str, principal: str) -> None:
    workspace = await workspace_for(session, caller, name, Role.ADMIN)
    if not await queries.remove_member(session, workspace.id, normalise_principal(principal)):
        raise NotFound(f"Principal '{principal}' is not a member of workspace '{name}'")
