"""The export archive: a versioned format of JSON-lines records and the files they own.

An archive is a directory or an uncompressed tar file holding the same members:

- `header.json`: `{"format": "mlregistry-archive", "format_version": 1, "export_id", "exported_at",
  "tenant", "ml_repo", "records", "files", "bytes"}`;
- `records.jsonl`: one record a line, `{"kind", "data", "sha256"}`, where `sha256` is the hex digest of
  the canonical JSON of `[kind, data]` (sorted keys, no spaces), so a damaged line is named on import;
- `files/<n>`: the bytes of each `file` record, whose `data` holds `owner`, `owner_id`, `path`, `size`,
  `sha256` and `member`.

Members are read by name, never by position, so a reader needs no particular order.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO

FORMAT = "mlregistry-archive"
FORMAT_VERSION = 1
HEADER = "header.json"
RECORDS = "records.jsonl"
FILES_DIRECTORY = "files"
COPY_BLOCK_BYTES = 8 * 1024 * 1024


class ArchiveError(Exception):
    """The archive is damaged, incomplete, or of a format this server does not read."""


def record_digest(kind: str, data: dict[str, Any]) -> str:
    canonical = json.dumps([kind, data], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def encode_record(kind: str, data: dict[str, Any]) -> str:
    return json.dumps({"kind": kind, "data": data, "sha256": record_digest(kind, data)}, ensure_ascii=False) + "\n"


@dataclass(frozen=True)
class Record:
    line: int
    kind: str
    data: dict[str, Any]

    def describe(self) -> str:
        label = self.data.get("name") or self.data.get("path") or self.data.get("id") or ""
        return f"record {self.line} ({self.kind}{' ' + str(label) if label else ''})"


def decode_record(line_number: int, line: str) -> Record:
    try:
        raw = json.loads(line)
        kind, data, digest = raw["kind"], raw["data"], raw["sha256"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ArchiveError(f"record {line_number}: not a valid record ({exc})") from exc
    if not isinstance(kind, str) or not isinstance(data, dict):
        raise ArchiveError(f"record {line_number}: not a valid record")
    record = Record(line_number, kind, data)
    if record_digest(kind, data) != digest:
        raise ArchiveError(f"{record.describe()}: checksum mismatch, the archive is damaged")
    return record


class HashingReader:
    """Reads at most `size` bytes of `source`, hashing them; fails when `source` ends early."""

    def __init__(self, source: BinaryIO, size: int, name: str) -> None:
        self.source = source
        self.remaining = size
        self.name = name
        self.digest = hashlib.sha256()
        self.read_bytes = 0

    def read(self, size: int = -1) -> bytes:
        wanted = self.remaining if size is None or size < 0 else min(size, self.remaining)
        block = self.source.read(wanted) if wanted else b""
        if wanted and not block:
            raise ArchiveError(f"{self.name}: ended after {self.read_bytes} bytes, {self.remaining} bytes short")
        self.remaining -= len(block)
        self.read_bytes += len(block)
        self.digest.update(block)
        return block

    def hexdigest(self) -> str:
        return self.digest.hexdigest()


class ArchiveWriter:
    """Writes an archive to a directory or a tar file; the records go to a spool file until `close`."""

    def __init__(self, target: Path) -> None:
        self.target = target
        self.as_tar = target.suffix == ".tar"
        if target.exists() and (self.as_tar or any(target.iterdir())):
            raise ArchiveError(f"{target} already exists; choose a new file or an empty directory")
        if self.as_tar:
            target.parent.mkdir(parents=True, exist_ok=True)
            self.tar: tarfile.TarFile | None = tarfile.open(target, "w", format=tarfile.PAX_FORMAT)
            self.spool: IO[bytes] = tempfile.TemporaryFile("w+b")
        else:
            target.mkdir(parents=True, exist_ok=True)
            (target / FILES_DIRECTORY).mkdir()
            self.tar = None
            self.spool = (target / RECORDS).open("wb")
        self.records = 0
        self.files = 0
        self.bytes = 0

    def add_record(self, kind: str, data: dict[str, Any]) -> None:
        self.spool.write(encode_record(kind, data).encode())
        self.records += 1

    def add_file(self, source: BinaryIO, size: int, name: str) -> tuple[str, str]:
        """Copy `size` bytes of `source` into a new member; answer the member's name and sha256."""
        self.files += 1
        member = f"{FILES_DIRECTORY}/{self.files:08d}"
        reader = HashingReader(source, size, name)
        if self.tar is not None:
            info = tarfile.TarInfo(member)
            info.size = size
            self.tar.addfile(info, reader)  # type: ignore[arg-type]  # tarfile reads it like a file
        else:
            with (self.target / member).open("wb") as output:
                while block := reader.read(COPY_BLOCK_BYTES):
                    output.write(block)
        if source.read(1):
            raise ArchiveError(f"{name}: longer than its recorded {size} bytes (changed while exporting?)")
        self.bytes += size
        return member, reader.hexdigest()

    def close(self, header: dict[str, Any]) -> None:
        header = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            **header,
            "records": self.records,
            "files": self.files,
            "bytes": self.bytes,
        }
        encoded = json.dumps(header, indent=2).encode()
        if self.tar is not None:
            self.spool.flush()
            size = self.spool.tell()
            self.spool.seek(0)
            info = tarfile.TarInfo(RECORDS)
            info.size = size
            self.tar.addfile(info, self.spool)
            info = tarfile.TarInfo(HEADER)
            info.size = len(encoded)
            self.tar.addfile(info, io.BytesIO(encoded))
            self.tar.close()
            self.spool.close()
        else:
            self.spool.close()
            (self.target / HEADER).write_bytes(encoded)

    def abort(self) -> None:
        self.spool.close()
        if self.tar is not None:
            self.tar.close()
            self.target.unlink(missing_ok=True)
        else:
            shutil.rmtree(self.target, ignore_errors=True)


class ArchiveReader:
    """Reads an archive written by `ArchiveWriter`, from a directory or a tar file."""

    def __init__(self, source: Path) -> None:
        if not source.exists():
            raise ArchiveError(f"{source}: no such file or directory")
        self.source = source
        self.tar: tarfile.TarFile | None = None
        if source.is_file():
            try:
                self.tar = tarfile.open(source, "r:")
            except tarfile.TarError as exc:
                raise ArchiveError(f"{source}: not an mlregistry archive (not a tar file: {exc})") from exc
        self.header = self._read_header()

    def _open(self, member: str) -> BinaryIO:
        if self.tar is not None:
            try:
                handle = self.tar.extractfile(member)
            except KeyError:
                handle = None
            if handle is None:
                raise ArchiveError(f"{member}: missing from the archive")
            return handle  # type: ignore[return-value]
        path = self.source / member
        if not path.is_file():
            raise ArchiveError(f"{member}: missing from the archive")
        return path.open("rb")

    def _read_header(self) -> dict[str, Any]:
        with self._open(HEADER) as handle:
            try:
                header = json.loads(handle.read())
            except ValueError as exc:
                raise ArchiveError(f"{HEADER}: not valid JSON ({exc})") from exc
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise ArchiveError(f"{HEADER}: not an mlregistry archive")
        if header.get("format_version") != FORMAT_VERSION:
            raise ArchiveError(
                f"{HEADER}: archive format version {header.get('format_version')} is not supported "
                f"(this server reads version {FORMAT_VERSION})"
            )
        return header

    def records(self) -> Iterator[Record]:
        """Every record, checked, in archive order; then checks that none is missing."""
        count = 0
        with self._open(RECORDS) as handle:
            for count, raw in enumerate(io.TextIOWrapper(handle, encoding="utf-8"), start=1):
                yield decode_record(count, raw)
        if count != self.header.get("records"):
            raise ArchiveError(f"{RECORDS}: holds {count} records, the header announces {self.header.get('records')}")

    def open_file(self, member: str) -> BinaryIO:
        if not member.startswith(FILES_DIRECTORY + "/") or ".." in member.split("/"):
            raise ArchiveError(f"{member}: not a file member of the archive")
        return self._open(member)

    def close(self) -> None:
        if self.tar is not None:
            self.tar.close()
