"""Data directories: one row each, read together with the caller's rank on their ML repo."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from mlregistry.orm import DataDirectory, MlRepo
from mlregistry.repositories.access import Access, AccessScope
from mlregistry.repositories.ml_repos import repo_id_named


@dataclass
class DataDirectoryRow:
    directory: DataDirectory
    access: Access[MlRepo]


@dataclass
class DataDirectoryFilters:
    ml_repo_id: int | None = None
    ml_repo_name: str | None = None
    name: str | None = None


def _select(scope: AccessScope) -> Select[Any]:
    return select(DataDirectory, MlRepo, scope.rank_column(MlRepo.id)).join(
        MlRepo, MlRepo.id == DataDirectory.ml_repo_id
    )


def _rows(scope: AccessScope, result: Any) -> list[DataDirectoryRow]:
    return [DataDirectoryRow(directory=row[0], access=scope.access(row[1], row[2])) for row in result.all()]


async def get_row(session: AsyncSession, scope: AccessScope, directory_id: str) -> DataDirectoryRow | None:
    rows = _rows(scope, await session.execute(_select(scope).where(DataDirectory.id == directory_id)))
    return rows[0] if rows else None


async def find(session: AsyncSession, ml_repo_id: int, name: str) -> DataDirectory | None:
    return await session.scalar(
        select(DataDirectory).where(DataDirectory.ml_repo_id == ml_repo_id, DataDirectory.name == name)
    )


async def add(session: AsyncSession, directory: DataDirectory) -> None:
    session.add(directory)
    await session.flush()


async def delete_by_id(session: AsyncSession, directory_id: str) -> None:
    await session.execute(delete(DataDirectory).where(DataDirectory.id == directory_id))


async def list_page(
    session: AsyncSession, filters: DataDirectoryFilters, scope: AccessScope, *, offset: int, limit: int
) -> tuple[list[DataDirectoryRow], int]:
    conditions: list[Any] = []
    if filters.ml_repo_id is not None:
        conditions.append(DataDirectory.ml_repo_id == filters.ml_repo_id)
    if filters.ml_repo_name is not None:
        conditions.append(DataDirectory.ml_repo_id == repo_id_named(filters.ml_repo_name))
    if filters.name is not None:
        conditions.append(DataDirectory.name == filters.name)
    scoped = scope.clause(DataDirectory.ml_repo_id)
    if scoped is not None:
        conditions.append(scoped)
    page = _rows(
        scope,
        await session.execute(
            _select(scope)
            .where(*conditions)
            .order_by(DataDirectory.created_at.desc(), DataDirectory.id.desc())
            .offset(offset)
            .limit(limit)
        ),
    )
    total = await session.scalar(select(func.count()).select_from(DataDirectory).where(*conditions))
    return page, int(total or 0)
