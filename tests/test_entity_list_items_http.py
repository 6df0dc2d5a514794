"""An entity list reads its rows as plain records (the entity, its repo's name and its latest version), not
as ORM instances, while a get of one entity still loads it through the ORM: both must answer the same item,
byte for byte, for every family, with and without a latest version, with the run steps of its versions, and
on a page that starts past the first row."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.data_path import artifact_manifest, stage
from tests.factories import API, apply_model_version, apply_prompt_version, create_repo
from tests.live import LiveServer, LiveUser


def _listed(client: httpx.Client, path: str, **params: Any) -> tuple[list[dict[str, Any]], int]:
    answer = client.get(f"{API}{path}", params=params)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    return body["data"], body["pagination"]["total"]


def _same_as_get(client: httpx.Client, path: str, item: dict[str, Any]) -> None:
    got = client.get(f"{API}{path}/{item['id']}")
    assert got.status_code == 200, got.text
    assert json.dumps(item, sort_keys=False) == json.dumps(got.json()["data"], sort_keys=False)


def test_listed_entities_are_the_entities_a_get_answers(server: LiveServer, user: LiveUser) -> None:
    with server.client(user) as client:
        repo = create_repo(client)
        name = repo["manifest"]["name"]
        run = client.post(f"{API}/runs", json={"experiment_id": repo["id"], "name": "train"})
        assert run.status_code == 200, run.text
        run_id = run.json()["run"]["info"]["run_id"]

        apply_model_version(client, name, "clf", run_id=run_id, step=3)
        latest = apply_model_version(client, name, "clf", framework={"type": "sklearn"}, run_id=run_id, step=1)
        tagged = {"model_version_id": latest["id"], "tags": ["prod"]}
        assert client.put(f"{API}/model-versions/tags", json=tagged).status_code == 200
        gone = apply_model_version(client, name, "emptied")
        assert client.delete(f"{API}/model-versions/{gone['id']}").status_code in (200, 204)
        apply_model_version(client, name, "plain")
        apply_prompt_version(client, name, "greeter")
        stage(client, artifact_manifest(name, "never-finalized"))

        models, total = _listed(client, "/models", ml_repo_id=repo["id"], limit=10)
        assert total == 3 and {model["name"] for model in models} == {"clf", "emptied", "plain"}
        by_name = {model["name"]: model for model in models}
        assert by_name["clf"]["latest_version"]["id"] == latest["id"]
        assert by_name["clf"]["latest_version"]["tags"] == ["prod"]
        assert by_name["clf"]["run_steps"] == [1, 3]
        assert "latest_version" not in by_name["emptied"]
        for model in models:
            _same_as_get(client, "/models", model)

        # A page that starts past the first row, and one past the end, keep the exact total.
        assert _listed(client, "/models", ml_repo_id=repo["id"], limit=1, offset=1) == (models[1:2], 3)
        assert _listed(client, "/models", ml_repo_id=repo["id"], limit=1, offset=7) == ([], 3)
        # Without versions left, a model is listed only when asked for.
        without_empty, total = _listed(client, "/models", ml_repo_id=repo["id"], include_empty_models=False)
        assert total == 2 and [model["name"] for model in without_empty] == ["plain", "clf"]
        # Filtered by a run, its steps are that run's.
        by_run, total = _listed(client, "/models", run_id=run_id)
        assert total == 1 and by_run[0]["run_steps"] == [1, 3]

        for path in ("/prompts", "/artifacts"):
            items, total = _listed(client, path, ml_repo_id=repo["id"])
            assert total == 1, (path, items)
            _same_as_get(client, path, items[0])
        prompts, _ = _listed(client, "/prompts", ml_repo_id=repo["id"])
        assert "latest_version" in prompts[0]
        artifacts, _ = _listed(client, "/artifacts", ml_repo_id=repo["id"])
        assert "latest_version" not in artifacts[0]
