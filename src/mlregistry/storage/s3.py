"""Any S3-compatible store (AWS, MinIO, Ceph) through boto3: presigned URLs, so no artifact byte
passes through the API process on upload or download."""

from __future__ import annotations

import asyncio
import hashlib
import os
from typing import Any, BinaryIO

import boto3
from botocore.client import Config
from botocore.exceptions import BotoCoreError, ClientError

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

DELETE_BATCH = 1000
MOVE_CONCURRENCY = 8  # server-side copies under way at once while moving a prefix
READ_BLOCK_BYTES = 8 * 1024 * 1024
LAST_CHARACTER = "\U0010ffff"  # sorts after every key below a directory prefix


class S3Storage:
    def __init__(
        self,
        name: str,
        bucket: str,
        prefix: str,
        endpoint_url: str | None,
        ttl_seconds: int,
        public_endpoint_url: str | None = None,
    ) -> None:
        self.name = name
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.root_uri = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        self.ttl_seconds = ttl_seconds
        self.client: Any = self._client(endpoint_url)
        # A signature covers the host: URLs for clients are signed for the endpoint they reach the store at.
        self.presigner: Any = self._client(public_endpoint_url) if public_endpoint_url else self.client

    @staticmethod
    def _client(endpoint_url: str | None) -> Any:
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        return boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": "path"} if endpoint_url else {},
                # Presigned uploads must not demand checksum headers the clients never send.
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )

    def uri_for(self, prefix: str) -> str:
        return f"{self.root_uri}/{prefix}"

    def prefix_for_uri(self, uri: str) -> str | None:
        if not uri.startswith(self.root_uri + "/"):
            return None
        return normalize_relative_path(uri[len(self.root_uri) + 1 :])

    def _key(self, key: str) -> str:
        return join_key(self.prefix, key)

    async def _call(self, method: str, **params: Any) -> Any:
        try:
            return await asyncio.to_thread(getattr(self.client, method), **params)
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"S3 {method} failed: {exc}") from exc

    def _presign(self, method: str, params: dict[str, Any], http_method: str | None = None) -> str:
        url: str = self.presigner.generate_presigned_url(
            method, Params={"Bucket": self.bucket, **params}, ExpiresIn=self.ttl_seconds, HttpMethod=http_method
        )
        return url

    async def signed_url(self, key: str, operation: Operation, base_url: str) -> str:
        method = "get_object" if operation == "READ" else "put_object"
        return self._presign(method, {"Key": self._key(key)})

    async def create_multipart_upload(self, key: str, num_parts: int, base_url: str) -> MultipartUpload:
        full_key = self._key(key)
        created = await self._call("create_multipart_upload", Bucket=self.bucket, Key=full_key)
        upload_id = str(created["UploadId"])
        part_urls = [
            self._presign("upload_part", {"Key": full_key, "UploadId": upload_id, "PartNumber": number})
            for number in range(1, num_parts + 1)
        ]
        finalize_url = self._presign("complete_multipart_upload", {"Key": full_key, "UploadId": upload_id}, "POST")
        return MultipartUpload(upload_id=upload_id, part_urls=part_urls, finalize_url=finalize_url)

    def _iterate(self, method: str, result_key: str, **params: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for page in self.client.get_paginator(method).paginate(Bucket=self.bucket, **params):
            items.extend(page.get(result_key, []))
        return items

    async def _list(self, method: str, result_key: str, **params: Any) -> list[dict[str, Any]]:
        try:
            return await asyncio.to_thread(self._iterate, method, result_key, **params)
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"S3 {method} failed: {exc}") from exc

    async def list_objects(self, prefix: str) -> list[ObjectInfo]:
        base = self._key(prefix) + "/"
        objects = await self._list("list_objects_v2", "Contents", Prefix=base)
        found = [ObjectInfo(path=item["Key"][len(base) :], size=int(item["Size"]), sha256=None) for item in objects]
        return sorted(found, key=lambda info: info.path)

    async def list_children(self, prefix: str, start_after: str | None, limit: int) -> list[ChildEntry]:
        base = self._key(prefix) + "/"
        params: dict[str, Any] = {"Bucket": self.bucket, "Prefix": base, "Delimiter": "/", "MaxKeys": limit}
        if start_after:
            params["StartAfter"] = base + start_after
        page = await self._call("list_objects_v2", **params)
        # Keep S3's key order (a directory sorts as `name/`) so that a cursor resumes exactly after its entry.
        children = [
            ChildEntry(
                name=item["Prefix"][len(base) :].rstrip("/"),
                cursor=item["Prefix"][len(base) :] + LAST_CHARACTER,
                is_dir=True,
                size=None,
                last_modified=None,
            )
            for item in page.get("CommonPrefixes", [])
        ]
        children.extend(
            ChildEntry(
                name=item["Key"][len(base) :],
                cursor=item["Key"][len(base) :],
                is_dir=False,
                size=int(item["Size"]),
                last_modified=item["LastModified"],
            )
            for item in page.get("Contents", [])
        )
        return sorted(children, key=lambda child: child.cursor)[:limit]

    def _hash(self, key: str) -> str:
        body = self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
        digest = hashlib.sha256()
        try:
            while block := body.read(READ_BLOCK_BYTES):
                digest.update(block)
        finally:
            body.close()
        return digest.hexdigest()

    async def sha256(self, key: str) -> str:
        try:
            return await asyncio.to_thread(self._hash, key)
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"S3 get_object failed: {exc}") from exc

    async def _delete_keys(self, keys: list[str]) -> None:
        for start in range(0, len(keys), DELETE_BATCH):
            batch = [{"Key": key} for key in keys[start : start + DELETE_BATCH]]
            await self._call("delete_objects", Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})

    async def delete_paths(self, prefix: str, paths: list[str]) -> None:
        keys: list[str] = []
        for path in paths:
            key = self._key(join_key(prefix, path))
            keys.append(key)
            keys.extend(item["Key"] for item in await self._list("list_objects_v2", "Contents", Prefix=key + "/"))
        await self._delete_keys(keys)

    async def delete_prefix(self, prefix: str) -> None:
        if normalize_relative_path(prefix) is None:
            raise StorageError(f"refusing to delete invalid prefix {prefix!r}")
        base = self._key(prefix) + "/"
        uploads = await self._list("list_multipart_uploads", "Uploads", Prefix=base)
        for upload in uploads:
            await self._call(
                "abort_multipart_upload", Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
            )
        objects = await self._list("list_objects_v2", "Contents", Prefix=base)
        await self._delete_keys([item["Key"] for item in objects])

    def _copy(self, source_key: str, target_key: str) -> None:
        # A managed copy: CopyObject, or UploadPartCopy for objects over the single-copy limit; both in the store.
        self.client.copy({"Bucket": self.bucket, "Key": source_key}, self.bucket, target_key)

    async def move_prefix(self, source: str, target: str) -> int:
        source_base, target_base = self._key(source) + "/", self._key(target) + "/"
        objects = await self._list("list_objects_v2", "Contents", Prefix=source_base)
        keys = [str(item["Key"]) for item in objects]
        limiter = asyncio.Semaphore(MOVE_CONCURRENCY)

        async def copy(key: str) -> None:
            async with limiter:
                try:
                    await asyncio.to_thread(self._copy, key, target_base + key[len(source_base) :])
                except (BotoCoreError, ClientError) as exc:
                    raise StorageError(f"S3 copy of '{key}' failed: {exc}") from exc

        await asyncio.gather(*(copy(key) for key in keys))
        await self._delete_keys(keys)
        return len(keys)

    # --- whole-object copies (export and import) ----------------------------------------------

    def open_reader(self, key: str) -> BinaryIO:
        try:
            body: BinaryIO = self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"S3 get_object failed for '{key}': {exc}") from exc
        return body

    def write_from(self, key: str, reader: Readable) -> tuple[int, str]:
        hashing = _HashingReader(reader)
        try:
            # A managed transfer: multipart in bounded parts for large objects, one PUT for small ones.
            self.client.upload_fileobj(hashing, self.bucket, self._key(key))
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"S3 upload failed for '{key}': {exc}") from exc
        return hashing.size, hashing.digest.hexdigest()


class _HashingReader:
    """A reader that hashes and counts what passes through it (read sequentially by the upload)."""

    def __init__(self, reader: Readable) -> None:
        self.reader = reader
        self.digest = hashlib.sha256()
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        block = self.reader.read(size)
        self.digest.update(block)
        self.size += len(block)
        return block
