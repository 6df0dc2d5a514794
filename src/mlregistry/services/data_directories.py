"""Data directories: unversioned folders of files in an ML repo, read and written through signed URLs."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from mlregistry.auth.subject import Caller
from mlregistry.orm import DataDirectory
from mlregistry.orm.base import utcnow
from mlregistry.repositories import data_directories as queries
from mlregistry.repositories.data_directories import DataDirectoryFilters, DataDirectoryRow
from mlregistry.schemas.artifacts import DataDirectoryManifest
from mlregistry.schemas.manifests import manifest_to_wire
from mlregistry.services import audit, files, reaper
from mlregistry.services.access import Role, authorize, repo_scope
from mlregistry.services.errors import Conflict, Invalid, NotFound
from mlregistry.services.fqn import parse_fqn
from mlregistry.services.ml_repos import parse_repo_id, repo_by_name
from mlregistry.services.presenters import data_directory_to_wire
from mlregistry.settings import Settings
from mlregistry.storage import WRITE, Storage, StorageRegistry
from mlregistry.storage.base import Operation, join_key

FQN_PREFIX = "data-dir"


def _not_found(directory_id: str) -> NotFound:
    return NotFound(f"Data directory '{directory_id}' not found")


def _present(settings: Settings, row: DataDirectoryRow) -> dict[str, Any]:
    return data_directory_to_wire(row.directory, row.access.resource.name, settings.tenant_name)


async def apply_data_directory(
    session: AsyncSession,
    settings: Settings,
    storages: StorageRegistry,
    caller: Caller,
    manifest: DataDirectoryManifest,
) -> dict[str, Any]:
    """Create the directory named (`ml_repo`, `name`), or update its description and metadata."""
    repo = await repo_by_name(session, caller, manifest.ml_repo, Role.EDITOR)
    storage = storages.for_repo(repo.storage_integration_fqn)
    wire = manifest_to_wire(manifest)
    source = wire["source"]
    existing = await queries.find(session, repo.id, manifest.name)
    now = utcnow()
    if existing is not None:
        stored_source = existing.manifest["source"]
        if source.get("type") != stored_source.get("type") or source.get("uri", stored_source.get("uri")) != (
            stored_source.get("uri")
        ):
            raise Invalid.field(["manifest", "source"], "cannot change on an existing data directory")
        wire["source"] = stored_source
        existing.manifest = wire
        existing.updated_at = now
        directory = existing
        audit.note(session, caller, "update", "data-dir", directory.id, ml_repo=repo.name, name=directory.name)
    else:
        directory_id = str(uuid.uuid4())
        prefix: str | None = None
        if source["type"] == "truefoundry":
            if source.get("uri") is not None:
                raise Invalid.field(["manifest", "source", "uri"], "is chosen by the server for a truefoundry source")
            prefix = files.data_directory_prefix(repo.id, directory_id)
            source["uri"] = storage.uri_for(prefix)
        elif storages.owns(source["uri"]):
            # Another entity's files live there: pointing a directory at them would bypass their owner.
            raise Invalid.field(["manifest", "source", "uri"], "lies in managed storage; use a truefoundry source")
        directory = DataDirectory(
            id=directory_id,
            ml_repo_id=repo.id,
            name=manifest.name,
            manifest=wire,
            storage_prefix=prefix,
            created_by_subject=caller.as_subject(),
            created_at=now,
            updated_at=now,
        )
        try:
            await queries.add(session, directory)
        except IntegrityError as exc:
            raise Conflict(f"Data directory '{manifest.name}' was created concurrently, try again") from exc
        audit.note(session, caller, "create", "data-dir", directory.id, ml_repo=repo.name, name=directory.name)
    return data_directory_to_wire(directory, repo.name, settings.tenant_name)


async def _authorized(session: AsyncSession, caller: Caller, directory_id: str, needed: Role) -> DataDirectoryRow:
    row = await queries.get_row(session, repo_scope(caller), directory_id)
    if row is None:
        raise _not_found(directory_id)
    authorize(caller, row.access, needed, not_found=_not_found(directory_id).message)
    return row


async def get_data_directory(
    session: AsyncSession, settings: Settings, caller: Caller, directory_id: str
) -> dict[str, Any]:
    return _present(settings, await _authorized(session, caller, directory_id, Role.VIEWER))


async def list_data_directories(
    session: AsyncSession,
    settings: Settings,
    caller: Caller,
    *,
    fqn: str | None,
    ml_repo_id: str | None,
    name: str | None,
    offset: int,
    limit: int,
) -> tuple[list[dict[str, Any]], int]:
    filters = DataDirectoryFilters(name=name)
    if ml_repo_id is not None:
        filters.ml_repo_id = parse_repo_id(ml_repo_id)
        if filters.ml_repo_id is None:
            return [], 0
    if fqn is not None:
        parsed = parse_fqn(fqn, versioned=False)
        if parsed is None or parsed.prefix != FQN_PREFIX or parsed.tenant != settings.tenant_name:
            return [], 0
        if name not in (None, parsed.name):
            return [], 0
        filters.name, filters.ml_repo_name = parsed.name, parsed.ml_repo
    rows, total = await queries.list_page(session, filters, repo_scope(caller), offset=offset, limit=limit)
    return [_present(settings, row) for row in rows], total


async def delete_data_directory(
    session: AsyncSession, caller: Caller, directory_id: str, *, delete_contents: bool
) -> None:
    """Remove the record; with `delete_contents` its stored files too (queued in the same transaction)."""
    row = await _authorized(session, caller, directory_id, Role.ADMIN)
    if delete_contents and row.directory.storage_prefix is not None:
        await reaper.enqueue(session, row.access.resource.storage_integration_fqn, [row.directory.storage_prefix])
    await queries.delete_by_id(session, directory_id)
    audit.note(session, caller, "delete", "data-dir", directory_id, delete_contents=delete_contents)


@dataclass(frozen=True)
class DirectoryTarget:
    storage: Storage
    prefix: str


async def _target(
    session: AsyncSession, storages: StorageRegistry, caller: Caller, directory_id: str, needed: Role
) -> DirectoryTarget:
    row = await _authorized(session, caller, directory_id, needed)
    if row.directory.storage_prefix is None:
        raise Invalid.field(["id"], "this data directory points at an external location the server cannot sign for")
    return DirectoryTarget(
        storage=storages.for_repo(row.access.resource.storage_integration_fqn), prefix=row.directory.storage_prefix
    )


async def signed_urls(
    session: AsyncSession,
    storages: StorageRegistry,
    caller: Caller,
    directory_id: str,
    paths: list[str],
    operation: Operation,
    base_url: str,
) -> list[dict[str, Any]]:
    cleaned = files.clean_paths(paths, "paths")
    needed = Role.EDITOR if operation == WRITE else Role.VIEWER
    target = await _target(session, storages, caller, directory_id, needed)
    return await files.sign_paths(target.storage, target.prefix, cleaned, operation, base_url)


async def multipart_upload(
    session: AsyncSession,
    storages: StorageRegistry,
    caller: Caller,
    directory_id: str,
    path: str,
    num_parts: int,
    base_url: str,
) -> dict[str, Any]:
    [clean] = files.clean_paths([path], "path")
    files.check_num_parts(num_parts)
    target = await _target(session, storages, caller, directory_id, Role.EDITOR)
    upload = await target.storage.create_multipart_upload(join_key(target.prefix, clean), num_parts, base_url)
    return files.multipart_to_wire(clean, upload)


async def list_files(
    session: AsyncSession,
    settings: Settings,
    storages: StorageRegistry,
    caller: Caller,
    directory_id: str,
    path: str | None,
    limit: int | None,
    page_token: str | None,
) -> tuple[list[dict[str, Any]], str | None]:
    directory = files.clean_directory(path)
    size = files.page_limit(settings, limit)
    target = await _target(session, storages, caller, directory_id, Role.VIEWER)
    return await files.list_storage_children(target.storage, target.prefix, directory, page_token, size)


async def delete_files(
    session: AsyncSession, storages: StorageRegistry, caller: Caller, directory_id: str, paths: list[str]
) -> None:
    cleaned = files.clean_paths(paths, "paths")
    target = await _target(session, storages, caller, directory_id, Role.ADMIN)
    await target.storage.delete_paths(target.prefix, cleaned)
    audit.note(session, caller, "delete_files", "data-dir", directory_id, paths=cleaned)
