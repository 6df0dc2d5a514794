"""Versions linked to real runs: models and artifacts list the runs' steps (`run_steps`), and the
`run_id` / `run_ids` / `run_steps` filters of the model, artifact and version lists select by them."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.factories import apply_model_version, create_repo
from tests.live import LiveServer, LiveUser
from tests.test_core_sdk import sdk

API = "/api/svc/v1"


def _run(client: httpx.Client, repo_id: str, name: str) -> str:
    response = client.post(f"{API}/runs", json={"experiment_id": repo_id, "name": name})
    assert response.status_code == 200, response.text
    return str(response.json()["run"]["info"]["run_id"])


def _apply_artifact_version(client: httpx.Client, repo: str, name: str, **fields: Any) -> dict[str, Any]:
    manifest = {
        "name": name,
        "metadata": {},
        "ml_repo": repo,
        "type": "artifact-version",
        "source": {"type": "external", "uri": f"s3://bucket/{name}/{uuid.uuid4().hex[:6]}"},
        "step": 0,
        **fields,
    }
    response = client.put(f"{API}/artifact-versions", json={"manifest": manifest})
    assert response.status_code == 200, response.text
    return dict(response.json()["data"])


def _get(client: httpx.Client, path: str, **params: Any) -> list[dict[str, Any]]:
    response = client.get(f"{API}{path}", params=params)
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


def test_models_and_artifacts_list_the_steps_their_runs_logged_them_at(server: LiveServer, user: LiveUser) -> None:
    with server.client(user) as client:
        repo = create_repo(client)
        name = repo["manifest"]["name"]
        first = _run(client, repo["id"], "first")
        second = _run(client, repo["id"], "second")
        at_three = apply_model_version(client, name, "clf", run_id=first, step=3)
        at_one = apply_model_version(client, name, "clf", run_id=first, step=1)
        again_one = apply_model_version(client, name, "clf", run_id=second, step=1)
        at_two = apply_model_version(client, name, "clf", run_id=second, step=2)
        apply_model_version(client, name, "clf", step=7)  # no run: not a run step
        apply_model_version(client, name, "plain")
        from_second = apply_model_version(client, name, "reg", run_id=second, step=5)

        models = {model["name"]: model for model in _get(client, "/models", ml_repo_id=repo["id"])}
        assert models["clf"]["run_steps"] == [1, 2, 3]
        assert models["plain"]["run_steps"] == [] and models["reg"]["run_steps"] == [5]
        got = client.get(f"{API}/models/{models['clf']['id']}").json()["data"]
        assert got["run_steps"] == [1, 2, 3]

        by_first = _get(client, "/models", ml_repo_id=repo["id"], run_id=first)
        assert [(model["name"], model["run_steps"]) for model in by_first] == [("clf", [1, 3])]
        by_second = {model["name"]: model["run_steps"] for model in _get(client, "/models", run_id=second)}
        assert by_second == {"clf": [1, 2], "reg": [5]}
        assert _get(client, "/models", run_id=uuid.uuid4().hex) == []

        def version_ids(**params: Any) -> set[str]:
            return {version["id"] for version in _get(client, "/model-versions", **params)}

        assert version_ids(run_ids=first) == {at_three["id"], at_one["id"]}
        assert version_ids(run_ids=[first, second], run_steps="1") == {at_one["id"], again_one["id"]}
        assert version_ids(run_ids=second, run_steps=["2.0", "5"]) == {at_two["id"], from_second["id"]}
        assert version_ids(run_ids=f"{first},{second}", ml_repo_id=repo["id"], name="clf") == {
            at_three["id"],
            at_one["id"],
            again_one["id"],
            at_two["id"],
        }
        assert version_ids(run_ids=first, run_steps="2") == set()

        artifact_at_four = _apply_artifact_version(client, name, "features", run_id=first, step=4)
        artifact_at_zero = _apply_artifact_version(client, name, "features", run_id=second, step=0)
        _apply_artifact_version(client, name, "notes")
        artifacts = {artifact["name"]: artifact for artifact in _get(client, "/artifacts", ml_repo_id=repo["id"])}
        assert artifacts["features"]["run_steps"] == [0, 4] and artifacts["notes"]["run_steps"] == []
        assert [artifact["run_steps"] for artifact in _get(client, "/artifacts", run_id=first)] == [[4]]
        listed = _get(client, "/artifact-versions", run_ids=[first, second], run_steps="4")
        assert [version["id"] for version in listed] == [artifact_at_four["id"]]
        listed = _get(client, "/artifact-versions", run_ids=second, ml_repo_id=repo["id"])
        assert [version["id"] for version in listed] == [artifact_at_zero["id"]]

        # The SDK's strict types parse them (run_steps as numbers).
        parsed = {model.name: model.run_steps for model in sdk(server, user).models.list(ml_repo_id=repo["id"])}
        assert parsed["clf"] == [1, 2, 3] and parsed["plain"] == []


def test_a_deleted_runs_versions_keep_its_steps(server: LiveServer, user: LiveUser) -> None:
    with server.client(user) as client:
        repo = create_repo(client)
        run_id = _run(client, repo["id"], "gone")
        version = apply_model_version(client, repo["manifest"]["name"], "clf", run_id=run_id, step=2)
        assert client.delete(f"{API}/runs/{run_id}").status_code == 200
        assert [model["run_steps"] for model in _get(client, "/models", run_id=run_id)] == [[2]]
        assert [found["id"] for found in _get(client, "/model-versions", run_ids=run_id)] == [version["id"]]
