"""Tag and alias history and "as of" reads, through HTTP, on SQLite and Postgres."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx

from tests.data_path import artifact_manifest
from tests.factories import API, apply_model_version, create_repo, prompt_manifest
from tests.live import LiveServer, LiveUser


def _moment(iso: str, shift_us: int = 0) -> str:
    return (datetime.fromisoformat(iso) + timedelta(microseconds=shift_us)).isoformat()


def _get(client: httpx.Client, path: str, **params: Any) -> Any:
    answer = client.get(f"{API}{path}", params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]


def _tag(client: httpx.Client, version_id: str, tags: list[str], force: bool = False) -> None:
    answer = client.put(
        f"{API}/model-versions/tags", json={"model_version_id": version_id, "tags": tags, "force": force}
    )
    assert answer.status_code == 200, answer.text


def test_tag_moves_are_history_and_as_of_reads_answer_what_was_true(server: LiveServer, user: LiveUser) -> None:
    with server.client(user) as client:
        repo = create_repo(client)["manifest"]["name"]
        v1 = apply_model_version(client, repo, "clf")
        v2 = apply_model_version(client, repo, "clf")
        model_id = v1["model_id"]
        _tag(client, v1["id"], ["prod", "stable"])
        _tag(client, v2["id"], ["prod"], force=True)  # prod moves from v1 to v2
        _tag(client, v1["id"], [])  # stable removed
        v3 = apply_model_version(client, repo, "clf")
        _tag(client, v3["id"], ["prod"], force=True)
        assert client.delete(f"{API}/model-versions/{v3['id']}").status_code == 200  # prod goes with v3

        prod = _get(client, f"/models/{model_id}/tags/history", tag="prod")
        assert [(item["version"], item["set_reason"], item["end_reason"]) for item in prod] == [
            (1, "set", "moved"),
            (2, "moved", "moved"),
            (3, "moved", "deleted"),
        ]
        assert prod[0]["to_version"] == {"id": v2["id"], "version": 2}
        assert prod[1]["from_version"] == {"id": v1["id"], "version": 1}
        assert prod[0]["valid_to"] == prod[1]["valid_from"] and prod[1]["valid_to"] == prod[2]["valid_from"]
        assert prod[0]["set_by_subject"]["subjectSlug"] == user.slug
        assert prod[2]["ended_by_subject"]["subjectSlug"] == user.slug
        assert all(item["valid_to"] is not None for item in prod)

        events = _get(client, f"/model-versions/{v1['id']}/history")
        assert [(event["name"], event["event"]) for event in events] == [
            ("prod", "set"),
            ("stable", "set"),
            ("prod", "moved"),
            ("stable", "removed"),
        ]
        moved_away = events[2]
        assert moved_away["from_version"]["id"] == v1["id"] and moved_away["to_version"]["id"] == v2["id"]
        assert events[0]["subject"]["subjectSlug"] == user.slug
        v2_events = _get(client, f"/model-versions/{v2['id']}/history")
        assert [(event["event"], event["from_version"]["version"]) for event in v2_events] == [
            ("moved", 1),
            ("moved", 2),
        ]

        # As of each moment: who held prod, the tag= filter and the tags shown on the version list.
        while_on_v1 = prod[0]["valid_from"]
        while_on_v2 = _moment(prod[1]["valid_from"], 1)
        assert [
            item["version"] for item in _get(client, f"/models/{model_id}/tags", tag="prod", as_of=while_on_v1)
        ] == [1]
        assert [
            item["version"] for item in _get(client, f"/models/{model_id}/tags", tag="prod", as_of=while_on_v2)
        ] == [2]
        assert _get(client, f"/models/{model_id}/tags", as_of=_moment(prod[0]["valid_from"], -1)) == []
        assert _get(client, f"/models/{model_id}/tags") == []  # nothing holds prod or stable today
        tagged_then = _get(client, "/model-versions", model_id=model_id, tag="prod", as_of=while_on_v1)
        assert [item["id"] for item in tagged_then] == [v1["id"]]
        assert _get(client, "/model-versions", model_id=model_id, tag="prod") == []
        listed_then = client.get(f"{API}/model-versions", params={"model_id": model_id, "as_of": while_on_v1}).json()
        assert [(item["manifest"]["version"], item["tags"]) for item in listed_then["data"]] == [
            (2, []),
            (1, ["prod", "stable"]),
        ]
        assert listed_then["pagination"]["total"] == 2
        before_v2 = _get(client, "/model-versions", model_id=model_id, as_of=_moment(v2["created_at"], -1))
        assert [item["id"] for item in before_v2] == [v1["id"]]


def test_alias_history_and_which_version_was_prod_then(server: LiveServer, user: LiveUser) -> None:
    with server.client(user) as client:
        repo = create_repo(client)["manifest"]["name"]
        v1 = apply_model_version(client, repo, "clf", version_alias="v-prod")
        v2 = apply_model_version(client, repo, "clf")
        model_id = v1["model_id"]
        taken = client.put(f"{API}/model-versions", json={"manifest": {**v2["manifest"], "version_alias": "v-prod"}})
        assert taken.status_code == 409 and "version 1" in taken.json()["message"]
        released = {key: value for key, value in v1["manifest"].items() if key != "version_alias"}
        assert client.put(f"{API}/model-versions", json={"manifest": released}).status_code == 200
        moved = client.put(f"{API}/model-versions", json={"manifest": {**v2["manifest"], "version_alias": "v-prod"}})
        assert moved.status_code == 200, moved.text

        history = _get(client, f"/models/{model_id}/aliases/history", alias="v-prod")
        assert [(item["version"], item["end_reason"]) for item in history] == [(1, "removed"), (2, None)]
        assert history[0]["valid_from"] == v1["created_at"]
        assert history[0]["valid_to"] <= history[1]["valid_from"]
        assert _get(client, f"/models/{model_id}/aliases/history") == history  # the only alias

        at = history[0]["valid_from"]
        assert [item["version_id"] for item in _get(client, f"/models/{model_id}/aliases", as_of=at)] == [v1["id"]]
        assert [item["version_id"] for item in _get(client, f"/models/{model_id}/aliases")] == [v2["id"]]
        then = _get(client, "/model-versions", model_id=model_id, as_of=at)
        assert [(item["id"], item.get("version_alias")) for item in then] == [(v1["id"], "v-prod")]
        now = _get(client, "/model-versions", model_id=model_id)
        assert [item.get("version_alias") for item in now] == ["v-prod", None]
        events = _get(client, f"/model-versions/{v1['id']}/history")
        assert [(event["kind"], event["name"], event["event"]) for event in events] == [
            ("alias", "v-prod", "set"),
            ("alias", "v-prod", "removed"),
        ]


def test_as_of_is_validated_and_history_is_private(server: LiveServer, user: LiveUser) -> None:
    outsider = server.create_user()
    with server.client(user) as client, server.client(outsider) as other:
        repo = create_repo(client)["manifest"]["name"]
        v1 = apply_model_version(client, repo, "clf")
        bad = client.get(f"{API}/model-versions", params={"model_id": v1["model_id"], "as_of": "yesterday"})
        assert bad.status_code == 422 and bad.json()["details"][0]["loc"] == ["query", "as_of"]
        bad_lookup = client.get(f"{API}/models/{v1['model_id']}/aliases", params={"as_of": "2026-13-01"})
        assert bad_lookup.status_code == 422
        date_only = client.get(f"{API}/models/{v1['model_id']}/aliases", params={"as_of": "2020-01-01"})
        assert date_only.status_code == 200 and date_only.json()["data"] == []
        assert other.get(f"{API}/model-versions/{v1['id']}/history").status_code == 404
        assert other.get(f"{API}/models/{v1['model_id']}/aliases/history").status_code == 404
        assert client.get(f"{API}/model-versions/nope/history").status_code == 404


def test_artifact_and_prompt_histories(server: LiveServer, user: LiveUser) -> None:
    with server.client(user) as client:
        repo = create_repo(client)["manifest"]["name"]
        manifest = artifact_manifest(repo, "data", source={"type": "external", "uri": "s3://b/data"})
        artifact = client.put(f"{API}/artifact-versions", json={"manifest": {**manifest, "version_alias": "v-gold"}})
        assert artifact.status_code == 200, artifact.text
        version = artifact.json()["data"]
        tags = client.put(f"{API}/artifact-versions/tags", json={"artifact_version_id": version["id"], "tags": ["t"]})
        assert tags.status_code == 200, tags.text
        events = _get(client, f"/artifact-versions/{version['id']}/history")
        assert [(event["kind"], event["event"]) for event in events] == [("alias", "set"), ("tag", "set")]
        held = _get(client, f"/artifacts/{version['artifact_id']}/aliases", alias="v-gold")
        assert [item["version_id"] for item in held] == [version["id"]]

        prompt = client.put(
            f"{API}/prompt-versions", json={"manifest": prompt_manifest(repo, "greet", version_alias="v-live")}
        )
        assert prompt.status_code == 200, prompt.text
        prompt_version = prompt.json()["data"]
        history = _get(client, f"/prompts/{prompt_version['prompt_id']}/aliases/history", alias="v-live")
        assert [item["version_id"] for item in history] == [prompt_version["id"]]
        listed = _get(client, "/prompt-versions", prompt_id=prompt_version["prompt_id"], as_of=history[0]["valid_from"])
        assert [item.get("version_alias") for item in listed] == ["v-live"]
