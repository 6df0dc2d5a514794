"""Manifests nested too deeply to store are refused with a 422, for every family."""

from __future__ import annotations

from tests.factories import API, create_repo, model_manifest
from tests.live import LiveServer, LiveUser


def test_deeply_nested_metadata_is_refused_not_crashed(server: LiveServer, user: LiveUser) -> None:
    deep: object = 1
    for _ in range(300):
        deep = {"a": deep}
    with server.client(user) as client:
        repo = create_repo(client)
        response = client.put(
            f"{API}/model-versions", json={"manifest": model_manifest(repo["manifest"]["name"], "m", metadata=deep)}
        )
        assert response.status_code == 422, response.text
        assert response.json()["message"] == "manifest: Value error, nested deeper than 100 levels"
        assert client.get(f"{API}/models", params={"ml_repo_id": repo["id"]}).json()["pagination"]["total"] == 0
