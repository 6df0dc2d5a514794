"""Helpers for the data-path tests: stage, upload through signed URLs, finalize, and look at storage."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx

from tests.factories import API, unique
from tests.live import LiveServer

PART_SIZE = 5 * 1024 * 1024  # the smallest part S3 accepts (all but the last)


def artifact_manifest(repo: str, name: str, **fields: Any) -> dict[str, Any]:
    return {
        "name": name,
        "metadata": {"purpose": "test"},
        "ml_repo": repo,
        "type": "artifact-version",
        "source": {"type": "truefoundry"},
        "step": 0,
        **fields,
    }


def stage(client: httpx.Client, manifest: dict[str, Any]) -> dict[str, Any]:
    response = client.post(f"{API}/artifact-versions/stage", json={"manifest": manifest})
    assert response.status_code == 200, response.text
    return response.json()


def signed_urls(client: httpx.Client, version_id: str, paths: list[str], operation: str) -> list[str]:
    response = client.post(
        f"{API}/artifact-versions/signed-urls", json={"id": version_id, "paths": paths, "operation": operation}
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert [item["path"] for item in data] == paths
    return [item["signed_url"] for item in data]


def put_files(client: httpx.Client, version_id: str, files: dict[str, bytes]) -> None:
    urls = signed_urls(client, version_id, list(files), "WRITE")
    with httpx.Client(timeout=60) as anonymous:
        for url, content in zip(urls, files.values(), strict=True):
            response = anonymous.put(url, content=content)
            assert response.status_code == 200, response.text


def multipart_upload(client: httpx.Client, route: str, owner_id: str, path: str, content: bytes) -> None:
    """The library's S3 flow: part PUTs in any order, ETags read, CompleteMultipartUpload XML POSTed."""
    num_parts = max(1, -(-len(content) // PART_SIZE))
    response = client.post(
        f"{API}/{route}/signed-urls/multipart", json={"id": owner_id, "path": path, "num_parts": num_parts}
    )
    assert response.status_code == 200, response.text
    upload = response.json()["data"]
    assert upload["storage_provider"] == "S3_COMPATIBLE"
    assert len(upload["part_signed_urls"]) == num_parts
    etags: dict[int, str] = {}
    with httpx.Client(timeout=60) as anonymous:
        for index in reversed(range(num_parts)):  # out of order, as the library's thread pool does
            part = content[index * PART_SIZE : (index + 1) * PART_SIZE]
            answer = anonymous.put(upload["part_signed_urls"][index]["signed_url"], content=part)
            assert answer.status_code == 200, answer.text
            etags[index + 1] = answer.headers["ETag"]
        parts = "".join(
            f"  <Part>\n    <PartNumber>{number}</PartNumber>\n    <ETag>{etags[number]}</ETag>\n  </Part>\n"
            for number in sorted(etags)
        )
        body = f"<CompleteMultipartUpload>\n{parts}</CompleteMultipartUpload>"
        done = anonymous.post(upload["finalize_signed_url"]["signed_url"], content=body.encode())
        assert done.status_code == 200, done.text


def finalize(client: httpx.Client, route: str, manifest: dict[str, Any], storage_root: str) -> httpx.Response:
    body = {"manifest": {**manifest, "source": {"type": "truefoundry", "uri": storage_root}}}
    return client.put(f"{API}/{route}", json=body)


def list_all_files(
    client: httpx.Client, route: str, owner_id: str, path: str = "", limit: int = 2
) -> list[dict[str, Any]]:
    """Walk a listing recursively through its page tokens, like the library's download does."""
    found: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        body: dict[str, Any] = {"id": owner_id, "path": path, "limit": limit}
        if token:
            body["pageToken"] = token
        response = client.post(f"{API}/{route}/files", json=body)
        assert response.status_code == 200, response.text
        page = response.json()
        for item in page["data"]:
            found.append(item)
            if item["is_dir"]:
                found.extend(list_all_files(client, route, owner_id, item["path"], limit))
        token = page["pagination"].get("nextPageToken")
        if not token:
            return found


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def sample_files() -> dict[str, bytes]:
    return {
        "config.json": b'{"layers": 3}',
        "empty.txt": b"",
        "sub/weights.txt": os.urandom(2048),
        "sub/deeper/x.bin": os.urandom(70_000),
    }


def stored_objects(server: LiveServer, prefix: str) -> list[str]:
    """Everything the storage holds below a key prefix (objects, metadata, unfinished uploads), read
    directly from the disk or from the S3 server, not through the server's code."""
    if server.s3 is not None:
        root = urlparse(server.settings.storage_url or "").path.strip("/")
        full = f"{root}/{prefix}/"
        return server.s3.keys(full) + server.s3.pending_uploads(full)
    base = Path(server.settings.data_dir) / "artifacts"
    found: list[str] = []
    for area in ("objects", "meta", "uploads"):
        top = base / area / prefix
        if top.exists():
            found.extend(str(path) for path in top.rglob("*"))
    return found


def version_objects(server: LiveServer, repo_id: object, version_id: str) -> list[str]:
    """Everything the storage holds of one version: its uploads while staged and its finalized files."""
    return stored_objects(server, f"{repo_id}/staging/{version_id}") + stored_objects(server, f"{repo_id}/{version_id}")


def new_repo_name() -> str:
    return unique("repo")
