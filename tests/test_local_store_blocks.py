"""The local store writes a body in blocks of chunks as they arrive (hashed in one thread, written in
another, each block's writeback started at once): what lands on disk, its size and its sha256 are those
of the body, whatever the chunk sizes and wherever the block boundaries fall."""

from __future__ import annotations

import hashlib
import io
import os
import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mlregistry.storage.local import WRITE_BUFFER_BYTES, LocalStorage
from mlregistry.storage.signing import UrlSigner


def _store(tmp_path: Path) -> LocalStorage:
    return LocalStorage("default", tmp_path / "store", UrlSigner.from_secret("s" * 48), ttl_seconds=60)


def _chunked(body: bytes, sizes: list[int]) -> AsyncIterator[bytes]:
    async def chunks() -> AsyncIterator[bytes]:
        offset = 0
        for size in sizes:
            yield body[offset : offset + size]
            offset += size
        if offset < len(body):
            yield body[offset:]

    return chunks()


def _sizes(total: int, seed: int) -> list[int]:
    """Chunk sizes like a socket's (1 byte to 300 KiB, with empty chunks among them) summing to `total`."""
    rng = random.Random(seed)
    sizes: list[int] = []
    left = total
    while left > 0:
        size = rng.choice([0, 1, 4096, 65536, 262144, 307200, rng.randint(1, 300_000)])
        size = min(size, left)
        sizes.append(size)
        left -= size
    return sizes


@pytest.mark.parametrize(
    "length",
    [0, 1, WRITE_BUFFER_BYTES - 1, WRITE_BUFFER_BYTES, WRITE_BUFFER_BYTES + 1, 3 * WRITE_BUFFER_BYTES + 12345],
)
async def test_an_object_put_in_chunks_is_stored_whole_with_its_size_and_sha256(tmp_path: Path, length: int) -> None:
    store = _store(tmp_path)
    body = os.urandom(length)
    stored = await store.put_object("v1/model.bin", _chunked(body, _sizes(length, seed=length)))
    assert stored.size == length
    assert stored.sha256 == hashlib.sha256(body).hexdigest()
    assert store.object_path("v1/model.bin").read_bytes() == body
    assert store.recorded_etag("v1/model.bin") == stored.sha256
    assert list((tmp_path / "store" / "tmp").iterdir()) == []


async def test_a_multipart_upload_and_a_copy_are_stored_whole(tmp_path: Path) -> None:
    store = _store(tmp_path)
    parts = [os.urandom(WRITE_BUFFER_BYTES + 7), os.urandom(5 * 1024 * 1024), os.urandom(999)]
    upload = await store.create_multipart_upload("v2/big.bin", len(parts), "http://127.0.0.1")
    etags = [
        await store.put_part("v2/big.bin", upload.upload_id, number, _chunked(part, _sizes(len(part), seed=number)))
        for number, part in enumerate(parts, start=1)
    ]
    stored = await store.complete_multipart_upload("v2/big.bin", upload.upload_id, list(enumerate(etags, start=1)))
    whole = b"".join(parts)
    assert (stored.size, stored.sha256) == (len(whole), hashlib.sha256(whole).hexdigest())
    assert store.object_path("v2/big.bin").read_bytes() == whole

    size, sha256 = store.write_from("v3/copy.bin", io.BytesIO(whole))
    assert (size, sha256) == (len(whole), hashlib.sha256(whole).hexdigest())
    assert store.object_path("v3/copy.bin").read_bytes() == whole
