"""The one permission mechanism: who may read, write or administer a guarded resource and what it holds.

Two kinds of resource are guarded: ML repos (and their models, artifacts, prompts) and workspaces (and
their model entities). Both use the same roles: viewer < editor < admin. The creator of a resource is
its admin; tenant admins are admins everywhere. Every service that touches one calls `authorize`;
every list is filtered by the kind's scope. A caller who cannot read a resource gets NotFound,
exactly as if it did not exist.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any, TypeVar

from mlregistry.auth.subject import EVERY_CALLER, Caller
from mlregistry.orm import MlRepo, MlRepoCollaborator, Workspace, WorkspaceMember
from mlregistry.repositories.access import Access, AccessScope, Guarded
from mlregistry.schemas.manifests import ROLE_ADMIN, ROLE_EDITOR, ROLE_VIEWER
from mlregistry.services.errors import Forbidden, NotFound

T = TypeVar("T")


class Role(IntEnum):
    NONE = 0
    VIEWER = 1
    EDITOR = 2
    ADMIN = 3


ROLE_RANKS = {ROLE_VIEWER: int(Role.VIEWER), ROLE_EDITOR: int(Role.EDITOR), ROLE_ADMIN: int(Role.ADMIN)}
WORKSPACE_ROLES = {"Viewer": Role.VIEWER, "Editor": Role.EDITOR, "Admin": Role.ADMIN}
ACTION_BY_ROLE = {Role.VIEWER: "read", Role.EDITOR: "write to", Role.ADMIN: "administer"}

ML_REPOS = Guarded(
    noun="ML repo",
    id_column=MlRepo.id,
    creator_column=MlRepo.created_by_subject_id,
    member_key=MlRepoCollaborator.ml_repo_id,
    member_principal=MlRepoCollaborator.principal,
    member_role=MlRepoCollaborator.role_id,
    role_ranks=ROLE_RANKS,
)
WORKSPACES = Guarded(
    noun="workspace",
    id_column=Workspace.id,
    creator_column=Workspace.created_by_subject_id,
    member_key=WorkspaceMember.workspace_id,
    member_principal=WorkspaceMember.principal,
    member_role=WorkspaceMember.role_id,
    role_ranks={role_id: int(role) for role_id, role in WORKSPACE_ROLES.items()},
    every_caller_principal=EVERY_CALLER,
)


def access_scope(caller: Caller, guarded: Guarded) -> AccessScope:
    if caller.is_tenant_admin:
        return AccessScope(guarded=guarded, unrestricted=True)
    principals = caller.principals
    if guarded.every_caller_principal:
        principals = principals | {guarded.every_caller_principal}
    return AccessScope(guarded=guarded, unrestricted=False, subject_id=caller.subject_id, principals=principals)


def repo_scope(caller: Caller) -> AccessScope:
    return access_scope(caller, ML_REPOS)


def workspace_scope(caller: Caller) -> AccessScope:
    return access_scope(caller, WORKSPACES)


def role_of(caller: Caller, access: Access[Any]) -> Role:
    if caller.is_tenant_admin or access.resource.created_by_subject_id == caller.subject_id:
        return Role.ADMIN
    return Role(access.collaborator_rank)


def authorize(caller: Caller, access: Access[T] | None, needed: Role, *, not_found: str) -> T:
    """Return the resource if the caller holds `needed` on it; NotFound if it is missing or unreadable."""
    if access is None:
        raise NotFound(not_found)
    role = role_of(caller, access)
    if role < Role.VIEWER:
        raise NotFound(not_found)
    if role < needed:
        name = getattr(access.resource, "name", "")
        raise Forbidden(
            f"You need the {needed.name.lower()} role to {ACTION_BY_ROLE[needed]} {access.guarded.noun} '{name}'"
        )
    return access.resource
