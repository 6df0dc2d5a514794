"""Who holds which role where, read from the stored roles: ML repo collaborators, workspace members, creators.

These answer the identity module's "what can this user (or team) reach" questions (contract §8
`users/{id}/resources|permissions|teams`, `teams/{id}/permissions`). The roles come from the same rows
`services.access` decides with: a creator is its resource's admin; a member entry (`user:<slug>`,
`user:<email>`, `team:<name>`) holds its role; a team's entries count for each of its members.
Entries for every caller (`*` on a workspace) are not bindings of anyone in particular and are left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from mlregistry.auth.subject import SUBJECT_USER, user_principals
from mlregistry.orm import Team, User
from mlregistry.repositories import access as access_repo
from mlregistry.repositories import teams as team_repo
from mlregistry.repositories.access import Guarded, RoleBinding
from mlregistry.services.access import ML_REPOS, WORKSPACES, Role

SUBJECT_TEAM = "team"
TEAM_ROLE_MEMBER = "member"
TEAM_ROLE_MANAGER = "manager"
GUARDED_KINDS = (ML_REPOS, WORKSPACES)
PERMISSION_KEYS = ("resourceType", "resourceName", "resourceId", "roleId", "subjectType", "subjectId")


@dataclass(frozen=True)
class Holder:
    """The subject a binding is reported for: the user itself, or the team it inherits the role through."""

    subject_id: str
    subject_type: str


def _admin_role(guarded: Guarded) -> str:
    return max(guarded.role_ranks, key=lambda role_id: guarded.role_ranks[role_id])


def _role_name(guarded: Guarded, role_id: str) -> str:
    rank = guarded.role_ranks.get(role_id, 0)
    return Role(rank).name.title() if rank else role_id


async def _bindings(
    session: AsyncSession, guarded: Guarded, principals: list[str], creator_id: str | None
) -> list[RoleBinding]:
    found = await access_repo.bindings_of(session, guarded, principals)
    if creator_id is not None:
        admin = _admin_role(guarded)
        found += [
            RoleBinding(resource_id, name, None, admin)
            for resource_id, name in await access_repo.created_by(session, guarded, creator_id)
        ]
    return found


def _permission(guarded: Guarded, binding: RoleBinding, holder: Holder) -> dict[str, Any]:
    return {
        "resourceType": guarded.resource_type,
        "resourceId": binding.resource_id,
        "resourceName": binding.resource_name,
        "resourceFqn": binding.resource_name,
        "roleId": binding.role_id,
        "roleName": _role_name(guarded, binding.role_id),
        "subjectId": holder.subject_id,
        "subjectType": holder.subject_type,
    }


def _unique(rows: list[dict[str, Any]], keys: tuple[str, ...]) -> list[dict[str, Any]]:
    """One row per distinct binding (a user may hold a role as `user:<slug>` and as `user:<email>`)."""
    seen: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        seen.setdefault(tuple(row[key] for key in keys), row)
    return sorted(seen.values(), key=lambda row: tuple(str(row[key]) for key in keys))


def _user_principals(user: User) -> list[str]:
    return sorted(user_principals(user.slug, user.email))


async def user_resources(session: AsyncSession, user: User) -> list[dict[str, Any]]:
    """Resources the user holds a role on itself (as creator or named member), with that role."""
    rows = []
    for guarded in GUARDED_KINDS:
        for binding in await _bindings(session, guarded, _user_principals(user), user.id):
            rows.append(
                {
                    "resourceType": guarded.resource_type,
                    "resourceId": binding.resource_id,
                    "resourceName": binding.resource_name,
                    "roleId": binding.role_id,
                }
            )
    return _unique(rows, ("resourceType", "resourceName", "resourceId", "roleId"))


async def team_permissions(session: AsyncSession, team: Team) -> list[dict[str, Any]]:
    holder = Holder(subject_id=team.id, subject_type=SUBJECT_TEAM)
    rows = []
    for guarded in GUARDED_KINDS:
        for binding in await _bindings(session, guarded, [f"team:{team.name}"], None):
            rows.append(_permission(guarded, binding, holder))
    return _unique(rows, PERMISSION_KEYS)


async def user_permissions(session: AsyncSession, user: User) -> list[dict[str, Any]]:
    """The user's own role bindings, then those it inherits from each team it is on."""
    holder = Holder(subject_id=user.id, subject_type=SUBJECT_USER)
    rows = []
    for guarded in GUARDED_KINDS:
        for binding in await _bindings(session, guarded, _user_principals(user), user.id):
            rows.append(_permission(guarded, binding, holder))
    # A team's entries count for everyone on it, managers included, as `services.access` decides.
    for team, _membership in await team_repo.teams_of_email(session, user.email):
        rows += await team_permissions(session, team)
    return _unique(rows, PERMISSION_KEYS)


async def user_teams(session: AsyncSession, user: User) -> list[dict[str, Any]]:
    """The teams the user's e-mail is on, with its roles there (`member`, `manager`)."""
    answer = []
    for team, membership in await team_repo.teams_of_email(session, user.email):
        roles = [TEAM_ROLE_MEMBER] if membership.is_member else []
        roles += [TEAM_ROLE_MANAGER] if membership.is_manager else []
        answer.append({"teamName": team.name, "teamId": team.id, "roles": roles})
    return answer
