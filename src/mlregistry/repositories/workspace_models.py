"""Workspace model entities: SQL only. Every filterable column has an index (see orm/workspaces.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from mlregistry.orm import Workspace, WorkspaceModel
from mlregistry.repositories.access import Access, AccessScope
from mlregistry.repositories.workspaces import order_by

SORT_COLUMNS = {
    "name": WorkspaceModel.name,
    "created_at": WorkspaceModel.created_at,
    "updated_at": WorkspaceModel.updated_at,
}
FILTER_COLUMNS = {
    "name": WorkspaceModel.name,
    "project": WorkspaceModel.project,
    "base_model": WorkspaceModel.base_model,
    "fileset": WorkspaceModel.fileset,
    "finetuning_type": WorkspaceModel.finetuning_type,
    "backend_format": WorkspaceModel.backend_format,
    "trust_remote_code": WorkspaceModel.trust_remote_code,
}


async def get_with_access(
    session: AsyncSession, scope: AccessScope, workspace_name: str, name: str
) -> tuple[WorkspaceModel, Access[Workspace]] | None:
    """The model and the caller's access to its workspace, in one round trip."""
    statement = (
        select(WorkspaceModel, Workspace, scope.rank_column(Workspace.id))
        .join(Workspace, Workspace.id == WorkspaceModel.workspace_id)
        .where(Workspace.name == workspace_name, WorkspaceModel.name == name)
    )
    row = (await session.execute(statement)).first()
    return (row[0], scope.access(row[1], row[2])) if row else None


async def list_page(
    session: AsyncSession,
    scope: AccessScope,
    *,
    workspace_id: str | None,
    equals: Mapping[str, Any],
    sort: str,
    offset: int,
    limit: int,
) -> tuple[list[tuple[WorkspaceModel, str]], int]:
    """One workspace's models, or (`workspace_id` None) those of every workspace the scope reads."""
    conditions: list[Any] = [FILTER_COLUMNS[field] == value for field, value in equals.items()]
    if workspace_id is not None:
        conditions.append(WorkspaceModel.workspace_id == workspace_id)
    else:
        scoped = scope.clause(WorkspaceModel.workspace_id)
        if scoped is not None:
            conditions.append(scoped)
    result = await session.execute(
        select(WorkspaceModel, Workspace.name)
        .join(Workspace, Workspace.id == WorkspaceModel.workspace_id)
        .where(*conditions)
        .order_by(*order_by(sort, SORT_COLUMNS, WorkspaceModel.id))
        .offset(offset)
        .limit(limit)
    )
    page = [(row[0], row[1]) for row in result.all()]
    total = await session.scalar(select(func.count()).select_from(WorkspaceModel).where(*conditions))
    return page, int(total or 0)


async def add(session: AsyncSession, model: WorkspaceModel) -> WorkspaceModel:
    session.add(model)
    await session.flush()
    return model


async def delete_by_id(session: AsyncSession, model_id: str) -> None:
    await session.execute(delete(WorkspaceModel).where(WorkspaceModel.id == model_id))
