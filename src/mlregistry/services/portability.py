"""Export an ML repo to an archive and import it into a registry, with its versions and their files.

What moves: the ML repo (its manifest, creator and times), its collaborators, its runs (params, tags,
metric history), every model, artifact and prompt with their finalized versions (numbers, aliases, tags,
manifests, creators, times), the files of versions and data directories that live in the registry's
storage, and the data directories. What does not: open or failed stages, the audit trail (the import
writes one `import` event), and files behind external URIs (their manifests keep pointing there).

Ids: the ML repo gets a new numeric id. Entity, version and data-directory ids are kept when the archive
is imported under its own name, and replaced by stable ids derived from the new name under `--ml-repo`
(so the same archive can be imported twice into one registry under two names). Storage roots and
`source.uri` of stored files point into the importing registry's storage.

An import is one transaction: the repo becomes visible with everything at once, or not at all (files
copied before a failure are deleted). Importing an archive that the repo was already imported from
changes nothing.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Table
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from mlregistry.auth.subject import SYSTEM_CALLER
from mlregistry.orm.base import UTCDateTime, utcnow
from mlregistry.repositories import portability as queries
from mlregistry.repositories import runs as run_queries
from mlregistry.repositories import versions as version_queries
from mlregistry.repositories.database import Database
from mlregistry.services import audit
from mlregistry.services.archive import ArchiveError, ArchiveReader, ArchiveWriter, HashingReader, Record
from mlregistry.services.errors import Conflict, NotFound
from mlregistry.services.files import data_directory_prefix, repo_prefix, version_prefix
from mlregistry.settings import Settings
from mlregistry.storage import Storage, StorageRegistry, build_storages
from mlregistry.storage.base import StorageError, join_key

INSERT_BATCH = 500
FILES_FLAG = "files_in_archive"  # on version and data-directory records: their files are in the archive

__all__ = ["ArchiveError", "ExportSummary", "ImportSummary", "Progress", "export_repo", "import_archive"]


class Progress(Protocol):
    def start(self, records: int | None, total_bytes: int | None) -> None: ...

    def advance(self, records: int = 0, copied_bytes: int = 0) -> None: ...


class _Silent:
    def start(self, records: int | None, total_bytes: int | None) -> None:
        pass

    def advance(self, records: int = 0, copied_bytes: int = 0) -> None:
        pass


@dataclass(frozen=True)
class ExportSummary:
    ml_repo: str
    export_id: str
    records: int
    files: int
    bytes: int


@dataclass(frozen=True)
class ImportSummary:
    ml_repo: str
    ml_repo_id: int
    records: int
    files: int
    bytes: int
    already_imported: bool = False


# --- values to and from JSON ------------------------------------------------------------------------


def _datetime_columns(table: Table) -> frozenset[str]:
    return frozenset(column.name for column in table.columns if isinstance(column.type, UTCDateTime))


def _to_json(row: dict[str, Any]) -> dict[str, Any]:
    return {key: value.isoformat() if isinstance(value, datetime) else value for key, value in row.items()}


def _from_json(table: Table, data: dict[str, Any]) -> dict[str, Any]:
    """Only the table's own columns (unknown keys are ignored), with times parsed back."""
    times = _datetime_columns(table)
    values: dict[str, Any] = {}
    for column in table.columns:
        if column.name in data:
            value = data[column.name]
            values[column.name] = datetime.fromisoformat(value) if column.name in times and value else value
    return values


# --- export -----------------------------------------------------------------------------------------


async def export_repo(
    database: Database, settings: Settings, name: str, target: Path, progress: Progress | None = None
) -> ExportSummary:
    """Write the ML repo `name` and everything it holds to a new archive at `target` (`.tar` or a directory)."""
    progress = progress or _Silent()
    storages = build_storages(settings)
    async with database.session(write=False) as session:
        await _snapshot(session)
        repo_id = await queries.repo_id_by_name(session, name)
        if repo_id is None:
            raise NotFound(f"ML repo '{name}' not found")
        writer = ArchiveWriter(target)
        try:
            progress.start(None, None)
            await _export_rows(session, storages, repo_id, writer, progress)
            export_id = str(uuid.uuid4())
            writer.close(
                {
                    "export_id": export_id,
                    "exported_at": utcnow().isoformat(),
                    "tenant": settings.tenant_name,
                    "ml_repo": name,
                }
            )
        except BaseException:
            writer.abort()
            raise
    return ExportSummary(name, export_id, writer.records, writer.files, writer.bytes)


async def _snapshot(session: AsyncSession) -> None:
    """One consistent view for the whole export (SQLite's read transaction already is one)."""
    if session.get_bind().dialect.name == "postgresql":
        await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})


async def _export_rows(
    session: AsyncSession, storages: StorageRegistry, repo_id: int, writer: ArchiveWriter, progress: Progress
) -> None:
    repo: dict[str, Any] | None = None
    async for row in queries.stream(session, queries.repo_statement(repo_id)):
        repo = row
        writer.add_record("ml_repo", _to_json(row))
    assert repo is not None
    storage = storages.for_repo(repo["storage_integration_fqn"])
    # Runs come before versions, so that an import knows which `run_id`s of versions name one of them.
    simple = (
        ("collaborator", queries.collaborators_statement(repo_id)),
        ("entity", queries.entities_statement(repo_id)),
        ("run", queries.runs_statement(repo_id)),
        ("run_param", queries.run_rows_statement(queries.RUN_PARAMS, repo_id)),
        ("run_tag", queries.run_rows_statement(queries.RUN_TAGS, repo_id)),
        ("run_metric", queries.run_rows_statement(queries.RUN_METRICS, repo_id)),
        ("run_latest_metric", queries.run_rows_statement(queries.RUN_LATEST_METRICS, repo_id)),
    )
    for kind, statement in simple:
        async for row in queries.stream(session, statement):
            writer.add_record(kind, _to_json(row))
            progress.advance(records=1)
    async for row in queries.stream(session, queries.versions_statement(repo_id)):
        owned = bool(row["storage_root"]) and storage.prefix_for_uri(row["storage_root"]) is not None
        writer.add_record("version", {**_to_json(row), FILES_FLAG: owned})
        progress.advance(records=1)
    async for row in queries.stream(session, queries.version_tags_statement(repo_id)):
        writer.add_record("version_tag", _to_json(row))
        progress.advance(records=1)
    async for row in queries.stream(session, queries.version_files_statement(repo_id)):
        root, _ = row.pop("storage_root"), row.pop("ml_repo_id")
        writer.add_record("version_file", _to_json(row))
        progress.advance(records=1)
        prefix = storage.prefix_for_uri(root) if root else None
        if prefix is None or row["is_dir"]:
            continue
        await _export_file(
            storage, writer, progress, "version", row["version_id"], prefix, row["path"], row["size"], row["sha256"]
        )
    async for row in queries.stream(session, queries.data_directories_statement(repo_id)):
        prefix = row["storage_prefix"]
        writer.add_record("data_directory", {**_to_json(row), FILES_FLAG: prefix is not None})
        progress.advance(records=1)
        if prefix is None:
            continue
        for info in await storage.list_objects(prefix):
            await _export_file(storage, writer, progress, "data_directory", row["id"], prefix, info.path, info.size)


async def _export_file(
    storage: Storage,
    writer: ArchiveWriter,
    progress: Progress,
    owner: str,
    owner_id: str,
    prefix: str,
    path: str,
    size: int | None,
    recorded_sha256: str | None = None,
) -> None:
    label = f"{owner} {owner_id} file '{path}'"
    if size is None:
        raise ArchiveError(f"{label}: no recorded size")

    def copy() -> tuple[str, str]:
        source = storage.open_reader(join_key(prefix, path))
        try:
            return writer.add_file(source, size, label)
        finally:
            source.close()

    try:
        member, digest = await asyncio.to_thread(copy)
    except StorageError as exc:
        raise ArchiveError(f"{label}: {exc}") from exc
    if recorded_sha256 is not None and digest != recorded_sha256:
        raise ArchiveError(f"{label}: the stored bytes do not match the recorded sha256 {recorded_sha256}")
    writer.add_record(
        "file",
        {"owner": owner, "owner_id": owner_id, "path": path, "size": size, "sha256": digest, "member": member},
    )
    progress.advance(records=1, copied_bytes=size)


# --- import -----------------------------------------------------------------------------------------


@dataclass
class _Target:
    """Where an import writes: the new repo's id and name, and how archive ids map to registry ids."""

    name: str
    source_name: str
    repo_id: int
    storage: Storage
    run_ids: set[str] = field(default_factory=set)  # the archive's runs: versions naming one follow its id

    def remap(self, value: str | None) -> str | None:
        if value is None or self.name == self.source_name:
            return value
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"mlregistry-import:{self.name}:{value}"))

    def version_root(self, version_id: str) -> str:
        return self.storage.uri_for(version_prefix(self.repo_id, version_id))


def _with_repo_name(manifest: Any, name: str) -> Any:
    if isinstance(manifest, dict) and "ml_repo" in manifest:
        return {**manifest, "ml_repo": name}
    return manifest


def _with_source_uri(manifest: Any, old: str | None, new: str) -> Any:
    source = manifest.get("source") if isinstance(manifest, dict) else None
    if isinstance(source, dict) and (old is None or source.get("uri") == old):
        return {**manifest, "source": {**source, "uri": new}}
    return manifest


def _entity(target: _Target, data: dict[str, Any]) -> dict[str, Any]:
    values = _from_json(queries.ENTITIES, data)
    values.update(
        id=target.remap(values["id"]),
        ml_repo_id=target.repo_id,
        latest_version_id=target.remap(values.get("latest_version_id")),
    )
    return values


def _version(target: _Target, data: dict[str, Any]) -> dict[str, Any]:
    values = _from_json(queries.VERSIONS, data)
    new_id = target.remap(values["id"])
    assert new_id is not None
    manifest = _with_repo_name(values["manifest"], target.name)
    if data.get(FILES_FLAG):
        root = target.version_root(new_id)
        manifest = _with_source_uri(manifest, values["storage_root"], root)
        values["storage_root"] = root
    values.update(id=new_id, entity_id=target.remap(values["entity_id"]), ml_repo_id=target.repo_id, manifest=manifest)
    run_id = values.get("run_id")
    if run_id is not None and run_id in target.run_ids:
        values["run_id"] = target.remap(run_id)
        if isinstance(manifest, dict) and manifest.get("run_id") == run_id:
            values["manifest"] = {**manifest, "run_id": values["run_id"]}
    return values


def _run(target: _Target, data: dict[str, Any]) -> dict[str, Any]:
    values = _from_json(queries.RUNS, data)
    target.run_ids.add(values["id"])
    values.update(id=target.remap(values["id"]), ml_repo_id=target.repo_id)
    return values


def _run_row(table: Table) -> Callable[[_Target, dict[str, Any]], dict[str, Any]]:
    def place(target: _Target, data: dict[str, Any]) -> dict[str, Any]:
        values = _from_json(table, data)
        values.pop("id", None)
        values["run_id"] = target.remap(values["run_id"])
        return values

    return place


def _run_row_of_repo(table: Table) -> Callable[[_Target, dict[str, Any]], dict[str, Any]]:
    """Rows that carry their run's repo (latest metrics, params, tags): the target repo. Archives written
    before these rows carried it lack it; it is the target repo anyway."""
    place = _run_row(table)
    return lambda target, data: {**place(target, data), "ml_repo_id": target.repo_id}


def _version_tag(target: _Target, data: dict[str, Any]) -> dict[str, Any]:
    archived = _from_json(queries.VERSION_TAGS, data)
    values = {name: archived[name] for name in queries.ARCHIVED_VERSION_TAG_COLUMNS if name in archived}
    values.update(entity_id=target.remap(values["entity_id"]), version_id=target.remap(values["version_id"]))
    return values


def _version_file(target: _Target, data: dict[str, Any]) -> dict[str, Any]:
    values = _from_json(queries.VERSION_FILES, data)
    values["version_id"] = target.remap(values["version_id"])
    return values


def _data_directory(target: _Target, data: dict[str, Any]) -> dict[str, Any]:
    values = _from_json(queries.DATA_DIRECTORIES, data)
    new_id = target.remap(values["id"])
    assert new_id is not None
    manifest = _with_repo_name(values["manifest"], target.name)
    if data.get(FILES_FLAG):
        values["storage_prefix"] = data_directory_prefix(target.repo_id, new_id)
        manifest = _with_source_uri(manifest, None, target.storage.uri_for(values["storage_prefix"]))
    values.update(id=new_id, ml_repo_id=target.repo_id, manifest=manifest)
    return values


def _collaborator(target: _Target, data: dict[str, Any]) -> dict[str, Any]:
    return {**_from_json(queries.COLLABORATORS, data), "ml_repo_id": target.repo_id}


# Record kinds in the order an archive holds them, with their table and how a row is placed in the target.
ROW_KINDS: dict[str, tuple[Table, Callable[[_Target, dict[str, Any]], dict[str, Any]]]] = {
    "collaborator": (queries.COLLABORATORS, _collaborator),
    "entity": (queries.ENTITIES, _entity),
    "run": (queries.RUNS, _run),
    "run_param": (queries.RUN_PARAMS, _run_row_of_repo(queries.RUN_PARAMS)),
    "run_tag": (queries.RUN_TAGS, _run_row_of_repo(queries.RUN_TAGS)),
    "run_metric": (queries.RUN_METRICS, _run_row(queries.RUN_METRICS)),
    "run_latest_metric": (queries.RUN_LATEST_METRICS, _run_row_of_repo(queries.RUN_LATEST_METRICS)),
    "version": (queries.VERSIONS, _version),
    "version_tag": (queries.VERSION_TAGS, _version_tag),
    "version_file": (queries.VERSION_FILES, _version_file),
    "data_directory": (queries.DATA_DIRECTORIES, _data_directory),
}


async def import_archive(
    database: Database,
    settings: Settings,
    source: Path,
    new_name: str | None = None,
    progress: Progress | None = None,
) -> ImportSummary:
    progress = progress or _Silent()
    reader = ArchiveReader(source)
    try:
        return await _import(database, build_storages(settings), reader, new_name, progress)
    finally:
        reader.close()


async def _import(
    database: Database, storages: StorageRegistry, reader: ArchiveReader, new_name: str | None, progress: Progress
) -> ImportSummary:
    header = reader.header
    source_name = str(header.get("ml_repo"))
    name = new_name or source_name
    export_id = str(header.get("export_id"))
    target: _Target | None = None
    async with database.session(write=True) as session:
        existing = await queries.repo_id_by_name(session, name)
        if existing is not None:
            if export_id in await queries.import_export_ids(session, existing):
                return ImportSummary(name, existing, 0, 0, 0, already_imported=True)
            raise Conflict(f"ML repo '{name}' already exists; import under another name with --ml-repo NEW_NAME")
        progress.start(int(header.get("records") or 0), int(header.get("bytes") or 0))
        try:
            records = reader.records()
            first = next(records, None)
            if first is None or first.kind != "ml_repo":
                raise ArchiveError("record 1: the archive must start with its ml_repo record")
            repo_values = _from_json(queries.ML_REPOS, first.data)
            repo_values.pop("id", None)
            repo_values.update(name=name, manifest={**repo_values["manifest"], "name": name})
            repo_id = await queries.insert_repo(session, repo_values)
            target = _Target(name, source_name, repo_id, storages.for_repo(repo_values["storage_integration_fqn"]))
            progress.advance(records=1)
            file_records = await _insert_rows(session, target, records, progress)
            copied = await _copy_files(reader, target, progress)
            await version_queries.fill_imported_version_tags(session, repo_id)
            await version_queries.open_intervals_of_repo(session, repo_id)  # their tags and aliases hold from here
            await run_queries.recount_runs(session, repo_id)
            await run_queries.recount_tags(session, repo_id)
            audit.note(
                session,
                SYSTEM_CALLER,
                "import",
                "ml-repo",
                repo_id,
                name=name,
                export_id=export_id,
                source_ml_repo=source_name,
                source_tenant=header.get("tenant"),
            )
            await session.commit()
            filled = [table for table, _ in ROW_KINDS.values()]
            await queries.refresh_statistics(session, [*filled, queries.ML_REPOS, queries.LABEL_INTERVALS])
            await session.commit()
        except IntegrityError as exc:
            await _discard(target)
            raise Conflict(f"ML repo '{name}' or one of its records already exists ({exc.orig})") from exc
        except BaseException:
            await _discard(target)
            raise
    return ImportSummary(name, repo_id, int(header.get("records") or 0), file_records, copied)


async def _insert_rows(session: AsyncSession, target: _Target, records: Iterator[Record], progress: Progress) -> int:
    """Insert every row record in batches of one kind; answer how many file records there are."""
    batch: list[dict[str, Any]] = []
    batch_table: Table | None = None
    files = 0
    for record in records:
        progress.advance(records=1)
        if record.kind == "file":
            files += 1
            continue
        placement = ROW_KINDS.get(record.kind)
        if placement is None:
            raise ArchiveError(f"{record.describe()}: unknown record kind '{record.kind}'")
        table, place = placement
        try:
            values = place(target, record.data)
        except (KeyError, TypeError, ValueError) as exc:
            raise ArchiveError(f"{record.describe()}: malformed ({exc!r})") from exc
        if table is not batch_table or len(batch) >= INSERT_BATCH:
            if batch_table is not None:
                await queries.insert_rows(session, batch_table, batch)
            batch, batch_table = [], table
        batch.append(values)
    if batch_table is not None:
        await queries.insert_rows(session, batch_table, batch)
    return files


async def _copy_files(reader: ArchiveReader, target: _Target, progress: Progress) -> int:
    """Copy each file of the archive into the target storage, checking its size and sha256."""
    copied = 0
    for record in reader.records():
        if record.kind != "file":
            continue
        data = record.data
        try:
            owner, owner_id, path = data["owner"], target.remap(data["owner_id"]), data["path"]
            size, expected, member = int(data["size"]), str(data["sha256"]), str(data["member"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ArchiveError(f"{record.describe()}: malformed ({exc!r})") from exc
        assert owner_id is not None
        if owner == "version":
            prefix = version_prefix(target.repo_id, owner_id)
        elif owner == "data_directory":
            prefix = data_directory_prefix(target.repo_id, owner_id)
        else:
            raise ArchiveError(f"{record.describe()}: unknown owner '{owner}'")
        label = f"{member} ({owner} {data['owner_id']}, '{path}')"

        try:
            stored_size, digest = await asyncio.to_thread(
                _store_file, reader, target.storage, join_key(prefix, path), member, size, label
            )
        except StorageError as exc:
            raise ArchiveError(f"{label}: cannot be stored: {exc}") from exc
        if stored_size != size or digest != expected:
            raise ArchiveError(
                f"{label}: sha256 {digest} does not match the recorded {expected}; the archive is damaged"
            )
        copied += size
        progress.advance(copied_bytes=size)
    return copied


def _store_file(
    reader: ArchiveReader, storage: Storage, key: str, member: str, size: int, label: str
) -> tuple[int, str]:
    with reader.open_file(member) as handle:
        return storage.write_from(key, HashingReader(handle, size, label))


async def _discard(target: _Target | None) -> None:
    """Remove what a failed import copied (the repo's id is new, so its prefix held nothing before)."""
    if target is None:
        return
    try:
        await target.storage.delete_prefix(repo_prefix(target.repo_id))
    except StorageError:
        pass
