"""The files of versions and data directories: where they live, signed URLs, multipart uploads,
listings, and the integrity record taken when a staged version is finalized."""

from __future__ import annotations

import asyncio
import base64
import binascii
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from mlregistry.auth.subject import Caller
from mlregistry.orm import EntityVersion, MlRepo
from mlregistry.repositories import files as queries
from mlregistry.repositories import versions as version_queries
from mlregistry.repositories.versions import STATE_FINALIZED, STATE_STAGED, VersionRow
from mlregistry.services import audit, events
from mlregistry.services.access import Role, authorize, repo_scope
from mlregistry.services.errors import Conflict, Forbidden, Invalid, NotFound
from mlregistry.services.families import FAMILIES
from mlregistry.services.presenters import iso
from mlregistry.settings import Settings
from mlregistry.storage import WRITE, ChildEntry, Storage, StorageRegistry, normalize_relative_path
from mlregistry.storage.base import MAX_SEGMENT_BYTES, Operation, join_key, segment_too_long

MAX_PARTS = 10000
HASH_CONCURRENCY = 4
STAGEABLE_FAMILIES = tuple(name for name, family in FAMILIES.items() if family.stageable)


def version_prefix(ml_repo_id: int, version_id: str) -> str:
    """Where a finalized version's files live (its `storage_root`); no upload URL is ever signed below it."""
    return f"{ml_repo_id}/{version_id}"


STAGING = "staging"
DATA_DIRECTORIES = "data-directories"


def staging_prefix(ml_repo_id: int, version_id: str) -> str:
    """Where a staged version's uploads land; finalize moves them to `version_prefix` inside the store, so
    an upload URL still valid after finalize can no longer change what the finalized version serves."""
    return f"{ml_repo_id}/{STAGING}/{version_id}"


def version_prefixes(ml_repo_id: int, version_id: str) -> list[str]:
    """Every prefix that may hold objects of a version (to delete them all)."""
    return [version_prefix(ml_repo_id, version_id), staging_prefix(ml_repo_id, version_id)]


def data_directory_prefix(ml_repo_id: int, directory_id: str) -> str:
    return f"{ml_repo_id}/{DATA_DIRECTORIES}/{directory_id}"


def version_id_of_key(key: str) -> str | None:
    """The version whose files a storage key lies below (staged or final), or None (a data directory's)."""
    parts = key.split("/")
    if len(parts) >= 3 and parts[1] == STAGING:
        return parts[2]
    if len(parts) >= 2 and parts[1] not in (STAGING, DATA_DIRECTORIES):
        return parts[1]
    return None


def repo_prefix(ml_repo_id: int) -> str:
    return str(ml_repo_id)


def clean_paths(paths: list[str], field: str) -> list[str]:
    cleaned: list[str] = []
    for index, path in enumerate(paths):
        clean = normalize_relative_path(path)
        if clean is None:
            raise Invalid.field(
                [field, index], "must be a relative path without `..`, a leading `/` or backslashes (max 1024)"
            )
        if segment_too_long(clean):
            raise Invalid.field(
                [field, index], f"has a segment longer than {MAX_SEGMENT_BYTES} bytes in UTF-8 (a file name limit)"
            )
        cleaned.append(clean)
    if not cleaned:
        raise Invalid.field([field], "name at least one path")
    return cleaned


def clean_directory(path: str | None) -> str:
    """A listed directory: null or "" is the root."""
    if path is None or path.strip("/") in ("", "."):
        return ""
    clean = normalize_relative_path(path)
    if clean is None:
        raise Invalid.field(["path"], "must be a relative path without `..`")
    return clean


def encode_page_token(cursor: str) -> str:
    return base64.urlsafe_b64encode(cursor.encode()).decode()


def decode_page_token(token: str | None) -> str | None:
    if not token:
        return None
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise Invalid.field(["pageToken"], "is not a token this server issued") from exc


def page_limit(settings: Settings, limit: int | None) -> int:
    if limit is None:
        return settings.max_page_size
    if limit < 1 or limit > settings.max_page_size:
        raise Invalid.field(["limit"], f"must be between 1 and {settings.max_page_size}")
    return limit


def check_num_parts(num_parts: int) -> None:
    if not 1 <= num_parts <= MAX_PARTS:
        raise Invalid.field(["num_parts"], f"must be between 1 and {MAX_PARTS}")


def multipart_to_wire(path: str, upload: Any) -> dict[str, Any]:
    return {
        "storage_provider": "S3_COMPATIBLE",
        "part_signed_urls": [{"path": path, "signed_url": url} for url in upload.part_urls],
        "finalize_signed_url": {"path": path, "signed_url": upload.finalize_url},
        "s3_compatible_upload_id": upload.upload_id,
    }


async def sign_paths(
    storage: Storage, prefix: str, paths: list[str], operation: Operation, base_url: str
) -> list[dict[str, Any]]:
    """One URL per path, in request order (clients pair answers with paths by position)."""
    return [
        {"path": path, "signed_url": await storage.signed_url(join_key(prefix, path), operation, base_url)}
        for path in paths
    ]


def child_to_wire(directory: str, child: ChildEntry) -> dict[str, Any]:
    wire: dict[str, Any] = {"path": join_key(directory, child.name), "is_dir": child.is_dir}
    if child.size is not None:
        wire["file_size"] = child.size
    if child.last_modified is not None:
        wire["last_modified"] = iso(child.last_modified)
    return wire


async def list_storage_children(
    storage: Storage, prefix: str, directory: str, page_token: str | None, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    children = await storage.list_children(join_key(prefix, directory), decode_page_token(page_token), limit + 1)
    page = children[:limit]
    next_token = encode_page_token(page[-1].cursor) if len(children) > limit else None
    return [child_to_wire(directory, child) for child in page], next_token


# --- versions ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StagedTarget:
    row: VersionRow
    storage: Storage
    prefix: str  # where the finalized files are read
    staging: str  # where uploads land while staged


def _not_found(version_id: str) -> NotFound:
    return NotFound(f"Artifact or model version '{version_id}' not found")


async def _version_target(
    session: AsyncSession, storages: StorageRegistry, caller: Caller, version_id: str, needed: Role
) -> StagedTarget:
    """Any staged-capable version (artifact or model) the caller holds `needed` on, in any state."""
    row = await version_queries.get_version_row(session, repo_scope(caller), version_id)
    if row is None or row.version.family not in STAGEABLE_FAMILIES:
        raise _not_found(version_id)
    authorize(caller, row.access, needed, not_found=_not_found(version_id).message)
    repo = row.access.resource
    return StagedTarget(
        row=row,
        storage=storages.for_repo(repo.storage_integration_fqn),
        prefix=version_prefix(repo.id, version_id),
        staging=staging_prefix(repo.id, version_id),
    )


def _require_state(version: EntityVersion, state: str, action: str) -> None:
    if version.state != state:
        raise Conflict(f"Version '{version.id}' is {version.state}: {action} needs a {state} version")


async def version_signed_urls(
    session: AsyncSession,
    storages: StorageRegistry,
    caller: Caller,
    version_id: str,
    paths: list[str],
    operation: Operation,
    base_url: str,
) -> list[dict[str, Any]]:
    cleaned = clean_paths(paths, "paths")
    if operation == WRITE:
        target = await _version_target(session, storages, caller, version_id, Role.EDITOR)
        _require_state(target.row.version, STATE_STAGED, "uploading")
        await queries.register_expected_files(session, version_id, cleaned)
        return await sign_paths(target.storage, target.staging, cleaned, operation, base_url)
    target = await _version_target(session, storages, caller, version_id, Role.VIEWER)
    _require_state(target.row.version, STATE_FINALIZED, "downloading")
    missing = sorted(set(cleaned) - await queries.existing_files(session, version_id, cleaned))
    if missing:
        raise NotFound(f"Version '{version_id}' has no file {', '.join(missing)}")
    return await sign_paths(target.storage, target.prefix, cleaned, operation, base_url)


async def version_multipart_upload(
    session: AsyncSession,
    storages: StorageRegistry,
    caller: Caller,
    version_id: str,
    path: str,
    num_parts: int,
    base_url: str,
) -> dict[str, Any]:
    [clean] = clean_paths([path], "path")
    check_num_parts(num_parts)
    target = await _version_target(session, storages, caller, version_id, Role.EDITOR)
    _require_state(target.row.version, STATE_STAGED, "uploading")
    await queries.register_expected_files(session, version_id, [clean])
    upload = await target.storage.create_multipart_upload(join_key(target.staging, clean), num_parts, base_url)
    return multipart_to_wire(clean, upload)


async def check_signed_write(session: AsyncSession, key: str) -> None:
    """A signed upload to the local store is honoured only while the version it writes to is staged: the
    signature alone would outlive a finalize (it is valid for its TTL)."""
    version_id = version_id_of_key(key)
    if version_id is None:
        return
    version = await session.get(EntityVersion, version_id)
    if version is None or version.state != STATE_STAGED:
        state = "deleted" if version is None else version.state
        raise Forbidden(f"Signed URL refused: version '{version_id}' is {state}; its files can no longer change")


async def version_files(
    session: AsyncSession,
    settings: Settings,
    storages: StorageRegistry,
    caller: Caller,
    version_id: str,
    path: str | None,
    limit: int | None,
    page_token: str | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Direct children of `path` with each file's size and sha256 as recorded at finalize."""
    directory = clean_directory(path)
    size = page_limit(settings, limit)
    target = await _version_target(session, storages, caller, version_id, Role.VIEWER)
    _require_state(target.row.version, STATE_FINALIZED, "listing files")
    rows = await queries.list_children(session, version_id, directory, decode_page_token(page_token), size + 1)
    items = []
    for row in rows[:size]:
        item: dict[str, Any] = {"path": row.path, "is_dir": row.is_dir}
        if not row.is_dir:
            item.update(file_size=row.size, sha256=row.sha256)
        items.append(item)
    next_token = encode_page_token(rows[size - 1].path) if len(rows) > size else None
    return items, next_token


async def mark_stage_failure(session: AsyncSession, storages: StorageRegistry, caller: Caller, version_id: str) -> bool:
    """STAGED -> FAILED and its objects queued for deletion. True when something was marked.

    Any other state is left alone: a finalized version is never damaged by a late failure report."""
    target = await _version_target(session, storages, caller, version_id, Role.EDITOR)
    if not await queries.mark_failed(session, version_id):
        return False
    await queries.enqueue_deletions(
        session, target.row.access.resource.storage_integration_fqn, [target.prefix, target.staging]
    )
    audit.note(session, caller, "mark_stage_failure", FAMILIES[target.row.version.family].manifest_type, version_id)
    await events.stage_failed(session, caller, FAMILIES[target.row.version.family], target.row)
    return True


# --- integrity at finalize -----------------------------------------------------------------------


def _directory_rows(paths: list[str]) -> list[dict[str, Any]]:
    directories: set[str] = set()
    for path in paths:
        parts = path.split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            directories.add("/".join(parts[:depth]))
    return [
        {"path": directory, "parent": directory.rpartition("/")[0], "is_dir": True, "size": None, "sha256": None}
        for directory in sorted(directories)
    ]


async def record_files_at_finalize(
    session: AsyncSession, storages: StorageRegistry, repo: MlRepo, version: EntityVersion
) -> None:
    """Move the staged uploads to the version's own prefix, then record every file's size and sha256 as
    stored there; refuse (422) when an announced file never arrived (and then move nothing).

    What was moved is what a READ URL serves: a late upload through a URL signed while staged lands in
    the staging prefix, which is queued for deletion (swept again once every such URL has expired)."""
    storage = storages.for_repo(repo.storage_integration_fqn)
    prefix = version_prefix(repo.id, version.id)
    staging = staging_prefix(repo.id, version.id)
    uploaded = {info.path for info in await storage.list_objects(staging)}
    # Files may already be in place: a finalize whose transaction failed after the move is retried.
    present = uploaded | {info.path for info in await storage.list_objects(prefix)}
    expected = await queries.version_file_paths(session, version.id)
    missing = sorted(set(expected) - present)
    if missing:
        raise Invalid(
            f"Cannot finalize: {len(missing)} file(s) were never uploaded: {', '.join(missing[:20])}",
            details=[{"loc": ["files", path], "msg": "was never uploaded", "type": "missing_file"} for path in missing],
        )
    if uploaded:
        await storage.move_prefix(staging, prefix)
    await queries.enqueue_deletions(session, repo.storage_integration_fqn, [staging])
    stored = {info.path: info for info in await storage.list_objects(prefix)}
    limiter = asyncio.Semaphore(HASH_CONCURRENCY)

    async def checksum(path: str) -> str:
        known = stored[path].sha256
        if known is not None:
            return known
        async with limiter:
            return await storage.sha256(join_key(prefix, path))

    paths = sorted(stored)
    hashes = await asyncio.gather(*(checksum(path) for path in paths))
    rows = [
        {"path": path, "parent": path.rpartition("/")[0], "is_dir": False, "size": stored[path].size, "sha256": digest}
        for path, digest in zip(paths, hashes, strict=True)
    ]
    await queries.replace_version_files(session, version.id, rows + _directory_rows(paths))
