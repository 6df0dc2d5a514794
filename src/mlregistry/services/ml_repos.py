"""ML repos: apply (create or update), read, list and delete, with their collaborators."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from mlregistry.auth.subject import Caller, normalise_principal
from mlregistry.orm import MlRepo
from mlregistry.orm.base import utcnow
from mlregistry.repositories import access as access_repo
from mlregistry.repositories import ml_repos as repo_queries
from mlregistry.schemas.limits import INT32_MAX
from mlregistry.schemas.manifests import MlRepoManifest, manifest_to_wire
from mlregistry.services import audit, reaper
from mlregistry.services.access import Role, authorize, authorize_repo_creation, repo_scope, role_of
from mlregistry.services.errors import Conflict, Invalid
from mlregistry.services.fqn import parse_canonical_int
from mlregistry.services.presenters import ml_repo_to_wire
from mlregistry.settings import Settings


def _not_found(reference: object) -> str:
    return f"ML repo '{reference}' not found"


def parse_repo_id(ml_repo_id: str) -> int | None:
    """ML repo ids are canonical decimal strings within the id column's range; anything else names no repo."""
    number = parse_canonical_int(ml_repo_id)
    return number if number is not None and number <= INT32_MAX else None


async def readable_repo(session: AsyncSession, caller: Caller, ml_repo_id: str, needed: Role = Role.VIEWER) -> MlRepo:
    parsed = parse_repo_id(ml_repo_id)
    found = await repo_queries.get_by_id(session, repo_scope(caller), parsed) if parsed is not None else None
    return authorize(caller, found, needed, not_found=_not_found(ml_repo_id))


async def caller_role(session: AsyncSession, caller: Caller, ml_repo_id: str) -> tuple[MlRepo, Role]:
    """A repo the caller can read, with the caller's role on it (what a page may offer it to do)."""
    parsed = parse_repo_id(ml_repo_id)
    found = await repo_queries.get_by_id(session, repo_scope(caller), parsed) if parsed is not None else None
    repo = authorize(caller, found, Role.VIEWER, not_found=_not_found(ml_repo_id))
    assert found is not None
    return repo, role_of(caller, found)


async def repo_by_name(session: AsyncSession, caller: Caller, name: str, needed: Role) -> MlRepo:
    """The repo a write names, for reading only (it may come from the process's repo cache)."""
    found = await repo_queries.get_by_name_cached(session, repo_scope(caller), name)
    return authorize(caller, found, needed, not_found=_not_found(name))


def _collaborator_roles(manifest: MlRepoManifest) -> dict[str, str]:
    roles: dict[str, str] = {}
    for collaborator in manifest.collaborators or []:
        principal = normalise_principal(collaborator.subject)
        if principal in roles and roles[principal] != collaborator.role_id:
            raise Invalid.field(
                ["manifest", "collaborators"], f"subject '{collaborator.subject}' is listed with two roles"
            )
        roles[principal] = collaborator.role_id
    return roles


async def apply_ml_repo(
    session: AsyncSession, settings: Settings, caller: Caller, manifest: MlRepoManifest, *, dry_run: bool
) -> dict[str, Any]:
    roles = _collaborator_roles(manifest)
    wire_manifest = manifest_to_wire(manifest)
    account_id = manifest.ownedBy.account if manifest.ownedBy else settings.tenant_name
    existing = await repo_queries.get_by_name(session, repo_scope(caller), manifest.name)
    now = utcnow()
    if existing is None:
        authorize_repo_creation(caller)
        repo = MlRepo(
            name=manifest.name,
            storage_integration_fqn=manifest.storage_integration_fqn,
            account_id=account_id,
            manifest=wire_manifest,
            created_by_subject=caller.as_subject(),
            created_by_subject_id=caller.subject_id,
            created_at=now,
            updated_at=now,
        )
        if dry_run:
            repo.id = 0
            return ml_repo_to_wire(repo, settings.tenant_name)
        if await repo_queries.add_if_absent(session, repo):
            audit.note(session, caller, "create", "ml-repo", repo.id, name=repo.name)
            await access_repo.replace_collaborators(session, repo.id, roles)
            return ml_repo_to_wire(repo, settings.tenant_name)
        # Created by a concurrent apply that committed first: this apply is a re-apply of it.
        existing = await repo_queries.get_by_name(session, repo_scope(caller), manifest.name)
        if existing is None:
            raise Conflict(f"The ML repo '{manifest.name}' was deleted while it was applied; try again")
    if role_of(caller, existing) < Role.VIEWER:
        raise Conflict(f"The ML repo name '{manifest.name}' is already taken")
    repo = authorize(caller, existing, Role.ADMIN, not_found=_not_found(manifest.name))
    if repo.storage_integration_fqn != manifest.storage_integration_fqn:
        # The request is well-formed; the repo's state refuses it.
        raise Conflict(
            f"manifest.storage_integration_fqn cannot change on an existing ML repo "
            f"(it is '{repo.storage_integration_fqn}')"
        )
    if dry_run:
        preview = ml_repo_to_wire(repo, settings.tenant_name)
        preview.update(manifest=wire_manifest, account_id=account_id)
        return preview
    repo.manifest = wire_manifest
    repo.account_id = account_id
    repo.updated_at = now
    audit.note(session, caller, "update", "ml-repo", repo.id, name=repo.name)
    await access_repo.replace_collaborators(session, repo.id, roles)
    return ml_repo_to_wire(repo, settings.tenant_name)


async def get_ml_repo(session: AsyncSession, settings: Settings, caller: Caller, ml_repo_id: str) -> dict[str, Any]:
    return ml_repo_to_wire(await readable_repo(session, caller, ml_repo_id), settings.tenant_name)


async def list_ml_repos(
    session: AsyncSession,
    settings: Settings,
    caller: Caller,
    *,
    name: str | None,
    offset: int,
    limit: int,
    name_contains: str | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """`name_contains`: a case-insensitive part of the name (the console's search box)."""
    repos, total = await repo_queries.list_page(
        session, repo_scope(caller), name=name, offset=offset, limit=limit, name_contains=name_contains
    )
    return [ml_repo_to_wire(repo, settings.tenant_name) for repo in repos], total


async def delete_ml_repo(session: AsyncSession, caller: Caller, ml_repo_id: str) -> None:
    repo = await readable_repo(session, caller, ml_repo_id, Role.ADMIN)
    await reaper.enqueue_repo(session, repo.storage_integration_fqn, repo.id)
    await repo_queries.delete_by_id(session, repo.id)
    audit.note(session, caller, "delete", "ml-repo", repo.id, name=repo.name)
