"""Workspaces and their members: SQL only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from mlregistry.orm import Workspace, WorkspaceMember, WorkspaceModel
from mlregistry.repositories.access import Access, AccessScope

SORT_COLUMNS = {"name": Workspace.name, "created_at": Workspace.created_at, "updated_at": Workspace.updated_at}


def order_by(sort: str, columns: dict[str, Any], tie_breaker: Any) -> list[Any]:
    """`name`, `-name`, ...: the named column ascending, or descending with a leading `-`; ties by id."""
    descending = sort.startswith("-")
    column = columns[sort.lstrip("-")]
    return [column.desc(), tie_breaker.desc()] if descending else [column.asc(), tie_breaker.asc()]


async def get_by_name(session: AsyncSession, scope: AccessScope, name: str) -> Access[Workspace] | None:
    statement = select(Workspace, scope.rank_column(Workspace.id)).where(Workspace.name == name)
    row = (await session.execute(statement)).first()
    return scope.access(row[0], row[1]) if row else None


async def name_taken(session: AsyncSession, name: str) -> bool:
    return bool(await session.scalar(select(exists().where(Workspace.name == name))))


async def list_page(
    session: AsyncSession, scope: AccessScope, *, sort: str, offset: int, limit: int
) -> tuple[list[Workspace], int]:
    conditions = []
    scoped = scope.clause(Workspace.id)
    if scoped is not None:
        conditions.append(scoped)
    page = await session.scalars(
        select(Workspace)
        .where(*conditions)
        .order_by(*order_by(sort, SORT_COLUMNS, Workspace.id))
        .offset(offset)
        .limit(limit)
    )
    total = await session.scalar(select(func.count()).select_from(Workspace).where(*conditions))
    return list(page), int(total or 0)


async def add(session: AsyncSession, workspace: Workspace) -> Workspace:
    session.add(workspace)
    await session.flush()
    return workspace


async def holds_models(session: AsyncSession, workspace_id: str) -> bool:
    return bool(await session.scalar(select(exists().where(WorkspaceModel.workspace_id == workspace_id))))


async def delete_by_id(session: AsyncSession, workspace_id: str) -> None:
    await session.execute(delete(Workspace).where(Workspace.id == workspace_id))


async def list_members(session: AsyncSession, workspace_id: str) -> list[WorkspaceMember]:
    rows = await session.scalars(
        select(WorkspaceMember)
        .where(WorkspaceMember.workspace_id == workspace_id)
        .order_by(WorkspaceMember.principal, WorkspaceMember.role_id)
    )
    return list(rows)


async def member_roles(session: AsyncSession, workspace_id: str, principal: str) -> list[WorkspaceMember]:
    rows = await session.scalars(
        select(WorkspaceMember).where(
            WorkspaceMember.workspace_id == workspace_id, WorkspaceMember.principal == principal
        )
    )
    return list(rows)


async def replace_member_roles(
    session: AsyncSession, workspace_id: str, principal: str, roles: list[str], now: datetime
) -> None:
    await remove_member(session, workspace_id, principal)
    session.add_all(
        WorkspaceMember(workspace_id=workspace_id, principal=principal, role_id=role, granted_at=now) for role in roles
    )
    await session.flush()


async def remove_member(session: AsyncSession, workspace_id: str, principal: str) -> int:
    result = await session.execute(
        delete(WorkspaceMember).where(
            WorkspaceMember.workspace_id == workspace_id, WorkspaceMember.principal == principal
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)
