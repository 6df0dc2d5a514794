"""Queries behind the permission mechanism: collaborator roles and the readable-repo scope.

The caller's collaborator rank on a repo is computed inside the same query that loads the repo (or
the version, or the entity), so an authorized read stays one indexed round trip.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, case, delete, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from mlregistry.orm import MlRepo, MlRepoCollaborator


@dataclass(frozen=True)
class RepoScope:
    """Which ML repos a caller may see: all of them (tenant admin) or those it holds a role on."""

    unrestricted: bool
    subject_id: str = ""
    principals: frozenset[str] = frozenset()
    role_ranks: Mapping[str, int] | None = None
    # Repos the caller holds explicit permissions on (a virtual account's manifest), by name.
    granted_repo_names: frozenset[str] = frozenset()

    def clause(self, ml_repo_id_column: Any) -> ColumnElement[bool] | None:
        if self.unrestricted:
            return None
        collaborator_repos = select(MlRepoCollaborator.ml_repo_id).where(
            MlRepoCollaborator.principal.in_(sorted(self.principals))
        )
        created_repos = select(MlRepo.id).where(MlRepo.created_by_subject_id == self.subject_id)
        readable = [ml_repo_id_column.in_(collaborator_repos), ml_repo_id_column.in_(created_repos)]
        if self.granted_repo_names:
            readable.append(
                ml_repo_id_column.in_(select(MlRepo.id).where(MlRepo.name.in_(sorted(self.granted_repo_names))))
            )
        return or_(*readable)

    def rank_column(self, ml_repo_id_column: Any) -> Any:
        """The highest collaborator rank the caller holds on the row's repo (0 for none)."""
        ranks = self.role_ranks or {}
        if self.unrestricted or not ranks:
            return literal(0)
        ranked = case(dict(ranks), value=MlRepoCollaborator.role_id, else_=0)
        return (
            select(func.coalesce(func.max(ranked), 0))
            .where(
                MlRepoCollaborator.ml_repo_id == ml_repo_id_column,
                MlRepoCollaborator.principal.in_(sorted(self.principals)),
            )
            .scalar_subquery()
        )


@dataclass
class RepoAccess:
    repo: MlRepo
    collaborator_rank: int


async def replace_collaborators(session: AsyncSession, ml_repo_id: int, roles: dict[str, str]) -> None:
    await session.execute(delete(MlRepoCollaborator).where(MlRepoCollaborator.ml_repo_id == ml_repo_id))
    session.add_all(
        MlRepoCollaborator(ml_repo_id=ml_repo_id, principal=principal, role_id=role_id)
        for principal, role_id in roles.items()
    )
    await session.flush()


async def remove_principal(session: AsyncSession, principals: list[str]) -> None:
    """Forget a deleted team or virtual account everywhere, so a later namesake inherits nothing."""
    await session.execute(delete(MlRepoCollaborator).where(MlRepoCollaborator.principal.in_(principals)))
