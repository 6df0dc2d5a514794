"""Stored JSON documents (manifests, subjects) read back exactly as written, on either database: the fast
decoder must never turn a big integer into a float, nor reorder or drop anything."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from mlregistry.repositories.database import load_document
from tests.factories import API, apply_model_version, create_repo
from tests.live import LiveServer, LiveUser

METADATA: dict[str, Any] = {
    "zeta": 1,
    "alpha": 2,
    "beyond_64_bits": 2**70,
    "beyond_64_bits_negative": -(2**65),
    "nineteen_digits": 1234567890123456789,
    "largest_int64": 2**63 - 1,
    "pi": math.pi,
    "tiny": 5e-324,
    "huge_float": 1.7976931348623157e308,
    "text": 'héllo ☃ \u2028 "quoted" \\ back',
    "nested": [{"b": [2**100, 0.1, None, True]}, []],
}


def test_a_manifest_reads_back_exactly_as_written_in_a_get_and_in_lists(server: LiveServer, user: LiveUser) -> None:
    with server.client(user) as client:
        repo = create_repo(client)
        created = apply_model_version(client, repo["manifest"]["name"], "exact", metadata=METADATA)
        fetched = client.get(f"{API}/model-versions/{created['id']}").json()["data"]
        listed = client.get(f"{API}/model-versions", params={"model_id": created["model_id"]}).json()["data"]
        models = client.get(f"{API}/models", params={"ml_repo_id": repo["id"], "name": "exact"}).json()["data"]
    for document in (created, fetched, listed[0], models[0]["latest_version"]):
        metadata = document["manifest"]["metadata"]
        assert metadata == METADATA
        assert list(metadata) == list(METADATA)  # key order kept
        assert type(metadata["beyond_64_bits"]) is int and type(metadata["nested"][0]["b"][0]) is int


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 18446744073709551616, "b": [1, 2.5]}',
        "[-9223372036854775809]",
        "123456789012345678901234567890",
        '{"id": "49e01757-a3c2-49cc-a4d8-9c5e8f15d76a", "n": 9223372036854775807}',
        '"\\ud800 lone surrogate"',
        '{"dup": 1, "dup": 2}',
        '{"k": "h\\u00e9 \\u2603", "f": 0.1, "e": 1e-7, "z": -0.0}',
        "[1e400, NaN, -Infinity]",
    ],
)
def test_load_document_decodes_every_document_as_the_standard_library_does(text: str) -> None:
    expected, got = json.loads(text), load_document(text)
    assert repr(got) == repr(expected)  # repr: tells 1 from 1.0, keeps nan comparable, shows key order


def _item_bytes(body: bytes) -> bytes:
    """A get's `data`, as the bytes the server wrote (`{"data":<item>}`)."""
    assert body.startswith(b'{"data":') and body.endswith(b"}")
    return body[len(b'{"data":') : -1]


@pytest.mark.parametrize("big", [False, True], ids=["64-bit", "beyond-64-bit"])
def test_list_items_are_byte_for_byte_the_get_answers(server: LiveServer, user: LiveUser, big: bool) -> None:
    """Every item of a list page is written exactly as the get by id writes the version: unicode, nesting, big
    numbers, tags, the alias, metrics from the version's run, documents that repeat across the page (the same
    creator, empty lists) and documents that do not. With `big` one manifest holds an integer beyond 64 bits,
    which sends both answers down the standard library's encoder (the other items then hold no float that the
    two encoders write differently, such as 1e-7)."""
    tiny, huge = (0.5, 1.5) if big else (1e-7, 1e300)
    svc = "/api/svc/v1"
    with server.client(user) as client:
        repo = create_repo(client)
        name = repo["manifest"]["name"]
        run = client.post(f"{svc}/runs", json={"experiment_id": repo["id"], "name": "trained"})
        run_id = run.json()["run"]["info"]["run_id"]
        for point in (
            {"key": "loss", "value": 0.25, "timestamp": 7, "step": 2},
            {"key": "acc", "value": tiny, "timestamp": 8, "step": 2},
        ):
            assert client.post(f"{svc}/runs/{run_id}/metrics", json=point).status_code == 200
        metadata = {**METADATA} if big else {k: v for k, v in METADATA.items() if "beyond" not in k and k != "nested"}
        created = [
            apply_model_version(client, name, "bytes", metadata={"é": "ünï ☃ 𝄞", "deep": [[[{"a": [1, [2, [3]]]}]]]}),
            apply_model_version(client, name, "bytes", metadata=metadata, description='line\nnext \u2028 "q"'),
            apply_model_version(client, name, "bytes", run_id=run_id, step=2, version_alias="v-prod"),
            apply_model_version(client, name, "bytes", metadata={"n": 2**63 - 1, "m": -(2**63), "f": 0.1, "e": huge}),
            apply_model_version(client, name, "bytes", framework={"type": "sklearn"}, source={"type": "truefoundry"}),
        ]
        tagged = {"model_version_id": created[0]["id"], "tags": ["b", "a", "ünï"]}
        assert client.put(f"{API}/model-versions/tags", json=tagged).status_code == 200
        gets = [_item_bytes(client.get(f"{API}/model-versions/{version['id']}").content) for version in created]
        for params in (
            {"model_id": created[0]["model_id"]},
            {"ml_repo_id": repo["id"]},
            {"ml_repo_id": repo["id"], "name": "bytes"},
            {"model_id": created[0]["model_id"], "offset": 1},
            {"model_id": created[0]["model_id"], "offset": 4, "limit": 1},
            {"ml_repo_id": repo["id"], "tag": "ünï"},
            {"run_ids": run_id},
        ):
            listed = client.get(f"{API}/model-versions", params=params)
            assert listed.status_code == 200, listed.text
            items = listed.json()["data"]
            assert items, params
            for item in items:
                expected = gets[[version["id"] for version in created].index(item["id"])]
                assert expected in listed.content, (params, item["id"])
            first = gets[[version["id"] for version in created].index(items[0]["id"])]
            assert listed.content.startswith(b'{"data":[' + first + (b"," if len(items) > 1 else b"]")), params
        linked = json.loads(gets[2])
        assert linked["version_alias"] == "v-prod" and {m["key"] for m in linked["metrics"]} == {"loss", "acc"}
        assert json.loads(gets[0])["tags"] == ["b", "a", "ünï"] and json.loads(gets[4])["deployable"] is True


def test_artifact_and_prompt_list_items_are_byte_for_byte_the_get_answers(server: LiveServer, user: LiveUser) -> None:
    """The other families' items too: artifacts (no metrics, no `deployable`) and prompts (their several
    usage snippets), with tags and an alias."""
    from tests.factories import apply_prompt_version

    with server.client(user) as client:
        repo = create_repo(client)
        name = repo["manifest"]["name"]
        artifacts = []
        for index in range(3):
            manifest = {
                "type": "artifact-version",
                "name": "files",
                "ml_repo": name,
                "metadata": {"ü": index, "deep": {"list": [index, {"x": None}]}},
                "source": {"type": "external", "uri": f"s3://bucket/files/{index}"},
                "step": index,
            }
            if index == 1:
                manifest["version_alias"] = "v-one"
            answer = client.put(f"{API}/artifact-versions", json={"manifest": manifest})
            assert answer.status_code == 200, answer.text
            artifacts.append(answer.json()["data"])
        prompts = [apply_prompt_version(client, name, "asks") for _ in range(2)]
        for path, versions, tags_field in (
            ("artifact-versions", artifacts, "artifact_version_id"),
            ("prompt-versions", prompts, "prompt_version_id"),
        ):
            tagged = {tags_field: versions[0]["id"], "tags": ["z", "ä"]}
            assert client.put(f"{API}/{path}/tags", json=tagged).status_code == 200, path
            gets = {v["id"]: _item_bytes(client.get(f"{API}/{path}/{v['id']}").content) for v in versions}
            listed = client.get(f"{API}/{path}", params={"ml_repo_id": repo["id"]})
            assert listed.status_code == 200, listed.text
            ids = [item["id"] for item in listed.json()["data"]]
            assert sorted(ids) == sorted(gets)
            expected = b'{"data":[' + b",".join(gets[version_id] for version_id in ids) + b"]"
            assert listed.content.startswith(expected), path
