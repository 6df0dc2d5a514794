"""The one permission mechanism: who may read, write or administer an ML repo and what it holds.

Every service that touches a repo or its contents calls `authorize`; every list is filtered by
`repo_scope`. A caller who cannot read a repo gets NotFound, exactly as if it did not exist.
"""

from __future__ import annotations

from enum import IntEnum

from mlregistry.auth.subject import Caller
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
ACTION_BY_ROLE = {Role.VIEWER: "read", Role.EDITOR: "write to", Role.ADMIN: "administer"}


def repo_scope(caller: Caller) -> RepoScope:
    if caller.is_tenant_admin:
        return RepoScope(unrestricted=True)
    return RepoScope(
        unrestricted=False, subject_id=caller.subject_id, principals=caller.principals, role_ranks=ROLE_RANKS
    )


def role_on_repo(caller: Caller, access: RepoAccess) -> Role:
    if caller.is_tenant_admin or access.repo.created_by_subject_id == caller.subject_id:
        return Role.ADMIN
    return Role(access.collaborator_rank)


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
