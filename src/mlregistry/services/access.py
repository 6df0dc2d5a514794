"""The one permission mechanism: who may read, write or administer a guarded resource and what it holds.

Two kinds of resource are guarded: ML repos (and their models, artifacts, prompts) and workspaces (and
their model entities). Both use the same roles: viewer < editor < admin. The creator of a resource is
its admin; tenant admins are admins everywhere. Every service that touches one calls `authorize`;
every list is filtered by the kind's scope. A caller who cannot read a resource gets NotFound,
exactly as if it did not exist. A caller's role is the highest of: tenant admin, creator, its member or
collaborator entries (`user:<email>`, `team:<name>` for each of its teams, `virtualaccount:<name>`), and
the explicit permissions of a virtual account. Identity management (users, tokens, virtual accounts,
teams) and the audit trail are decided here too.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any, TypeVar

from mlregistry.auth.subject import EVERY_CALLER, RESOURCE_ML_REPO, RESOURCE_WORKSPACE, Caller
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
# Role ids a virtual account's `permissions` may name, per resource type.
WORKSPACE_ROLE_RANKS = {
    "workspace-viewer": int(Role.VIEWER),
    "workspace-editor": int(Role.EDITOR),
    "workspace-admin": int(Role.ADMIN),
}
GRANTABLE_ROLES = {RESOURCE_ML_REPO: ROLE_RANKS, RESOURCE_WORKSPACE: WORKSPACE_ROLE_RANKS}
ACTION_BY_ROLE = {Role.VIEWER: "read", Role.EDITOR: "write to", Role.ADMIN: "administer"}

ML_REPOS = Guarded(
    noun="ML repo",
    resource_type=RESOURCE_ML_REPO,
    id_column=MlRepo.id,
    name_column=MlRepo.name,
    creator_column=MlRepo.created_by_subject_id,
    member_key=MlRepoCollaborator.ml_repo_id,
    member_principal=MlRepoCollaborator.principal,
    member_role=MlRepoCollaborator.role_id,
    role_ranks=ROLE_RANKS,
)
WORKSPACES = Guarded(
    noun="workspace",
    resource_type=RESOURCE_WORKSPACE,
    id_column=Workspace.id,
    name_column=Workspace.name,
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
    return AccessScope(
        guarded=guarded,
        unrestricted=False,
        subject_id=caller.subject_id,
        principals=principals,
        granted_names=caller.granted_resources(guarded.resource_type),
    )


def repo_scope(caller: Caller) -> AccessScope:
    return access_scope(caller, ML_REPOS)


def workspace_scope(caller: Caller) -> AccessScope:
    return access_scope(caller, WORKSPACES)


def role_of(caller: Caller, access: Access[Any]) -> Role:
    if caller.is_tenant_admin or access.resource.created_by_subject_id == caller.subject_id:
        return Role.ADMIN
    granted = caller.granted_rank(access.guarded.resource_type, access.resource.name)
    return Role(max(access.collaborator_rank, granted))


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


def granted_role(caller: Caller, resource_type: str, resource: str) -> Role:
    """The caller's role on a resource named by explicit permissions (e.g. a workspace); tenant admins: ADMIN."""
    if caller.is_tenant_admin:
        return Role.ADMIN
    return Role(caller.granted_rank(resource_type, resource))


def require_tenant_admin(caller: Caller, doing: str) -> None:
    if not caller.is_tenant_admin:
        raise Forbidden(f"Only tenant administrators may {doing}")


def require_human(caller: Caller, doing: str) -> None:
    """Some actions need a person (an e-mail to name as collaborator): virtual accounts may not do them."""
    if caller.is_virtual_account:
        raise Forbidden(f"Virtual accounts cannot {doing}")


def authorize_repo_creation(caller: Caller) -> None:
    require_human(caller, "create ML repos")


def authorize_user(caller: Caller, user_id: str, needed: Role, *, not_found: str) -> None:
    """Users read themselves; tenant admins read and manage everyone. Others see nothing (404)."""
    if caller.is_tenant_admin:
        return
    if caller.subject_id != user_id or caller.is_virtual_account:
        raise NotFound(not_found)
    if needed > Role.VIEWER:
        raise Forbidden("Only tenant administrators may change users")


def authorize_team(caller: Caller, *, is_member: bool, is_manager: bool, needed: Role, not_found: str) -> None:
    """Members read a team; managers and tenant admins change it. Outsiders get 404."""
    if caller.is_tenant_admin:
        return
    if not (is_member or is_manager):
        raise NotFound(not_found)
    if needed > Role.VIEWER and not is_manager:
        raise Forbidden("Only the team's managers and tenant administrators may change it")
