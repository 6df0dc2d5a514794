"""Teams (contract §8 `teams`): named sets of e-mails that can be collaborators on ML repos (`team:<name>`)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from mlregistry.auth.subject import SUBJECT_USER, Caller
from mlregistry.orm import Team
from mlregistry.repositories import access as access_repo
from mlregistry.repositories import teams as repo
from mlregistry.schemas.identity import TeamManifest
from mlregistry.schemas.manifests import manifest_to_wire
from mlregistry.services import audit, role_bindings
from mlregistry.services.access import Role, authorize_team, require_tenant_admin
from mlregistry.services.errors import Conflict, NotFound
from mlregistry.services.presenters import iso
from mlregistry.settings import Settings


def _not_found(reference: str) -> str:
    return f"Team '{reference}' not found"


def team_to_wire(team: Team, tenant: str) -> dict[str, Any]:
    return {
        "id": team.id,
        "description": team.manifest.get("description") or "",
        "tenantName": tenant,
        "accountId": team.account_id,
        "createdBySubject": team.created_by_subject,
        "members": list(team.manifest.get("members") or []),
        "createdAt": iso(team.created_at),
        "updatedAt": iso(team.updated_at),
        "manifest": team.manifest,
        "isEditable": True,
    }


async def _authorized(session: AsyncSession, caller: Caller, team: Team | None, needed: Role, reference: str) -> Team:
    if team is None:
        raise NotFound(_not_found(reference))
    membership = await repo.membership(session, team.id, caller.email)
    authorize_team(
        caller,
        is_member=membership is not None and membership.is_member,
        is_manager=membership is not None and membership.is_manager,
        needed=needed,
        not_found=_not_found(reference),
    )
    return team


async def apply_team(
    session: AsyncSession, settings: Settings, caller: Caller, manifest: TeamManifest, *, dry_run: bool
) -> dict[str, Any]:
    """Tenant admins create teams; a team's managers (and tenant admins) change its members."""
    members = list(dict.fromkeys(email.lower() for email in manifest.members))
    managers = list(dict.fromkeys(email.lower() for email in manifest.managers or []))
    manifest.members = members
    if manifest.managers is not None:
        manifest.managers = managers
    wire = manifest_to_wire(manifest)
    account_id = manifest.ownedBy.account if manifest.ownedBy else settings.tenant_name
    now = datetime.now(UTC)
    team = await repo.get_by_name(session, manifest.name)
    created = team is None
    if team is None:
        require_tenant_admin(caller, "create teams")
        team = Team(id=str(uuid.uuid4()), name=manifest.name, created_by_subject=caller.as_subject(), created_at=now)
    else:
        await _authorized(session, caller, team, Role.EDITOR, manifest.name)
    team.manifest = wire
    team.account_id = account_id
    team.updated_at = now
    if dry_run:
        return team_to_wire(team, settings.tenant_name)
    if created:
        session.add(team)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict(f"A team named '{manifest.name}' already exists") from exc
    await repo.replace_members(session, team.id, members, managers)
    audit.note(session, caller, "create" if created else "update", "team", team.id, name=team.name, members=members)
    return team_to_wire(team, settings.tenant_name)


async def list_teams(
    session: AsyncSession,
    settings: Settings,
    caller: Caller,
    *,
    role: str | None,
    include_membership: bool,
    offset: int,
    limit: int,
) -> tuple[list[dict[str, Any]], int]:
    """Tenant admins see every team; others the teams they manage (and belong to, with includeMembership)."""
    managed_only = role == "manager" and not include_membership
    teams, total = await repo.list_for(
        session,
        email=caller.email,
        managed_only=managed_only,
        everything=caller.is_tenant_admin,
        offset=offset,
        limit=limit,
    )
    return [team_to_wire(team, settings.tenant_name) for team in teams], total


async def get_team(session: AsyncSession, settings: Settings, caller: Caller, team_id: str) -> dict[str, Any]:
    team = await _authorized(session, caller, await repo.get(session, team_id), Role.VIEWER, team_id)
    return team_to_wire(team, settings.tenant_name)


async def team_permissions(session: AsyncSession, caller: Caller, team_id: str) -> list[dict[str, Any]]:
    """The roles the team holds on ML repos and workspaces (its members and tenant admins may read them)."""
    team = await _authorized(session, caller, await repo.get(session, team_id), Role.VIEWER, team_id)
    return await role_bindings.team_permissions(session, team)


async def list_subjects(
    session: AsyncSession, caller: Caller, team_id: str, *, managers: bool, offset: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    team = await _authorized(session, caller, await repo.get(session, team_id), Role.VIEWER, team_id)
    rows, total = await repo.list_subjects(session, team.id, managers=managers, offset=offset, limit=limit)
    return [
        {"subjectId": user_id or email, "subjectSlug": email, "subjectType": SUBJECT_USER} for email, user_id in rows
    ], total


async def delete_team(session: AsyncSession, caller: Caller, team_id: str) -> None:
    """Delete a team and every collaborator entry naming it, so a later namesake inherits nothing."""
    team = await _authorized(session, caller, await repo.get(session, team_id), Role.EDITOR, team_id)
    await access_repo.remove_principal(session, [f"team:{team.name}"])
    await repo.delete_team(session, team.id)
    audit.note(session, caller, "delete", "team", team.id, name=team.name)
