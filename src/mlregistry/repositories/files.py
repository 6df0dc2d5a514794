"""Version files and the queue of storage deletions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from mlregistry.orm import EntityVersion, MlRepo, StorageDeletion, VersionFile
from mlregistry.orm.base import utcnow
from mlregistry.repositories.versions import STATE_FAILED, STATE_STAGED, _insert

INSERT_BATCH = 1000  # rows per INSERT: well under SQLite's bound-parameter limit


async def register_expected_files(session: AsyncSession, version_id: str, paths: Sequence[str]) -> None:
    """Remember the files a staged version was given upload URLs for (repeats are ignored)."""
    if not paths:
        return
    rows = [{"version_id": version_id, "path": path, "parent": "", "is_dir": False} for path in dict.fromkeys(paths)]
    # In batches: one statement binds 4 parameters a row, and drivers cap a statement's parameters.
    for start in range(0, len(rows), INSERT_BATCH):
        statement = (
            _insert(session)(VersionFile)
            .values(rows[start : start + INSERT_BATCH])
            .on_conflict_do_nothing(index_elements=["version_id", "path"])
        )
        await session.execute(statement)


async def version_file_paths(session: AsyncSession, version_id: str) -> list[str]:
    return list(
        await session.scalars(
            select(VersionFile.path).where(VersionFile.version_id == version_id, VersionFile.is_dir.is_(False))
        )
    )


async def replace_version_files(session: AsyncSession, version_id: str, rows: Sequence[dict[str, Any]]) -> None:
    await session.execute(delete(VersionFile).where(VersionFile.version_id == version_id))
    for start in range(0, len(rows), INSERT_BATCH):
        batch = [{**row, "version_id": version_id} for row in rows[start : start + INSERT_BATCH]]
        await session.execute(_insert(session)(VersionFile).values(batch))


async def existing_files(session: AsyncSession, version_id: str, paths: Sequence[str]) -> set[str]:
    found: set[str] = set()
    unique = list(dict.fromkeys(paths))
    for start in range(0, len(unique), INSERT_BATCH):
        found.update(
            await session.scalars(
                select(VersionFile.path).where(
                    VersionFile.version_id == version_id,
                    VersionFile.path.in_(unique[start : start + INSERT_BATCH]),
                    VersionFile.is_dir.is_(False),
                )
            )
        )
    return found


async def list_children(
    session: AsyncSession, version_id: str, parent: str, after: str | None, limit: int
) -> list[VersionFile]:
    """Direct children of `parent`, by path, after the cursor: one range scan of the (version, parent, path) index."""
    conditions = [VersionFile.version_id == version_id, VersionFile.parent == parent]
    if after is not None:
        conditions.append(VersionFile.path > after)
    return list(await session.scalars(select(VersionFile).where(*conditions).order_by(VersionFile.path).limit(limit)))


# --- the deletion queue ---------------------------------------------------------------------


async def enqueue_deletions(session: AsyncSession, storage_integration_fqn: str, prefixes: Sequence[str]) -> None:
    session.add_all(StorageDeletion(storage_integration_fqn=storage_integration_fqn, prefix=p) for p in prefixes)
    await session.flush()


async def version_ids_of_entity(session: AsyncSession, entity_id: str) -> list[str]:
    return list(await session.scalars(select(EntityVersion.id).where(EntityVersion.entity_id == entity_id)))


async def due_deletions(session: AsyncSession, now: datetime, limit: int) -> list[StorageDeletion]:
    return list(
        await session.scalars(
            select(StorageDeletion).where(StorageDeletion.due_at <= now).order_by(StorageDeletion.id).limit(limit)
        )
    )


async def claim_deletion(session: AsyncSession, deletion_id: int, attempts: int, lease_until: datetime) -> bool:
    """Compare-and-set on `attempts`: exactly one of several concurrent drainers wins the row."""
    result = await session.execute(
        update(StorageDeletion)
        .where(StorageDeletion.id == deletion_id, StorageDeletion.attempts == attempts)
        .values(attempts=attempts + 1, due_at=lease_until)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def reschedule_deletion(session: AsyncSession, deletion_id: int, due_at: datetime, sweeps_left: int) -> None:
    await session.execute(
        update(StorageDeletion)
        .where(StorageDeletion.id == deletion_id)
        .values(due_at=due_at, sweeps_left=sweeps_left)
        .execution_options(synchronize_session=False)
    )


async def remove_deletion(session: AsyncSession, deletion_id: int) -> None:
    await session.execute(delete(StorageDeletion).where(StorageDeletion.id == deletion_id))


async def due_deletion_count(session: AsyncSession) -> int:
    """Queued deletions that are due now (second sweeps scheduled for later are not counted)."""
    statement = select(func.count()).select_from(StorageDeletion).where(StorageDeletion.due_at <= utcnow())
    return int(await session.scalar(statement) or 0)


# --- staged versions ------------------------------------------------------------------------


async def mark_failed(session: AsyncSession, version_id: str) -> bool:
    """STAGED -> FAILED, atomically (a concurrent finalize or reap wins or loses as a whole)."""
    result = await session.execute(
        update(EntityVersion)
        .where(EntityVersion.id == version_id, EntityVersion.state == STATE_STAGED)
        .values(state=STATE_FAILED, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def abandoned_versions(
    session: AsyncSession, families: Sequence[str], cutoff: datetime, limit: int
) -> list[tuple[str, str]]:
    """(version id, storage fqn of its repo) of staged or failed versions last touched before `cutoff`."""
    rows = await session.execute(
        select(EntityVersion.id, MlRepo.storage_integration_fqn)
        .join(MlRepo, MlRepo.id == EntityVersion.ml_repo_id)
        .where(
            EntityVersion.family.in_(list(families)),
            EntityVersion.state.in_([STATE_STAGED, STATE_FAILED]),
            EntityVersion.created_at < cutoff,
        )
        .limit(limit)
    )
    return [(str(version_id), str(fqn)) for version_id, fqn in rows.all()]


async def delete_unfinished_versions(session: AsyncSession, version_ids: Sequence[str]) -> list[tuple[str, int]]:
    """Delete those of the versions that are still staged or failed; (id, ml repo id) of each one deleted."""
    if not version_ids:
        return []
    result = await session.execute(
        delete(EntityVersion)
        .where(EntityVersion.id.in_(list(version_ids)), EntityVersion.state.in_([STATE_STAGED, STATE_FAILED]))
        .returning(EntityVersion.id, EntityVersion.ml_repo_id)
        .execution_options(synchronize_session=False)
    )
    return [(str(version_id), int(repo_id)) for version_id, repo_id in result.all()]
