"""Staging, signed URLs, multipart, integrity and deletes through HTTP: SQLite + local disk and
Postgres + S3 (moto)."""

from __future__ import annotations

import os
import re
from urllib.parse import parse_qs, urlencode, urlparse, urlunparse

import httpx
import pytest

from mlregistry.storage.signing import UrlSigner
from tests.data_path import (
    PART_SIZE,
    artifact_manifest,
    finalize,
    list_all_files,
    multipart_upload,
    put_files,
    sample_files,
    sha256,
    signed_urls,
    stage,
    stored_objects,
    version_objects,
)
from tests.factories import API, create_repo, model_manifest, unique
from tests.live import LiveServer, LiveUser

UUID_PATTERN = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _staged_artifact(client: httpx.Client, repo: str) -> tuple[dict[str, object], dict[str, str]]:
    manifest = artifact_manifest(repo, unique("art"))
    return manifest, stage(client, manifest)


def test_stage_upload_finalize_download(server: LiveServer, user: LiveUser) -> None:
    big = os.urandom(PART_SIZE + 4096)
    files = sample_files()
    with server.client(user) as client:
        repo = create_repo(client)
        name = repo["manifest"]["name"]
        manifest, staged = _staged_artifact(client, name)
        assert UUID_PATTERN.match(staged["id"])
        assert staged["storage_root"].endswith(f"{repo['id']}/{staged['id']}")
        # Staged versions are not visible as versions yet.
        assert client.get(f"{API}/artifact-versions/{staged['id']}").status_code == 404
        assert (
            client.get(f"{API}/artifact-versions", params={"artifact_id": staged["artifact_id"]}).json()["pagination"][
                "total"
            ]
            == 0
        )

        put_files(client, staged["id"], files)
        multipart_upload(client, "artifact-versions", staged["id"], "big.bin", big)
        files["big.bin"] = big

        response = finalize(client, "artifact-versions", manifest, staged["storage_root"])
        assert response.status_code == 200, response.text
        version = response.json()["data"]
        assert version["id"] == staged["id"] and version["artifact_id"] == staged["artifact_id"]
        assert version["fqn"] == f"artifact:acme/{name}/{manifest['name']}:1"
        # An apply replayed after commit answers the same version.
        replay = finalize(client, "artifact-versions", manifest, staged["storage_root"])
        assert replay.json()["data"]["id"] == version["id"]

        listed = {item["path"]: item for item in list_all_files(client, "artifact-versions", version["id"])}
        assert {path for path, item in listed.items() if not item["is_dir"]} == set(files)
        assert {path for path, item in listed.items() if item["is_dir"]} == {"sub", "sub/deeper"}
        for path, content in files.items():
            assert listed[path]["file_size"] == len(content)
            assert listed[path]["sha256"] == sha256(content)

        urls = signed_urls(client, version["id"], list(files), "READ")
        with httpx.Client(timeout=60) as anonymous:
            for url, (path, content) in zip(urls, files.items(), strict=True):
                download = anonymous.get(url)
                assert download.status_code == 200, path
                assert download.content == content
                assert sha256(download.content) == listed[path]["sha256"]
            partial = anonymous.get(urls[list(files).index("big.bin")], headers={"Range": "bytes=10-19"})
            assert partial.status_code == 206 and partial.content == big[10:20]


def test_listing_a_file_path_or_missing_path_is_empty(server: LiveServer, user: LiveUser) -> None:
    with server.client(user) as client:
        repo = create_repo(client)
        manifest, staged = _staged_artifact(client, repo["manifest"]["name"])
        put_files(client, staged["id"], {"a/b.txt": b"x"})
        assert finalize(client, "artifact-versions", manifest, staged["storage_root"]).status_code == 200
        for path in ("a/b.txt", "nope"):
            response = client.post(f"{API}/artifact-versions/files", json={"id": staged["id"], "path": path})
            assert response.json() == {"data": [], "pagination": {}}
        root = client.post(f"{API}/artifact-versions/files", json={"id": staged["id"], "path": None}).json()
        assert root["data"] == [{"path": "a", "is_dir": True}]


def test_write_only_while_staged_and_read_only_once_finalized(server: LiveServer, user: LiveUser) -> None:
    with server.client(user) as client:
        repo = create_repo(client)
        manifest, staged = _staged_artifact(client, repo["manifest"]["name"])
        body = {"id": staged["id"], "paths": ["a.txt"]}
        refused_read = client.post(f"{API}/artifact-versions/signed-urls", json={**body, "operation": "READ"})
        assert refused_read.status_code == 409 and "STAGED" in refused_read.json()["message"]
        put_files(client, staged["id"], {"a.txt": b"hello"})
        assert finalize(client, "artifact-versions", manifest, staged["storage_root"]).status_code == 200

        refused_write = client.post(f"{API}/artifact-versions/signed-urls", json={**body, "operation": "WRITE"})
        assert refused_write.status_code == 409 and "FINALIZED" in refused_write.json()["message"]
        multipart = client.post(
            f"{API}/artifact-versions/signed-urls/multipart", json={"id": staged["id"], "path": "b", "num_parts": 2}
        )
        assert multipart.status_code == 409
        unknown = client.post(
            f"{API}/artifact-versions/signed-urls", json={**body, "paths": ["other.txt"], "operation": "READ"}
        )
        assert unknown.status_code == 404 and "other.txt" in unknown.json()["message"]


@pytest.mark.parametrize("path", ["../escape", "/absolute", "a/../../b", "", "back\\slash"])
def test_unsafe_paths_are_refused(server: LiveServer, user: LiveUser, path: str) -> None:
    with server.client(user) as client:
        repo = create_repo(client)
        _, staged = _staged_artifact(client, repo["manifest"]["name"])
        response = client.post(
            f"{API}/artifact-versions/signed-urls", json={"id": staged["id"], "paths": [path], "operation": "WRITE"}
        )
        assert response.status_code == 422
        assert response.json()["details"][0]["loc"] == ["paths", 0]


def test_finalize_with_a_missing_file_is_refused(server: LiveServer, user: LiveUser) -> None:
    with server.client(user) as client:
        repo = create_repo(client)
        manifest, staged = _staged_artifact(client, repo["manifest"]["name"])
        urls = signed_urls(client, staged["id"], ["present.txt", "missing.txt"], "WRITE")
        assert httpx.put(urls[0], content=b"here").status_code == 200
        refused = finalize(client, "artifact-versions", manifest, staged["storage_root"])
        assert refused.status_code == 422
        assert "missing.txt" in refused.json()["message"] and "present.txt" not in refused.json()["message"]
        assert refused.json()["details"][0]["loc"] == ["files", "missing.txt"]
        # Nothing was half-written: the stage is still open, and completing the upload finalizes it.
        assert httpx.put(urls[1], content=b"late").status_code == 200
        accepted = finalize(client, "artifact-versions", manifest, staged["storage_root"])
        assert accepted.status_code == 200 and accepted.json()["data"]["manifest"]["version"] == 1


def test_mark_stage_failure_removes_the_files(server: LiveServer, user: LiveUser) -> None:
    with server.client(user) as client:
        repo = create_repo(client)
        manifest, staged = _staged_artifact(client, repo["manifest"]["name"])
        put_files(client, staged["id"], {"a.txt": b"data"})
        created = client.post(
            f"{API}/artifact-versions/signed-urls/multipart", json={"id": staged["id"], "path": "big", "num_parts": 2}
        )
        assert created.status_code == 200
        assert version_objects(server, repo["id"], staged["id"])
        response = client.post(f"{API}/artifact-versions/mark-stage-failure", json={"id": staged["id"]})
        assert response.status_code == 200 and response.json() == {}
        assert version_objects(server, repo["id"], staged["id"]) == []
        # Reporting again is harmless, and the failed stage can no longer be finalized.
        assert client.post(f"{API}/artifact-versions/mark-stage-failure", json={"id": staged["id"]}).status_code == 200
        refused = finalize(client, "artifact-versions", manifest, staged["storage_root"])
        assert refused.status_code == 422 and "failed" in refused.json()["message"]


def test_late_failure_report_does_not_damage_a_finalized_version(server: LiveServer, user: LiveUser) -> None:
    with server.client(user) as client:
        repo = create_repo(client)
        manifest, staged = _staged_artifact(client, repo["manifest"]["name"])
        put_files(client, staged["id"], {"a.txt": b"keep me"})
        assert finalize(client, "artifact-versions", manifest, staged["storage_root"]).status_code == 200
        assert client.post(f"{API}/artifact-versions/mark-stage-failure", json={"id": staged["id"]}).status_code == 200
        [url] = signed_urls(client, staged["id"], ["a.txt"], "READ")
        assert httpx.get(url).content == b"keep me"


def test_model_versions_stage_through_artifact_routes(server: LiveServer, user: LiveUser) -> None:
    with server.client(user) as client:
        repo = create_repo(client)
        manifest = model_manifest(repo["manifest"]["name"], unique("model"), source={"type": "truefoundry"})
        staged = stage(client, manifest)
        put_files(client, staged["id"], {"model.pkl": b"weights"})
        response = finalize(client, "model-versions", manifest, staged["storage_root"])
        assert response.status_code == 200, response.text
        version = response.json()["data"]
        assert version["id"] == staged["id"] and version["model_id"] == staged["artifact_id"]
        files = list_all_files(client, "artifact-versions", version["id"])
        assert files == [{"path": "model.pkl", "is_dir": False, "file_size": 7, "sha256": sha256(b"weights")}]
        # Artifact reads never return a model version.
        assert client.get(f"{API}/artifact-versions/{version['id']}").status_code == 404
        listed = client.get(f"{API}/artifact-versions", params={"ml_repo_id": repo["id"]}).json()
        assert listed["data"] == [] and listed["pagination"]["total"] == 0
        assert client.get(f"{API}/artifacts", params={"ml_repo_id": repo["id"]}).json()["data"] == []


def test_stage_validates_the_manifest(server: LiveServer, user: LiveUser) -> None:
    with server.client(user) as client:
        repo = create_repo(client)
        name = repo["manifest"]["name"]
        bad_name = client.post(f"{API}/artifact-versions/stage", json={"manifest": artifact_manifest(name, "my.model")})
        assert bad_name.status_code == 422
        external = artifact_manifest(name, "ok", source={"type": "external", "uri": "s3://x/y"})
        assert client.post(f"{API}/artifact-versions/stage", json={"manifest": external}).status_code == 422
        long = artifact_manifest(name, "ok", description="x" * 600)
        assert client.post(f"{API}/artifact-versions/stage", json={"manifest": long}).status_code == 422
        skill = {
            "type": "agent-skill",
            "name": "skill",
            "metadata": {},
            "ml_repo": name,
            "source": {"type": "inline", "skill_md": "# skill"},
        }
        refused_skill = client.post(f"{API}/artifact-versions/stage", json={"manifest": skill})
        # The request schema lists the manifest types that can be staged: an agent skill is refused by it.
        assert refused_skill.status_code == 422 and refused_skill.json()["details"][0]["loc"] == ["body", "manifest"]
        assert "artifact-version" in refused_skill.json()["message"]
        unknown_repo = client.post(
            f"{API}/artifact-versions/stage", json={"manifest": artifact_manifest(unique("nope"), "ok")}
        )
        assert unknown_repo.status_code == 404
        forged_root = finalize(
            client,
            "artifact-versions",
            artifact_manifest(name, "ok"),
            stage(client, artifact_manifest(name, "ok"))["storage_root"] + "-forged",
        )
        assert forged_root.status_code == 422
        staged = stage(client, artifact_manifest(name, "ok"))
        other_name = finalize(client, "artifact-versions", artifact_manifest(name, "other"), staged["storage_root"])
        assert other_name.status_code == 422 and other_name.json()["details"][0]["loc"] == ["manifest", "name"]
        as_model = finalize(client, "model-versions", model_manifest(name, "ok"), staged["storage_root"])
        assert as_model.status_code == 422


def test_roles_viewer_reads_editor_writes_admin_deletes(server: LiveServer, user: LiveUser) -> None:
    viewer, editor = server.create_user(prefix="viewer"), server.create_user(prefix="editor")
    with server.client(user) as owner:
        repo = create_repo(
            owner,
            collaborators=[
                {"subject": f"user:{viewer.email}", "role_id": "mlf-project-viewer"},
                {"subject": f"user:{editor.email}", "role_id": "mlf-project-editor"},
            ],
        )
        name = repo["manifest"]["name"]
    with server.client(viewer) as client:
        assert (
            client.post(f"{API}/artifact-versions/stage", json={"manifest": artifact_manifest(name, "a")}).status_code
            == 403
        )
    with server.client(editor) as client:
        manifest, staged = _staged_artifact(client, name)
        put_files(client, staged["id"], {"f.txt": b"1"})
        assert finalize(client, "artifact-versions", manifest, staged["storage_root"]).status_code == 200
        assert client.delete(f"{API}/artifact-versions/{staged['id']}").status_code == 403
    with server.client(viewer) as client:
        assert signed_urls(client, staged["id"], ["f.txt"], "READ")
        assert list_all_files(client, "artifact-versions", staged["id"])[0]["path"] == "f.txt"
        write = client.post(
            f"{API}/artifact-versions/signed-urls", json={"id": staged["id"], "paths": ["g"], "operation": "WRITE"}
        )
        assert write.status_code == 403
        assert client.post(f"{API}/artifact-versions/mark-stage-failure", json={"id": staged["id"]}).status_code == 403
    outsider = server.create_user(prefix="outsider")
    with server.client(outsider) as client:
        response = client.post(
            f"{API}/artifact-versions/signed-urls", json={"id": staged["id"], "paths": ["f.txt"], "operation": "READ"}
        )
        assert response.status_code == 404
    with server.client(user) as owner:
        assert owner.delete(f"{API}/artifact-versions/{staged['id']}").status_code == 200


def _resign(url: str, **changes: str) -> str:
    parsed = urlparse(url)
    query = {key: values[0] for key, values in parse_qs(parsed.query).items()}
    query.update(changes)
    return urlunparse(parsed._replace(query=urlencode(query)))


def test_tampered_and_expired_local_urls_are_refused(server: LiveServer, user: LiveUser) -> None:
    if server.s3 is not None:
        pytest.skip("S3 checks its own presigned URLs; this is the local store's signature")
    with server.client(user) as client:
        repo = create_repo(client)
        manifest, staged = _staged_artifact(client, repo["manifest"]["name"])
        [write_url] = signed_urls(client, staged["id"], ["a.txt"], "WRITE")
        parsed = urlparse(write_url)
        other_key = urlunparse(parsed._replace(path=parsed.path.replace("a.txt", "b.txt")))
        later = _resign(write_url, expires=str(int(parse_qs(parsed.query)["expires"][0]) + 3600))
        with httpx.Client(timeout=30) as anonymous:
            assert anonymous.put(other_key, content=b"x").status_code == 403
            assert anonymous.put(later, content=b"x").status_code == 403
            assert anonymous.get(write_url).status_code == 403  # a WRITE URL does not read
            assert anonymous.put(write_url, content=b"ok").status_code == 200
        assert finalize(client, "artifact-versions", manifest, staged["storage_root"]).status_code == 200
        [read_url] = signed_urls(client, staged["id"], ["a.txt"], "READ")
        key = urlparse(read_url).path.split("/storage/default/", 1)[1]
        signer = UrlSigner.from_secret(server.settings.signing_key)
        expires, signature = signer.sign("GET", "default", key, ttl_seconds=-5)
        expired = _resign(read_url, expires=str(expires), signature=signature)
        with httpx.Client(timeout=30) as anonymous:
            refused = anonymous.get(expired)
            assert refused.status_code == 403 and "expired" in refused.json()["message"]
            assert anonymous.put(read_url, content=b"overwrite").status_code == 403  # a READ URL does not write
            good = anonymous.get(read_url)
            assert good.content == b"ok" and good.headers["ETag"] == f'"{sha256(b"ok")}"'
            assert good.headers["Content-Length"] == "2"


def test_no_objects_left_after_deletes(server: LiveServer, user: LiveUser) -> None:
    with server.client(user) as client:
        repo = create_repo(client)
        name = repo["manifest"]["name"]

        def logged(route: str, manifest: dict[str, object]) -> str:
            staged = stage(client, manifest)
            put_files(client, staged["id"], {"a.txt": b"a", "d/b.txt": b"b"})
            assert finalize(client, route, manifest, staged["storage_root"]).status_code == 200
            assert version_objects(server, repo["id"], staged["id"])
            return staged["id"]

        artifact_name = unique("art")
        first = logged("artifact-versions", artifact_manifest(name, artifact_name))
        second = logged("artifact-versions", artifact_manifest(name, artifact_name))
        model_name = unique("model")
        model_version = logged("model-versions", model_manifest(name, model_name, source={"type": "truefoundry"}))
        leftover_stage = stage(client, artifact_manifest(name, unique("abandoned")))
        put_files(client, leftover_stage["id"], {"x": b"x"})

        assert client.delete(f"{API}/artifact-versions/{first}").status_code == 200
        assert version_objects(server, repo["id"], first) == []
        assert version_objects(server, repo["id"], second)

        artifact = client.get(f"{API}/artifacts", params={"ml_repo_id": repo["id"], "name": artifact_name}).json()
        assert client.delete(f"{API}/artifacts/{artifact['data'][0]['id']}").status_code == 200
        assert version_objects(server, repo["id"], second) == []

        model = client.get(f"{API}/models", params={"ml_repo_id": repo["id"], "name": model_name}).json()
        assert client.delete(f"{API}/models/{model['data'][0]['id']}").status_code == 200
        assert version_objects(server, repo["id"], model_version) == []

        assert version_objects(server, repo["id"], leftover_stage["id"])
        assert client.delete(f"{API}/ml-repos/{repo['id']}").status_code == 200
        assert stored_objects(server, repo["id"]) == []


def test_a_file_and_a_directory_of_the_same_name(server: LiveServer, user: LiveUser) -> None:
    """S3 keys `a` and `a/b` coexist; on local disk the second upload is refused with a 4xx, never a 5xx."""
    with server.client(user) as client:
        repo = create_repo(client)
        _, staged = _staged_artifact(client, repo["manifest"]["name"])
        first, second = signed_urls(client, staged["id"], ["a", "a/b"], "WRITE")
        assert httpx.put(first, content=b"file").status_code == 200
        answer = httpx.put(second, content=b"nested")
        assert answer.status_code == (200 if server.s3 is not None else 422)
