"""The Storage protocol and the value types its implementations exchange with the services."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO, Literal, Protocol

Operation = Literal["READ", "WRITE"]
READ: Operation = "READ"
WRITE: Operation = "WRITE"

MAX_PATH_LENGTH = 1024
# File systems cap a name at 255 bytes (ext4, xfs, APFS, ...); the local store keeps a file's record
# beside it as `<name>.json`, so a path segment may have 250.
MAX_SEGMENT_BYTES = 250


class Readable(Protocol):
    """Anything read sequentially in blocks (a file, a response body, a wrapper that hashes)."""

    def read(self, size: int = -1, /) -> bytes: ...


class StorageError(Exception):
    """A storage operation failed (unreachable store, refused request)."""


@dataclass(frozen=True)
class ObjectInfo:
    """One stored object below a listed prefix; `path` is relative to that prefix."""

    path: str
    size: int
    sha256: str | None  # known without reading the object (recorded while streaming), else None


@dataclass(frozen=True)
class ChildEntry:
    """A direct child of a listed directory: `name` is its last path segment; `cursor` resumes after it."""

    name: str
    cursor: str
    is_dir: bool
    size: int | None
    last_modified: datetime | None


@dataclass(frozen=True)
class MultipartUpload:
    upload_id: str
    part_urls: list[str]
    finalize_url: str


def normalize_relative_path(path: str) -> str | None:
    """A clean relative POSIX path (`a/b.txt`), or None when `path` could escape its root or is empty."""
    if not path or len(path) > MAX_PATH_LENGTH or "\\" in path or "\x00" in path or path.startswith("/"):
        return None
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if not parts or any(part == ".." for part in parts):
        return None
    return "/".join(parts)


def segment_too_long(path: str) -> bool:
    """True when a segment of `path` is longer than a file name may be on disk (in UTF-8 bytes)."""
    return any(len(part.encode("utf-8", "surrogatepass")) > MAX_SEGMENT_BYTES for part in path.split("/"))


def join_key(*parts: str) -> str:
    return "/".join(part.strip("/") for part in parts if part.strip("/"))


class Storage(Protocol):
    """One configured store. Every method is safe to call from the event loop (blocking work is offloaded)."""

    name: str
    root_uri: str
    ttl_seconds: int  # lifetime of the URLs it signs

    def uri_for(self, prefix: str) -> str:
        """The URI clients see for a key prefix (a version's `storage_root`)."""
        ...

    def prefix_for_uri(self, uri: str) -> str | None:
        """The key prefix a URI names inside this storage, or None when the URI lies elsewhere."""
        ...

    async def signed_url(self, key: str, operation: Operation, base_url: str) -> str: ...

    async def create_multipart_upload(self, key: str, num_parts: int, base_url: str) -> MultipartUpload: ...

    async def list_objects(self, prefix: str) -> list[ObjectInfo]:
        """Every object below `prefix` (recursively), paths relative to it, sorted."""
        ...

    async def list_children(self, prefix: str, start_after: str | None, limit: int) -> list[ChildEntry]:
        """Direct children of the directory `prefix`, in the store's order, after the cursor `start_after`."""
        ...

    async def sha256(self, key: str) -> str:
        """Hex sha256 of one object, reading it once (streamed, never whole in memory)."""
        ...

    async def delete_paths(self, prefix: str, paths: list[str]) -> None:
        """Delete objects (or whole directories) at `paths` below `prefix`; missing ones are ignored."""
        ...

    async def delete_prefix(self, prefix: str) -> None:
        """Delete everything below `prefix`, unfinished multipart uploads included."""
        ...

    async def move_prefix(self, source: str, target: str) -> int:
        """Move every object below `source` to the same relative path below `target` (replacing what is
        there), inside the store: no byte passes through the server. Answers how many were moved."""
        ...

    # Blocking, for tools that copy whole objects (export and import): call them from a worker thread.

    def open_reader(self, key: str) -> BinaryIO:
        """A file-like reader of one object's bytes, streamed from the store."""
        ...

    def write_from(self, key: str, reader: Readable) -> tuple[int, str]:
        """Store the bytes of `reader` as one object, streamed; answer their size and hex sha256."""
        ...
