"""A finalized version's files never change, and signing refuses what the store could never hold:
on SQLite with the local store and on Postgres with S3 (a moto server)."""

from __future__ import annotations

import httpx

from tests.data_path import (
    artifact_manifest,
    finalize,
    list_all_files,
    multipart_upload,
    sha256,
    signed_urls,
    stage,
    version_objects,
)
from tests.factories import API, create_repo, unique
from tests.live import LiveServer, LiveUser

ORIGINAL = b"the bytes that were finalized"
REPLACEMENT = b"bytes sent later through a URL signed while staged"


def _finalized_with_leftover_urls(client: httpx.Client) -> tuple[dict[str, str], list[str]]:
    repo = create_repo(client)
    manifest = artifact_manifest(repo["manifest"]["name"], unique("immutable"))
    staged = stage(client, manifest)
    urls = signed_urls(client, staged["id"], ["weights.bin", "sub/config.json"], "WRITE")
    for url in urls:
        assert httpx.put(url, content=ORIGINAL).status_code == 200
    assert finalize(client, "artifact-versions", manifest, staged["storage_root"]).status_code == 200
    return {"id": staged["id"], "repo_id": str(repo["id"])}, urls


def _served(client: httpx.Client, version_id: str, path: str) -> bytes:
    [url] = signed_urls(client, version_id, [path], "READ")
    response = httpx.get(url)
    assert response.status_code == 200
    return response.content


def test_a_write_url_signed_while_staged_cannot_change_a_finalized_file(server: LiveServer, user: LiveUser) -> None:
    with server.client(user) as client:
        version, urls = _finalized_with_leftover_urls(client)
        for url in urls:
            late = httpx.put(url, content=REPLACEMENT)  # the URL is still within its lifetime
            # The local store refuses it; a presigned S3 URL cannot be revoked, but what it writes is not served.
            assert late.status_code == (200 if server.s3 is not None else 403), late.text
        listed = {item["path"]: item for item in list_all_files(client, "artifact-versions", version["id"])}
        for path in ("weights.bin", "sub/config.json"):
            served = _served(client, version["id"], path)
            assert served == ORIGINAL
            assert listed[path]["sha256"] == sha256(served)
            assert listed[path]["file_size"] == len(served)


def test_a_multipart_upload_started_while_staged_cannot_change_a_finalized_file(
    server: LiveServer, user: LiveUser
) -> None:
    with server.client(user) as client:
        repo = create_repo(client)
        manifest = artifact_manifest(repo["manifest"]["name"], unique("immutable-mp"))
        staged = stage(client, manifest)
        multipart_upload(client, "artifact-versions", staged["id"], "big.bin", ORIGINAL)
        leftover = client.post(
            f"{API}/artifact-versions/signed-urls/multipart",
            json={"id": staged["id"], "path": "big.bin", "num_parts": 1},
        ).json()["data"]
        assert finalize(client, "artifact-versions", manifest, staged["storage_root"]).status_code == 200
        part = httpx.put(leftover["part_signed_urls"][0]["signed_url"], content=REPLACEMENT)
        if server.s3 is None:
            assert part.status_code == 403
        else:
            assert part.status_code == 200
            document = (
                "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>"
                f"<ETag>{part.headers['ETag']}</ETag></Part></CompleteMultipartUpload>"
            )
            assert httpx.post(leftover["finalize_signed_url"]["signed_url"], content=document).status_code == 200
        [listed] = list_all_files(client, "artifact-versions", staged["id"])
        assert _served(client, staged["id"], "big.bin") == ORIGINAL
        assert listed["sha256"] == sha256(ORIGINAL)


def test_finalize_moves_the_uploads_out_of_the_staging_area(server: LiveServer, user: LiveUser) -> None:
    with server.client(user) as client:
        version, _urls = _finalized_with_leftover_urls(client)
        final = version_objects(server, version["repo_id"], version["id"])
        assert final
        assert not [path for path in final if "/staging/" in path]


def test_a_retried_finalize_finds_files_already_moved(server: LiveServer, user: LiveUser) -> None:
    """A finalize refused for a missing file moves nothing; the next one, with the file, moves all."""
    with server.client(user) as client:
        repo = create_repo(client)
        manifest = artifact_manifest(repo["manifest"]["name"], unique("retry"))
        staged = stage(client, manifest)
        first, second = signed_urls(client, staged["id"], ["a.txt", "b.txt"], "WRITE")
        assert httpx.put(first, content=b"a").status_code == 200
        refused = finalize(client, "artifact-versions", manifest, staged["storage_root"])
        assert refused.status_code == 422
        assert httpx.put(second, content=b"b").status_code == 200
        assert finalize(client, "artifact-versions", manifest, staged["storage_root"]).status_code == 200
        assert _served(client, staged["id"], "a.txt") == b"a"
        assert _served(client, staged["id"], "b.txt") == b"b"


# --- what signing refuses ------------------------------------------------------------------------


def _sign(client: httpx.Client, version_id: str, paths: list[str]) -> httpx.Response:
    return client.post(
        f"{API}/artifact-versions/signed-urls", json={"id": version_id, "paths": paths, "operation": "WRITE"}
    )


def _locations(response: httpx.Response) -> list[list[object]]:
    body = response.json()
    return [detail["loc"] for detail in body.get("details", [])]


def test_a_path_segment_longer_than_a_file_name_is_refused_when_signing(server: LiveServer, user: LiveUser) -> None:
    with server.client(user) as client:
        repo = create_repo(client)
        staged = stage(client, artifact_manifest(repo["manifest"]["name"], unique("long")))
        too_long = "dir/" + "é" * 128  # 128 characters, 256 bytes in UTF-8: over what a file name may have
        refused = _sign(client, staged["id"], ["ok.txt", too_long])
        assert refused.status_code == 422, refused.text
        assert any(loc[-2:] == ["paths", 1] for loc in _locations(refused)), refused.text
        assert "250 bytes" in refused.text
        assert _sign(client, staged["id"], ["é" * 125 + "x"]).status_code == 422  # 251 bytes
        assert _sign(client, staged["id"], ["x" * 256]).status_code == 422
        longest = "dir/" + "é" * 124 + "xx"  # 250 bytes
        [url] = signed_urls(client, staged["id"], [longest], "WRITE")
        assert httpx.put(url, content=b"fits").status_code == 200


def test_signed_url_requests_name_at_most_1000_paths(server: LiveServer, user: LiveUser) -> None:
    with server.client(user) as client:
        repo = create_repo(client)
        staged = stage(client, artifact_manifest(repo["manifest"]["name"], unique("many")))
        refused = _sign(client, staged["id"], [f"f/{index}.bin" for index in range(10_000)])
        assert refused.status_code == 422, refused.text[:500]
        assert any(loc[-1] == "paths" for loc in _locations(refused)), refused.text[:500]
        assert "1000" in refused.text
        accepted = _sign(client, staged["id"], [f"f/{index}.bin" for index in range(1000)])
        assert accepted.status_code == 200
        assert len(accepted.json()["data"]) == 1000
        again = _sign(client, staged["id"], [f"f/{index}.bin" for index in range(500, 1500)])  # repeats are fine
        assert again.status_code == 200


def test_the_schema_states_the_path_limits(server: LiveServer) -> None:
    document = httpx.get(f"{server.url}/openapi.json").json()
    request = document["components"]["schemas"]["SignedUrlsRequest"]["properties"]["paths"]
    assert request["maxItems"] == 1000
    assert "250 bytes" in request["items"]["description"]
