"""The one permission mechanism: who may read, write or administer an ML repo and what it holds,
and who may manage identities (users, tokens, virtual accounts, teams) and read the audit trail.

Every service that touches a repo or its contents calls `authorize`; every list is filtered by
`repo_scope`. A caller who cannot read a repo gets NotFound, exactly as if it did not exist.
A caller's role on a repo is the highest of: tenant admin (ADMIN), creator (ADMIN), its collaborator
entries (`user:<email>`, `team:<name>` for each team it belongs to, `virtualaccount:<name>`), and the
explicit permissions of a virtual account.
"""

from __future__ import annotations

from enum import IntEnum

from mlregistry.auth.subject import RESOURCE_ML_REPO, RESOURCE_WORKSPACE, Caller
from mlregistry.orm import MlRepo
from mlregistry.repositories.access import RepoAccess, RepoScope
from mlregistry.schemas.manifests import ROLE_ADMIN, ROLE_EDITOR, ROLE_VIEWER
from mlregistry.services.errors import Forbidden, NotFound


class Role(IntEnum):
    NONE = 0
    VIEWER = 1
    EDITOR = 2
    ADMIN = 3


ROLE_RANKS = {ROLE_VIEWER: int(Role.VIEWER), ROLE_EDITOR: int(Role.EDITOR), ROLE_ADMIN: int(Role.ADMIN)}
# Role ids a virtual account's `permissions` may name, per resource type.
WORKSPACE_ROLE_RANKS = {
    "workspace-viewer": int(Role.VIEWER),
    "workspace-editor": int(Role.EDITOR),
    "workspace-admin": int(Role.ADMIN),
}
GRANTABLE_ROLES = {RESOURCE_ML_REPO: ROLE_RANKS, RESOURCE_WORKSPACE: WORKSPACE_ROLE_RANKS}
ACTION_BY_ROLE = {Role.VIEWER: "read", Role.EDITOR: "write to", Role.ADMIN: "administer"}


def repo_scope(caller: Caller) -> RepoScope:
    if caller.is_tenant_admin:
        return RepoScope(unrestricted=True)
    return RepoScope(
        unrestricted=False,
        subject_id=caller.subject_id,
        principals=caller.principals,
        role_ranks=ROLE_RANKS,
        granted_repo_names=caller.granted_resources(RESOURCE_ML_REPO),
    )


def role_on_repo(caller: Caller, access: RepoAccess) -> Role:
    if caller.is_tenant_admin or access.repo.created_by_subject_id == caller.subject_id:
        return Role.ADMIN
    return Role(max(access.collaborator_rank, caller.granted_rank(RESOURCE_ML_REPO, access.repo.name)))


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


def authorize(caller: Caller, access: RepoAccess | None, needed: Role, *, not_found: str) -> MlRepo:
    """Return the repo if the caller holds `needed` on it; NotFound if it is missing or unreadable."""
    if access is None:
        raise NotFound(not_found)
    role = role_on_repo(caller, access)
    if role < Role.VIEWER:
        raise NotFound(not_found)
    if role < needed:
        raise Forbidden(
            f"You need the {needed.name.lower()} role to {ACTION_BY_ROLE[needed]} ML repo '{access.repo.name}'"
        )
    return access.repo
