"""Nothing is orphaned: deleted owners queue their objects, and a reaper removes them together with
staged versions that were abandoned. Safe with any number of server processes (rows are claimed by
compare-and-set, deletes are conditional, object deletion is idempotent)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from mlregistry.orm.base import utcnow
from mlregistry.repositories import files as queries
from mlregistry.repositories.database import Database
from mlregistry.services.files import STAGEABLE_FAMILIES, repo_prefix, version_prefixes
from mlregistry.settings import Settings
from mlregistry.storage import StorageError, StorageRegistry
from mlregistry.storage.local import LocalStorage

logger = logging.getLogger(__name__)

CLAIM_LEASE = timedelta(minutes=10)
BATCH = 100
CLOCK_MARGIN_SECONDS = 60  # slack between the clock that signed a URL and the one that checks it


async def enqueue(session: AsyncSession, storage_integration_fqn: str, prefixes: Sequence[str]) -> None:
    await queries.enqueue_deletions(session, storage_integration_fqn, prefixes)


async def enqueue_version(
    session: AsyncSession, storage_integration_fqn: str, ml_repo_id: int, version_id: str
) -> None:
    await enqueue(session, storage_integration_fqn, version_prefixes(ml_repo_id, version_id))


async def enqueue_entity(session: AsyncSession, storage_integration_fqn: str, ml_repo_id: int, entity_id: str) -> None:
    version_ids = await queries.version_ids_of_entity(session, entity_id)
    prefixes = [prefix for vid in version_ids for prefix in version_prefixes(ml_repo_id, vid)]
    await enqueue(session, storage_integration_fqn, prefixes)


async def enqueue_repo(session: AsyncSession, storage_integration_fqn: str, ml_repo_id: int) -> None:
    await enqueue(session, storage_integration_fqn, [repo_prefix(ml_repo_id)])


async def drain(session: AsyncSession, storages: StorageRegistry) -> int:
    """Delete the objects of every due queued deletion; one committed claim per row. Returns how many."""
    done = 0
    while True:
        due = await queries.due_deletions(session, utcnow(), BATCH)
        await session.commit()
        if not due:
            return done
        for deletion in due:
            claimed = await queries.claim_deletion(session, deletion.id, deletion.attempts, utcnow() + CLAIM_LEASE)
            await session.commit()
            if not claimed:
                continue
            storage = storages.for_repo(deletion.storage_integration_fqn)
            try:
                await storage.delete_prefix(deletion.prefix)
            except StorageError:
                logger.exception("deleting %s from storage %s failed; retrying later", deletion.prefix, storage.name)
                continue
            if deletion.sweeps_left > 1:
                # Sweep again once every URL that could still upload below this prefix has expired.
                later = utcnow() + timedelta(
                    seconds=storage.ttl_seconds + min(storage.ttl_seconds, CLOCK_MARGIN_SECONDS)
                )
                await queries.reschedule_deletion(session, deletion.id, later, deletion.sweeps_left - 1)
            else:
                await queries.remove_deletion(session, deletion.id)
            await session.commit()
            done += 1
        if len(due) < BATCH:
            return done


async def drain_quietly(session: AsyncSession, storages: StorageRegistry) -> None:
    """After a committed delete: remove the objects now; on any failure the reaper retries later."""
    try:
        await drain(session, storages)
    except Exception:
        logger.exception("draining the storage deletion queue failed; the reaper will retry")


async def reap_abandoned_stages(session: AsyncSession, *, older_than: timedelta) -> int:
    """Delete staged (and failed) versions older than `older_than`, queueing their objects. Returns how many."""
    reaped = 0
    while True:
        candidates = await queries.abandoned_versions(session, STAGEABLE_FAMILIES, utcnow() - older_than, BATCH)
        if not candidates:
            await session.commit()
            return reaped
        fqn_by_id = dict(candidates)
        deleted = await queries.delete_unfinished_versions(session, list(fqn_by_id))
        for version_id, ml_repo_id in deleted:
            await enqueue_version(session, fqn_by_id[version_id], ml_repo_id, version_id)
        await session.commit()
        reaped += len(deleted)
        if len(candidates) < BATCH:
            return reaped


async def sweep_temporary_files(settings: Settings, storages: StorageRegistry) -> int:
    """Remove the local stores' temporary files that a killed process left behind. Returns how many."""
    removed = 0
    for storage in {id(storage): storage for storage in storages.named.values()}.values():
        if isinstance(storage, LocalStorage):
            removed += await asyncio.to_thread(storage.sweep_temporary, settings.temporary_file_max_age_seconds)
    if removed:
        logger.info("removed %d abandoned temporary files", removed)
    return removed


async def reap_once(database: Database, settings: Settings, storages: StorageRegistry) -> int:
    async with database.session(write=True) as session:
        reaped = await reap_abandoned_stages(session, older_than=timedelta(seconds=settings.stage_ttl_seconds))
        await drain(session, storages)
    await sweep_temporary_files(settings, storages)
    return reaped


async def run_forever(database: Database, settings: Settings, storages: StorageRegistry) -> None:
    """The background reaper of one server process."""
    while True:
        try:
            reaped = await reap_once(database, settings, storages)
            if reaped:
                logger.info("reaped %d abandoned staged versions", reaped)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("reaper pass failed")
        await asyncio.sleep(settings.reaper_interval_seconds)
