"""The local store's side of signed URLs: objects are PUT, GET and multipart-uploaded straight to the
server, which checks the URL's signature instead of a bearer token and streams to and from disk."""

from __future__ import annotations

from typing import Annotated
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import FileResponse

from mlregistry.api.deps import AppStorages, get_database
from mlregistry.api.docs import ERROR_RESPONSES
from mlregistry.services import files
from mlregistry.services.errors import Forbidden, Invalid, NotFound
from mlregistry.storage import StorageError
from mlregistry.storage.local import ROUTE_PREFIX, LocalStorage, MultipartError
from mlregistry.storage.signing import InvalidSignature

router = APIRouter(prefix=ROUTE_PREFIX, tags=["Signed URLs (local storage)"], responses=ERROR_RESPONSES)

MAX_COMPLETE_BODY_BYTES = 2 * 1024 * 1024
STREAM_CHUNK_BYTES = 1024 * 1024

Expires = Annotated[str, Query(description="Expiry (epoch seconds) the URL was signed with")]
Signature = Annotated[str, Query(description="HMAC-SHA256 over method, object key, expiry (and upload part)")]


class StreamedFile(FileResponse):
    chunk_size = STREAM_CHUNK_BYTES


def _local_storage(storages: AppStorages, name: str) -> LocalStorage:
    storage = storages.by_name(name)
    if not isinstance(storage, LocalStorage):
        raise NotFound(f"No local storage named '{name}'")
    return storage


def _verify(storage: LocalStorage, method: str, key: str, expires: str, signature: str, scope: str = "") -> None:
    try:
        storage.verify(method, key, expires, signature, scope)
    except InvalidSignature as exc:
        raise Forbidden(f"Signed URL refused: {exc}") from exc


async def _verify_write(
    request: Request, storage: LocalStorage, method: str, key: str, expires: str, signature: str, scope: str = ""
) -> None:
    """A valid signature, and a version still staged (a short read, not a transaction held over the upload)."""
    _verify(storage, method, key, expires, signature, scope)
    async with get_database(request).session(write=False) as session:
        await files.check_signed_write(session, key)


@router.put("/{storage_name}/{key:path}", summary="Upload an object, or one part of a multipart upload")
async def put_object(
    storage_name: str,
    key: str,
    request: Request,
    storages: AppStorages,
    expires: Expires,
    signature: Signature,
    uploadId: Annotated[str | None, Query()] = None,
    partNumber: Annotated[int | None, Query()] = None,
) -> Response:
    storage = _local_storage(storages, storage_name)
    try:
        if uploadId is not None and partNumber is not None:
            await _verify_write(request, storage, "PUT", key, expires, signature, f"{uploadId}:{partNumber}")
            etag = await storage.put_part(key, uploadId, partNumber, request.stream())
        else:
            await _verify_write(request, storage, "PUT", key, expires, signature)
            stored = await storage.put_object(key, request.stream())
            etag = f'"{stored.sha256}"'
    except MultipartError as exc:
        raise NotFound(str(exc)) from exc
    except StorageError as exc:
        raise Invalid.field(["path"], str(exc)) from exc
    return Response(status_code=200, headers={"ETag": etag})


@router.post("/{storage_name}/{key:path}", summary="Complete a multipart upload (S3 CompleteMultipartUpload XML)")
async def complete_multipart_upload(
    storage_name: str,
    key: str,
    request: Request,
    storages: AppStorages,
    expires: Expires,
    signature: Signature,
    uploadId: Annotated[str, Query()],
) -> Response:
    storage = _local_storage(storages, storage_name)
    await _verify_write(request, storage, "POST", key, expires, signature, uploadId)
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_COMPLETE_BODY_BYTES:
            raise Invalid.field(["body"], "CompleteMultipartUpload document is too large")
    try:
        document = ElementTree.fromstring(bytes(body))
        parts = [
            (int(part.findtext("PartNumber") or ""), part.findtext("ETag") or "")
            for part in document.iter()
            if part.tag.rpartition("}")[2] == "Part"
        ]
    except (ElementTree.ParseError, ValueError) as exc:
        raise Invalid.field(["body"], "is not a CompleteMultipartUpload document") from exc
    try:
        stored = await storage.complete_multipart_upload(key, uploadId, parts)
    except MultipartError as exc:
        raise Invalid.field(["body", "Part"], str(exc)) from exc
    result = (
        "<CompleteMultipartUploadResult>"
        f"<Key>{escape(key)}</Key><ETag>&quot;{stored.sha256}&quot;</ETag>"
        "</CompleteMultipartUploadResult>"
    )
    return Response(result, media_type="application/xml")


@router.get("/{storage_name}/{key:path}", summary="Download an object (Range supported)")
@router.head("/{storage_name}/{key:path}", include_in_schema=False)
async def get_object(
    storage_name: str, key: str, request: Request, storages: AppStorages, expires: Expires, signature: Signature
) -> Response:
    storage = _local_storage(storages, storage_name)
    _verify(storage, request.method, key, expires, signature)
    try:
        path = storage.object_path(key)
    except StorageError as exc:
        raise NotFound(f"No object '{key}'") from exc
    if not path.is_file():
        raise NotFound(f"No object '{key}'")
    sha256 = storage.recorded_etag(key)
    headers = {"ETag": f'"{sha256}"'} if sha256 else None
    return StreamedFile(path, headers=headers, media_type="application/octet-stream")
