"""The embedded store: objects on local disk, served and received by the server through signed URLs.

Layout under the root: `objects/<key>` (complete objects only), `meta/<key>.json` (size, sha256 and
mtime recorded while streaming), `uploads/<key>/<upload id>/<part>` (multipart parts), `tmp/` (files
being written; renamed into place when complete, so a reader never sees half an object).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
import shutil
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote, urlencode

from mlregistry.storage.base import (
    ChildEntry,
    MultipartUpload,
    ObjectInfo,
    Operation,
    Readable,
    StorageError,
    join_key,
    normalize_relative_path,
)
from mlregistry.storage.signing import UrlSigner

WRITE_BUFFER_BYTES = 8 * 1024 * 1024
READ_BLOCK_BYTES = 8 * 1024 * 1024
MAX_PARTS = 10000
UPLOAD_ID_PATTERN = re.compile(r"^[0-9a-f]{32}$")
ROUTE_PREFIX = "/storage"
LOCAL_BUCKET = "mlregistry-local"


@dataclass(frozen=True)
class StoredObject:
    size: int
    sha256: str


class MultipartError(Exception):
    """A CompleteMultipartUpload request names parts that were not uploaded or do not match."""


def _sha256_of_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(READ_BLOCK_BYTES):
            digest.update(block)
    return digest.hexdigest()


def _start_writeback(fd: int, offset: int, length: int) -> None:
    """Ask the kernel to start writing a just-written range to disk now, without waiting for it.

    Without this the kernel keeps the whole file dirty in memory until the closing fsync, which then
    writes all of it while the client waits; with it, the disk works while the rest of the file is
    still arriving, and the fsync only waits for the last block. On Linux, POSIX_FADV_DONTNEED starts
    the range's writeback (pages still dirty or under writeback stay cached). Elsewhere it is a no-op:
    the fsync alone makes the file durable either way."""
    if length > 0 and hasattr(os, "posix_fadvise"):
        os.posix_fadvise(fd, offset, length, os.POSIX_FADV_DONTNEED)


def _write_durably(output: BinaryIO, block: bytes | list[bytes], offset: int) -> None:
    """Write a block (or a block's chunks) at `offset`, which is where the file ends, and start its writeback."""
    length = 0
    for chunk in [block] if isinstance(block, bytes) else block:
        output.write(chunk)
        length += len(chunk)
    output.flush()
    _start_writeback(output.fileno(), offset, length)


class LocalStorage:
    def __init__(self, name: str, root: Path, signer: UrlSigner, ttl_seconds: int) -> None:
        self.name = name
        self.root = root.resolve()
        # The truefoundry library only accepts `s3://`, `gs://` or `wasbs://` URIs as a version's source, so the
        # local store names its roots in the S3 form; they are resolved by this server alone.
        self.root_uri = f"s3://{LOCAL_BUCKET}/{name}"
        self.signer = signer
        self.ttl_seconds = ttl_seconds
        self.objects = self.root / "objects"
        self.meta = self.root / "meta"
        self.uploads = self.root / "uploads"
        self.tmp = self.root / "tmp"
        for directory in (self.objects, self.meta, self.uploads, self.tmp):
            directory.mkdir(parents=True, exist_ok=True)

    # --- naming -----------------------------------------------------------------------------

    def uri_for(self, prefix: str) -> str:
        return f"{self.root_uri}/{prefix}"

    def prefix_for_uri(self, uri: str) -> str | None:
        if not uri.startswith(self.root_uri + "/"):
            return None
        return normalize_relative_path(uri[len(self.root_uri) + 1 :])

    def _path(self, base: Path, key: str, suffix: str = "") -> Path:
        clean = normalize_relative_path(key)
        if clean is None:
            raise StorageError(f"invalid object key {key!r}")
        return base / (clean + suffix)

    def object_path(self, key: str) -> Path:
        return self._path(self.objects, key)

    # --- signed URLs ------------------------------------------------------------------------

    def _url(self, base_url: str, method: str, key: str, scope: str = "", **params: str) -> str:
        expires, signature = self.signer.sign(method, self.name, key, self.ttl_seconds, scope)
        query = urlencode({**params, "expires": expires, "signature": signature})
        return f"{base_url.rstrip('/')}{ROUTE_PREFIX}/{self.name}/{quote(key, safe='/')}?{query}"

    async def signed_url(self, key: str, operation: Operation, base_url: str) -> str:
        return self._url(base_url, "GET" if operation == "READ" else "PUT", key)

    async def create_multipart_upload(self, key: str, num_parts: int, base_url: str) -> MultipartUpload:
        upload_id = uuid.uuid4().hex
        await asyncio.to_thread(self._path(self.uploads, key).joinpath(upload_id).mkdir, parents=True, exist_ok=True)
        part_urls = [
            self._url(base_url, "PUT", key, f"{upload_id}:{number}", uploadId=upload_id, partNumber=str(number))
            for number in range(1, num_parts + 1)
        ]
        finalize_url = self._url(base_url, "POST", key, upload_id, uploadId=upload_id)
        return MultipartUpload(upload_id=upload_id, part_urls=part_urls, finalize_url=finalize_url)

    def verify(self, method: str, key: str, expires: str, signature: str, scope: str = "") -> None:
        # HEAD is a GET without a body: a READ URL allows both.
        self.signer.verify("GET" if method == "HEAD" else method, self.name, key, expires, signature, scope)

    # --- streaming writes -------------------------------------------------------------------

    async def _receive(self, chunks: AsyncIterator[bytes]) -> tuple[Path, StoredObject]:
        """Stream a request body to a new temporary file, hashing it on the way; never whole in memory.

        The body's chunks are gathered into blocks of about 8 MiB. Each block is hashed in one worker
        thread and written in another while the next block is being received, so the network, the hash
        and the disk overlap; the chunks are handed over as they came (no copy into one buffer). Each
        written block's writeback to disk starts at once (`_start_writeback`), so the fsync before the
        answer waits for the last block only, not for the whole file."""
        temporary = self.tmp / uuid.uuid4().hex
        digest = hashlib.sha256()
        size = 0
        handle = await asyncio.to_thread(temporary.open, "wb")
        in_flight: asyncio.Future[Any] | None = None

        def hash_block(block: list[bytes]) -> None:
            for chunk in block:
                digest.update(chunk)

        def store(block: list[bytes], offset: int) -> asyncio.Future[Any]:
            return asyncio.gather(
                asyncio.to_thread(hash_block, block), asyncio.to_thread(_write_durably, handle, block, offset)
            )

        try:
            pending: list[bytes] = []
            pending_size = 0
            async for chunk in chunks:
                if not chunk:
                    continue
                pending.append(chunk)
                pending_size += len(chunk)
                if pending_size >= WRITE_BUFFER_BYTES:
                    if in_flight is not None:
                        await in_flight
                    in_flight = store(pending, size)
                    size += pending_size
                    pending, pending_size = [], 0
            if in_flight is not None:
                await in_flight
                in_flight = None
            if pending:
                await store(pending, size)
                size += pending_size
            await asyncio.to_thread(os.fsync, handle.fileno())
        except BaseException:
            if in_flight is not None:
                with contextlib.suppress(BaseException):
                    await in_flight
            handle.close()
            temporary.unlink(missing_ok=True)
            raise
        handle.close()
        return temporary, StoredObject(size=size, sha256=digest.hexdigest())

    def _install(self, temporary: Path, key: str, stored: StoredObject) -> None:
        """Rename a complete file into place, then record what was measured while streaming it."""
        target = self.object_path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(temporary, target)
        record = {"size": stored.size, "sha256": stored.sha256, "mtime_ns": target.stat().st_mtime_ns}
        meta_path = self._path(self.meta, key, ".json")
        meta_path.parent.mkdir(parents=True, exist_ok=True)
        meta_temporary = self.tmp / f"{uuid.uuid4().hex}.json"
        meta_temporary.write_text(json.dumps(record))
        os.replace(meta_temporary, meta_path)

    async def put_object(self, key: str, chunks: AsyncIterator[bytes]) -> StoredObject:
        self.object_path(key)  # validate the key before reading the body
        temporary, stored = await self._receive(chunks)
        await asyncio.to_thread(self._install_or_discard, temporary, key, stored)
        return stored

    def _install_or_discard(self, temporary: Path, key: str, stored: StoredObject) -> None:
        try:
            self._install(temporary, key, stored)
        except (IsADirectoryError, NotADirectoryError, FileExistsError) as exc:
            # On disk a path cannot be both a file and a directory (`a` and `a/b`), unlike S3 keys.
            temporary.unlink(missing_ok=True)
            raise StorageError(f"'{key}' collides with an existing file or directory of the same name") from exc

    def _part_directory(self, key: str, upload_id: str) -> Path:
        if not UPLOAD_ID_PATTERN.match(upload_id):
            raise MultipartError("unknown upload id")
        return self._path(self.uploads, key) / upload_id

    async def put_part(self, key: str, upload_id: str, part_number: int, chunks: AsyncIterator[bytes]) -> str:
        """Store one part; answer its ETag (quoted, like S3)."""
        directory = self._part_directory(key, upload_id)
        if not 1 <= part_number <= MAX_PARTS or not directory.is_dir():
            raise MultipartError("unknown upload id or part number")
        temporary, stored = await self._receive(chunks)
        await asyncio.to_thread(os.replace, temporary, directory / str(part_number))
        await asyncio.to_thread((directory / f"{part_number}.etag").write_text, stored.sha256)
        return f'"{stored.sha256}"'

    async def complete_multipart_upload(self, key: str, upload_id: str, parts: list[tuple[int, str]]) -> StoredObject:
        directory = self._part_directory(key, upload_id)
        return await asyncio.to_thread(self._assemble, key, directory, parts)

    def _assemble(self, key: str, directory: Path, parts: list[tuple[int, str]]) -> StoredObject:
        if not directory.is_dir():
            raise MultipartError("unknown or already completed upload id")
        if not parts:
            raise MultipartError("no parts listed")
        numbers = [number for number, _ in parts]
        if numbers != sorted(set(numbers)):
            raise MultipartError("parts must be listed once each, in ascending order")
        for number, etag in parts:
            recorded = directory / f"{number}.etag"
            if not recorded.is_file() or recorded.read_text() != etag.strip().strip('"'):
                raise MultipartError(f"part {number} was not uploaded or its ETag does not match")
        temporary = self.tmp / uuid.uuid4().hex
        digest = hashlib.sha256()
        size = 0
        with temporary.open("wb") as output:
            for number, _ in parts:
                with (directory / str(number)).open("rb") as part:
                    while block := part.read(READ_BLOCK_BYTES):
                        digest.update(block)
                        _write_durably(output, block, size)
                        size += len(block)
            os.fsync(output.fileno())
        stored = StoredObject(size=size, sha256=digest.hexdigest())
        try:
            self._install_or_discard(temporary, key, stored)
        except StorageError as exc:
            raise MultipartError(str(exc)) from exc
        shutil.rmtree(directory, ignore_errors=True)
        return stored

    def recorded_etag(self, key: str) -> str | None:
        meta_path = self._path(self.meta, key, ".json")
        try:
            return str(json.loads(meta_path.read_text())["sha256"])
        except (OSError, ValueError, KeyError):
            return None

    # --- listing, hashing, deleting ------------------------------------------------------------

    def _recorded(self, key: str, stat: os.stat_result) -> str | None:
        try:
            record = json.loads(self._path(self.meta, key, ".json").read_text())
        except (OSError, ValueError):
            return None
        if record.get("size") == stat.st_size and record.get("mtime_ns") == stat.st_mtime_ns:
            return str(record["sha256"])
        return None

    def _walk(self, prefix: str) -> list[ObjectInfo]:
        base = self._path(self.objects, prefix)
        found: list[ObjectInfo] = []
        for directory, _dirs, files in os.walk(base):
            for file_name in files:
                full = Path(directory) / file_name
                relative = full.relative_to(base).as_posix()
                stat = full.stat()
                found.append(
                    ObjectInfo(
                        path=relative, size=stat.st_size, sha256=self._recorded(join_key(prefix, relative), stat)
                    )
                )
        return sorted(found, key=lambda info: info.path)

    async def list_objects(self, prefix: str) -> list[ObjectInfo]:
        return await asyncio.to_thread(self._walk, prefix)

    def _children(self, prefix: str, start_after: str | None, limit: int) -> list[ChildEntry]:
        directory = self._path(self.objects, prefix)
        try:
            entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
        except (NotADirectoryError, FileNotFoundError):
            return []
        children: list[ChildEntry] = []
        for entry in entries:
            if start_after is not None and entry.name <= start_after:
                continue
            is_dir = entry.is_dir()
            stat = entry.stat()
            children.append(
                ChildEntry(
                    name=entry.name,
                    cursor=entry.name,
                    is_dir=is_dir,
                    size=None if is_dir else stat.st_size,
                    last_modified=datetime.fromtimestamp(stat.st_mtime, UTC),
                )
            )
            if len(children) >= limit:
                break
        return children

    async def list_children(self, prefix: str, start_after: str | None, limit: int) -> list[ChildEntry]:
        return await asyncio.to_thread(self._children, prefix, start_after, limit)

    async def sha256(self, key: str) -> str:
        return await asyncio.to_thread(_sha256_of_file, self.object_path(key))

    def _remove(self, key: str) -> None:
        for base, suffix in ((self.objects, ""), (self.meta, ".json"), (self.uploads, "")):
            target = self._path(base, key, suffix)
            if target.is_dir():
                shutil.rmtree(target, ignore_errors=True)
            else:
                target.unlink(missing_ok=True)
        meta_directory = self._path(self.meta, key)
        if meta_directory.is_dir():
            shutil.rmtree(meta_directory, ignore_errors=True)
        self._prune_empty_parents(key)

    def _prune_empty_parents(self, key: str) -> None:
        """Drop directories left empty by a delete, so a removed version leaves no trace on disk."""
        for base in (self.objects, self.meta, self.uploads):
            parent = self._path(base, key).parent
            while parent != base and parent.is_relative_to(base):
                try:
                    parent.rmdir()
                except OSError:
                    break
                parent = parent.parent

    async def delete_paths(self, prefix: str, paths: list[str]) -> None:
        def remove_all() -> None:
            for path in paths:
                self._remove(join_key(prefix, path))

        await asyncio.to_thread(remove_all)

    async def delete_prefix(self, prefix: str) -> None:
        if normalize_relative_path(prefix) is None:
            raise StorageError(f"refusing to delete invalid prefix {prefix!r}")
        await asyncio.to_thread(self._remove, prefix)

    def _move(self, source: str, target: str) -> int:
        moved = 0
        for info in self._walk(source):
            from_key, to_key = join_key(source, info.path), join_key(target, info.path)
            destination = self.object_path(to_key)
            destination.parent.mkdir(parents=True, exist_ok=True)
            meta_source = self._path(self.meta, from_key, ".json")
            meta_target = self._path(self.meta, to_key, ".json")
            # The record first: it names the object's size and mtime, so a record that does not match
            # the object beside it is ignored (and the object hashed) rather than believed.
            if meta_source.is_file():
                meta_target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(meta_source, meta_target)
            else:
                meta_target.unlink(missing_ok=True)
            try:
                os.replace(self.object_path(from_key), destination)
            except FileNotFoundError:
                continue  # removed meanwhile
            moved += 1
            self._prune_empty_parents(from_key)
        return moved

    async def move_prefix(self, source: str, target: str) -> int:
        return await asyncio.to_thread(self._move, source, target)

    # --- abandoned temporary files ------------------------------------------------------------

    def sweep_temporary(self, max_age_seconds: float) -> int:
        """Remove files in `tmp/` not written for `max_age_seconds` (left by a killed process: an upload
        in progress writes its file every few MiB). Answers how many were removed."""
        cutoff = time.time() - max_age_seconds
        removed = 0
        try:
            entries = list(os.scandir(self.tmp))
        except FileNotFoundError:
            return 0
        for entry in entries:
            try:
                if entry.is_file(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_mtime < cutoff:
                    os.unlink(entry.path)
                    removed += 1
            except FileNotFoundError:
                continue  # renamed into place or removed meanwhile
        return removed

    # --- whole-object copies (export and import) ----------------------------------------------

    def open_reader(self, key: str) -> BinaryIO:
        try:
            return self.object_path(key).open("rb")
        except OSError as exc:
            raise StorageError(f"cannot read '{key}': {exc.strerror}") from exc

    def write_from(self, key: str, reader: Readable) -> tuple[int, str]:
        self.object_path(key)  # validate the key before reading anything
        temporary = self.tmp / uuid.uuid4().hex
        digest = hashlib.sha256()
        size = 0
        try:
            with temporary.open("wb") as output:
                while block := reader.read(READ_BLOCK_BYTES):
                    digest.update(block)
                    _write_durably(output, block, size)
                    size += len(block)
                os.fsync(output.fileno())
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        stored = StoredObject(size=size, sha256=digest.hexdigest())
        self._install_or_discard(temporary, key, stored)
        return stored.size, stored.sha256
