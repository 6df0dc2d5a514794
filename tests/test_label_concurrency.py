"""Tag and alias moves from two server processes on one database: no 5xx, one holder per label, and the
versions' tags, the `tag=` filter, the holder lists and the history all agree afterwards."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import PostgresDatabases
from tests.factories import API, model_manifest, unique
from tests.processes import cli_env, run_cli, serving

BOOTSTRAP = "tfy_bootstrap_token_for_label_tests_0123456789"
HEADERS = {"Authorization": f"Bearer {BOOTSTRAP}"}
TAGS = ["prod", "staging", "canary"]
ALIAS = "v-prod"


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path, postgres_databases: PostgresDatabases | None) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    if postgres_databases is None:
        pytest.skip("MLREGISTRY_TEST_POSTGRES_URL is not set")
    return postgres_databases.create()


def _non_overlapping(intervals: list[dict[str, Any]]) -> None:
    """One label's intervals, oldest first: each ends before the next begins; only the last may be open."""
    for earlier, later in zip(intervals, intervals[1:], strict=False):
        assert earlier["valid_to"] is not None, intervals
        assert earlier["valid_to"] <= later["valid_from"], (earlier, later)
        if later["set_reason"] == "moved":
            assert earlier["end_reason"] == "moved" and earlier["to_version"]["id"] == later["version_id"]
            assert later["from_version"]["id"] == earlier["version_id"]


def test_concurrent_tag_and_alias_moves_from_two_processes(tmp_path: Path, database_url: str) -> None:
    env = cli_env(tmp_path, database_url, MLREGISTRY_BOOTSTRAP_TOKEN=BOOTSTRAP)
    assert run_cli(["db", "upgrade"], env).returncode == 0
    with serving(env) as first, serving(env) as second:
        with httpx.Client(base_url=first, headers=HEADERS, timeout=60) as client:
            repo = unique("repo")
            body = {"manifest": {"type": "ml-repo", "name": repo, "storage_integration_fqn": "default"}}
            assert client.put(f"{API}/ml-repos", json=body).status_code == 200
            versions = [
                client.put(f"{API}/model-versions", json={"manifest": model_manifest(repo, "clf")}).json()["data"]
                for _ in range(5)
            ]
        model_id = versions[0]["model_id"]
        chooser = random.Random(7)
        requests: list[tuple[str, dict[str, Any]]] = []
        for index in range(60):
            version = chooser.choice(versions)
            if index in (20, 40):  # two versions are deleted mid-way: their labels end with them
                requests.append(("DELETE", {"id": versions[3 + index // 40]["id"]}))
            elif index % 3 == 2:  # an alias move: take it, or give it up
                manifest = {**version["manifest"], "version_alias": ALIAS if chooser.random() < 0.7 else None}
                if manifest["version_alias"] is None:
                    del manifest["version_alias"]
                requests.append(("model-versions", {"manifest": manifest}))
            else:
                tags = chooser.sample(TAGS, chooser.randint(1, 3))
                requests.append(
                    ("model-versions/tags", {"model_version_id": version["id"], "tags": tags, "force": True})
                )

        def send(item: tuple[int, tuple[str, dict[str, Any]]]) -> httpx.Response:
            index, (route, payload) = item
            with httpx.Client(base_url=(first, second)[index % 2], headers=HEADERS, timeout=60) as own:
                if route == "DELETE":
                    return own.delete(f"{API}/model-versions/{payload['id']}")
                return own.put(f"{API}/{route}", json=payload)

        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(send, enumerate(requests)))
        failed = [(answer.status_code, answer.text) for answer in answers if answer.status_code >= 500]
        assert failed == []
        deleted = {payload["id"] for route, payload in requests if route == "DELETE"}
        for answer, (route, payload) in zip(answers, requests, strict=True):
            # Tag moves with force succeed; an alias held by another version is a 409; a deleted version 404.
            expected = {200, 409} if route == "model-versions" else {200}
            if deleted & {payload.get("id"), payload.get("model_version_id")} or (
                route == "model-versions" and payload["manifest"]["version"] in (4, 5)
            ):
                expected |= {404}
            assert answer.status_code in expected, (route, answer.text)

        with httpx.Client(base_url=second, headers=HEADERS, timeout=60) as client:
            listed = client.get(f"{API}/model-versions", params={"model_id": model_id}).json()["data"]
            json_tags = {tag: [v["id"] for v in listed if tag in v["tags"]] for tag in TAGS}
            for tag in TAGS:
                assert len(json_tags[tag]) <= 1, json_tags
                found = client.get(f"{API}/model-versions", params={"model_id": model_id, "tag": tag}).json()["data"]
                assert [v["id"] for v in found] == json_tags[tag]
            holders = client.get(f"{API}/models/{model_id}/tags").json()["data"]
            assert {item["name"]: [item["version_id"]] for item in holders} == {
                tag: ids for tag, ids in json_tags.items() if ids
            }
            for tag in TAGS:
                history = client.get(
                    f"{API}/models/{model_id}/tags/history", params={"tag": tag, "limit": 1000}
                ).json()["data"]
                _non_overlapping(history)
                open_now = [item["version_id"] for item in history if item["valid_to"] is None]
                assert open_now == json_tags[tag]

            aliased = [v["id"] for v in listed if v.get("version_alias") == ALIAS]
            assert len(aliased) <= 1
            assert [v["id"] for v in listed if v["manifest"].get("version_alias") == ALIAS] == aliased
            history = client.get(
                f"{API}/models/{model_id}/aliases/history", params={"alias": ALIAS, "limit": 1000}
            ).json()["data"]
            _non_overlapping(history)
            assert [item["version_id"] for item in history if item["valid_to"] is None] == aliased
            alias_holders = client.get(f"{API}/models/{model_id}/aliases").json()["data"]
            assert [item["version_id"] for item in alias_holders] == aliased

            assert {v["id"] for v in listed} == {v["id"] for v in versions} - deleted
            # Every version's own history tells the same story as the label histories.
            events = sum(len(client.get(f"{API}/model-versions/{v['id']}/history").json()["data"]) for v in listed)
            intervals = [
                item
                for route, key, names in (("tags", "tag", TAGS), ("aliases", "alias", [ALIAS]))
                for name in names
                for item in client.get(
                    f"{API}/models/{model_id}/{route}/history", params={key: name, "limit": 1000}
                ).json()["data"]
            ]
            kept = [item for item in intervals if item["version_id"] not in deleted]
            assert events == sum(2 if item["valid_to"] else 1 for item in kept)
            assert {item["end_reason"] for item in intervals if item["version_id"] in deleted} <= {
                "deleted",
                "moved",
                "removed",
            }
            assert all(item["valid_to"] for item in intervals if item["version_id"] in deleted)
