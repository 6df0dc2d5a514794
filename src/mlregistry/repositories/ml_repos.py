from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Select, bindparam, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from mlregistry.auth.cache import SignalledCache
from mlregistry.metrics import REPO_CACHE_LOOKUPS
from mlregistry.orm import MlRepo
from mlregistry.repositories.access import Access, AccessScope


def repo_id_named(name: str) -> Any:
    """The id of the ML repo with this name, as a subquery for filters that name a repo."""
    return select(MlRepo.id).where(MlRepo.name == name).scalar_subquery()


async def _access(session: AsyncSession, scope: AccessScope, condition: Any) -> Access[MlRepo] | None:
    row = (await session.execute(select(MlRepo, scope.rank_column(MlRepo.id)).where(condition))).first()
    return scope.access(row[0], row[1]) if row else None


async def get_by_id(session: AsyncSession, scope: AccessScope, ml_repo_id: int) -> Access[MlRepo] | None:
    return await _access(session, scope, MlRepo.id == ml_repo_id)


_BY_NAME: dict[tuple[str, bool], Any] = {}


def _by_name(scope: AccessScope) -> Select[Any]:
    return select(MlRepo, scope.rank_column(MlRepo.id)).where(MlRepo.name == bindparam("name"))


async def get_by_name(session: AsyncSession, scope: AccessScope, name: str) -> Access[MlRepo] | None:
    """The ML repo of this name with the caller's rank on it: the first read of every write by repo name."""
    statement = scope.statement_for(_BY_NAME, _by_name)
    row = (await session.execute(statement, {"name": name, **scope.parameters()})).first()
    return scope.access(row[0], row[1]) if row else None


class RepoCache(SignalledCache[tuple[str, bool, frozenset[str]], tuple[MlRepo, int]]):
    """By (name, the scope's rank inputs): an ML repo, detached, and the caller's collaborator rank on it. Cleared
    in every process when a transaction that wrote ML repos or their collaborators (or identities) commits
    (auth.cache). Entries are shared by requests: their repos are read, never changed or added to a session."""

    def __init__(self, seconds: float, *, stamp: Path | None = None, listening: bool = True) -> None:
        super().__init__(seconds, REPO_CACHE_LOOKUPS, stamp=stamp, listening=listening)


async def get_by_name_cached(session: AsyncSession, scope: AccessScope, name: str) -> Access[MlRepo] | None:
    """`get_by_name`, answered from the database's repo cache when it holds the repo for this scope (the
    session's class carries the cache). For reading the repo only: the instance may serve other requests."""
    cache: RepoCache | None = getattr(session.sync_session, "repo_cache", None)
    if cache is None or not cache.enabled:
        return await get_by_name(session, scope, name)
    # What the rank depends on: nothing for an unrestricted scope, else the caller's principals.
    key = (name, scope.unrestricted, frozenset() if scope.unrestricted else scope.principals)
    kept = cache.lookup(key)
    if kept is not None:
        return scope.access(kept[0], kept[1])
    generation = cache.generation  # after the lookup: it clears a stale cache first
    found = await get_by_name(session, scope, name)
    if found is not None:
        session.expunge(found.resource)
        cache.store(key, (found.resource, found.collaborator_rank), None, generation)
    return found


async def readable_with_rank(session: AsyncSession, scope: AccessScope) -> list[tuple[MlRepo, int]]:
    """Every ML repo the scope can read, with the caller's collaborator rank on it."""
    conditions = [clause] if (clause := scope.clause(MlRepo.id)) is not None else []
    rows = await session.execute(select(MlRepo, scope.rank_column(MlRepo.id)).where(*conditions))
    return [(row[0], int(row[1] or 0)) for row in rows]


async def list_page(
    session: AsyncSession,
    scope: AccessScope,
    *,
    name: str | None,
    offset: int,
    limit: int,
    name_contains: str | None = None,
) -> tuple[list[MlRepo], int]:
    conditions = []
    if name is not None:
        conditions.append(MlRepo.name == name)
    if name_contains:
        escaped = name_contains.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        conditions.append(func.lower(MlRepo.name).like(f"%{escaped.lower()}%", escape="\\"))
    scoped = scope.clause(MlRepo.id)
    if scoped is not None:
        conditions.append(scoped)
    page = await session.scalars(
        select(MlRepo).where(*conditions).order_by(MlRepo.id.desc()).offset(offset).limit(limit)
    )
    total = await session.scalar(select(func.count()).select_from(MlRepo).where(*conditions))
    return list(page), int(total or 0)


async def add_if_absent(session: AsyncSession, repo: MlRepo) -> bool:
    """Insert `repo` (setting its id) unless a repo with its name exists; False when one does.

    One statement: a concurrent creator of the same name makes it wait (Postgres) and then do nothing,
    so no writer fails on the unique name."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    values = {column.key: getattr(repo, column.key) for column in MlRepo.__table__.columns if column.key != "id"}
    statement = insert(MlRepo).values(**values).on_conflict_do_nothing(index_elements=["name"]).returning(MlRepo.id)
    created = (await session.execute(statement)).scalar()
    if created is None:
        return False
    repo.id = int(created)
    return True


async def delete_by_id(session: AsyncSession, ml_repo_id: int) -> None:
    await session.execute(delete(MlRepo).where(MlRepo.id == ml_repo_id))
