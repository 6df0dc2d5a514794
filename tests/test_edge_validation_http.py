"""Malformed input at the edge: integers beyond their columns, NUL characters, NaN and Infinity.

Each probe is answered with a 4xx naming the field (never a 5xx), the same on SQLite and Postgres.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.factories import API, apply_model_version, create_repo, model_manifest, unique
from tests.live import LiveServer, LiveUser

WORKSPACES = "/apis/entities/v2/workspaces"
INT32_OVER = str(2**31)
INT64_OVER = str(2**63)

# (method, path, query, expected status, the field a 422 names)
QUERY_PROBES: list[tuple[str, str, dict[str, str], int, str | None]] = [
    ("GET", f"{API}/model-versions", {"offset": INT64_OVER}, 422, "offset"),
    ("GET", f"{API}/model-versions", {"offset": INT32_OVER}, 422, "offset"),
    ("GET", f"{API}/models", {"offset": "-1"}, 422, "offset"),
    ("GET", f"{API}/models", {"limit": INT64_OVER}, 422, "limit"),
    ("GET", f"{API}/model-versions", {"version": INT32_OVER}, 422, "version"),
    ("GET", f"{API}/prompt-versions", {"version": INT32_OVER}, 422, "version"),
    ("GET", f"{API}/artifact-versions", {"run_steps": INT32_OVER}, 422, "run_steps"),
    ("GET", f"{API}/audit-events", {"offset": INT64_OVER}, 422, "offset"),
    ("GET", f"{API}/users", {"offset": INT32_OVER}, 422, "offset"),
    ("GET", f"{API}/models", {"name": "a\x00b"}, 422, "name"),
    ("GET", f"{API}/model-versions", {"tag": "a\x00"}, 422, "tag"),
    ("GET", f"{API}/model-versions", {"fqn": "model:acme/r\x00/n:1"}, 422, "fqn"),
    ("GET", f"{API}/users", {"query": "a\x00"}, 422, "query"),
    ("GET", f"{API}/models", {"a\x00": "1"}, 422, "a\x00"),
    ("GET", f"{API}/models/a%00b", {}, 422, "id"),
    ("GET", f"{WORKSPACES}/a%00b", {}, 422, "name"),
    ("GET", WORKSPACES, {"page": INT64_OVER}, 422, "page"),
    ("GET", WORKSPACES, {"page": INT32_OVER}, 422, "page"),
    # page x page_size beyond the offset the database accepts
    ("GET", "/apis/models/v2/workspaces/-/models", {"page": "3000000", "page_size": "1000"}, 422, "page"),
    ("GET", "/apis/models/v2/workspaces/-/models", {"page": "2147484", "page_size": "1000"}, 200, None),
    # ids beyond the id column name no ML repo, as any other unknown id
    ("GET", f"{API}/ml-repos/{INT32_OVER}", {}, 404, None),
    ("GET", f"{API}/ml-repos/\u00b2", {}, 404, None),
    ("GET", f"{API}/models", {"ml_repo_id": INT32_OVER}, 200, None),
    ("GET", f"{API}/models", {"ml_repo_id": "\u00b2"}, 200, None),
    ("GET", f"{API}/model-versions", {"fqn": "model:acme/repo/name:99999999999"}, 200, None),
]


def _assert_names_field(response: httpx.Response, field: str) -> None:
    body = response.json()
    details = body["detail"] if "detail" in body else body["details"]
    locations = [detail["loc"] for detail in details]
    assert any(field in [str(part) for part in loc] for loc in locations), (field, body)


@pytest.mark.parametrize(("method", "path", "query", "status", "field"), QUERY_PROBES)
def test_malformed_query_and_path_values_are_client_errors(
    server: LiveServer,
    admin: LiveUser,
    method: str,
    path: str,
    query: dict[str, str],
    status: int,
    field: str | None,
) -> None:
    with server.client(admin) as client:
        response = client.request(method, path, params=query)
    assert response.status_code == status, response.text
    if field is not None:
        _assert_names_field(response, field)


def _raw_json(client: httpx.Client, method: str, path: str, body: str) -> httpx.Response:
    return client.request(method, path, content=body, headers={"Content-Type": "application/json"})


@pytest.mark.parametrize(
    ("manifest_fields", "field"),
    [
        ({"version": 2**31}, "version"),
        ({"step": 2**31}, "step"),
        ({"step": -1}, "step"),
        ({"metadata": {"note": "a\x00b"}}, "note"),
        ({"metadata": {"a\x00": 1}}, "a\x00"),
        ({"description": "nul \x00 here"}, "description"),
        ({"run_id": "run\x00"}, "run_id"),
    ],
)
def test_manifest_values_beyond_what_is_stored_are_refused(
    server: LiveServer, admin: LiveUser, manifest_fields: dict[str, Any], field: str
) -> None:
    with server.client(admin) as client:
        repo = create_repo(client)
        manifest = model_manifest(repo["manifest"]["name"], unique("model"), **manifest_fields)
        response = client.put(f"{API}/model-versions", json={"manifest": manifest})
        assert response.status_code == 422, response.text
        _assert_names_field(response, field)
        assert client.get(f"{API}/models", params={"ml_repo_id": repo["id"]}).json()["data"] == []


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_in_metadata_are_refused(server: LiveServer, admin: LiveUser, number: str) -> None:
    with server.client(admin) as client:
        repo = create_repo(client)
        name = unique("model")
        manifest = model_manifest(repo["manifest"]["name"], name, metadata={"loss": "NUMBER"})
        body = json.dumps({"manifest": manifest}).replace('"NUMBER"', number)
        response = _raw_json(client, "PUT", f"{API}/model-versions", body)
        assert response.status_code == 422, response.text
        assert response.json()["details"][0]["loc"] == ["body", "manifest", "metadata", "loss"]
        # Nothing was stored (before the fix: a version whose metadata said `"loss": null`).
        assert client.get(f"{API}/model-versions", params={"name": name}).json()["data"] == []


def test_nul_in_tags_ids_and_bodies_of_both_apis_is_refused(server: LiveServer, admin: LiveUser) -> None:
    with server.client(admin) as client:
        repo = create_repo(client)
        version = apply_model_version(client, repo["manifest"]["name"], unique("model"))
        tags = client.put(f"{API}/model-versions/tags", json={"model_version_id": version["id"], "tags": ["a\x00"]})
        assert tags.status_code == 422, tags.text
        assert tags.json()["details"][0]["loc"] == ["body", "tags", 0]
        ids = client.put(f"{API}/model-versions/tags", json={"model_version_id": "x\x00", "tags": []})
        assert ids.status_code == 422 and ids.json()["details"][0]["loc"] == ["body", "model_version_id"]
        repo_name = client.put(
            f"{API}/ml-repos",
            json={"manifest": {"type": "ml-repo", "name": "r\x00x", "storage_integration_fqn": "default"}},
        )
        assert repo_name.status_code == 422
        workspace = client.post(WORKSPACES, json={"name": "ws\x00"})
        assert workspace.status_code == 422, workspace.text
        assert workspace.json()["detail"][0]["loc"] == ["body", "name"]
        parts = client.post(
            f"{API}/artifact-versions/signed-urls/multipart",
            json={"id": version["id"], "path": "a.bin", "num_parts": 2**31},
        )
        assert parts.status_code == 422 and "num_parts" in parts.json()["details"][0]["loc"]
        # The tag the refused request named was not stored; the version keeps its tags.
        assert client.get(f"{API}/model-versions/{version['id']}").json()["data"]["tags"] == []
