"""Runs over HTTP: the 12 routes under both prefixes, the filter language and its errors, permissions."""

from __future__ import annotations

from typing import Any

import httpx

from tests.factories import apply_model_version, create_repo, unique
from tests.live import LiveServer, LiveUser
from tests.webhook_receiver import receiving

PREFIXES = ("/api/ml/v1", "/api/svc/v1")
API = PREFIXES[1]


def _run(client: httpx.Client, repo_id: str, name: str, prefix: str = API, **fields: Any) -> dict[str, Any]:
    response = client.post(f"{prefix}/runs", json={"experiment_id": repo_id, "name": name, **fields})
    assert response.status_code == 200, response.text
    return response.json()["run"]


def _search(client: httpx.Client, **body: Any) -> httpx.Response:
    return client.post(f"{API}/runs/search", json={"run_view_type": "ACTIVE_ONLY", "max_results": 1000.0, **body})


def test_run_lifecycle_under_both_prefixes(server: LiveServer, user: LiveUser) -> None:
    with server.client(user) as client:
        repo = create_repo(client)
        for prefix in PREFIXES:
            name = unique("run")
            run = _run(client, repo["id"], name, prefix, start_time=1000.0, tags=[{"key": "team", "value": "a"}])
            info = run["info"]
            assert info["run_id"] == info["run_uuid"] and info["experiment_id"] == repo["id"]
            assert info["fqn"] == f"acme/{repo['manifest']['name']}/{name}" and info["status"] == "RUNNING"
            assert info["start_time"] == 1000 and info["created_by_subject"]["subjectId"] == user.id
            assert run["data"] == {"metrics": [], "params": [], "tags": [{"key": "team", "value": "a"}]}
            run_id = info["run_id"]
            base = f"{prefix}/runs/{run_id}"
            for step, value in ((0, 0.5), (2, 0.9), (1, 0.7)):
                logged = client.post(
                    f"{base}/metrics", json={"key": "auc", "value": value, "timestamp": 5, "step": step}
                )
                assert logged.status_code == 200 and logged.json() == {}
            assert client.post(f"{base}/parameters", json={"key": "depth", "value": "6"}).json() == {}
            assert client.post(f"{base}/parameters", json={"key": "depth", "value": "6"}).status_code == 200
            changed = client.post(f"{base}/parameters", json={"key": "depth", "value": "7"})
            assert changed.status_code == 422 and "depth" in changed.json()["message"]
            assert client.put(f"{base}/tags", json={"key": "team", "value": "b"}).status_code == 200
            batch = {
                "metrics": [{"key": "loss", "value": 1.0 / (i + 1), "timestamp": 10 + i, "step": i} for i in range(50)],
                "params": [{"key": "lr", "value": "0.1"}],
                "tags": [{"key": "gone", "value": "x"}],
            }
            assert client.post(f"{base}/batch", json=batch).json() == {}
            assert client.post(f"{base}/tags/delete", json={"key": "gone"}).json() == {}
            assert client.post(f"{base}/tags/delete", json={"key": "gone"}).status_code == 404
            got = client.get(base).json()["run"]
            assert got["data"]["params"] == [{"key": "depth", "value": "6"}, {"key": "lr", "value": "0.1"}]
            assert got["data"]["tags"] == [{"key": "team", "value": "b"}]
            latest = {metric["key"]: metric for metric in got["data"]["metrics"]}
            assert latest["auc"] == {"key": "auc", "value": 0.9, "timestamp": 5, "step": 2}
            assert latest["loss"]["step"] == 49
            history = client.get(f"{base}/metrics/history", params={"metric_key": "auc"}).json()["metrics"]
            assert [(point["step"], point["value"]) for point in history] == [(0, 0.5), (1, 0.7), (2, 0.9)]
            listed = client.post(f"{base}/metrics/list", json={"metric_keys": ["auc", "loss"], "step": 1}).json()
            assert listed == {
                "metric_collections": [
                    {"key": "auc", "metrics": [{"key": "auc", "value": 0.7, "timestamp": 5, "step": 1}]},
                    {"key": "loss", "metrics": [{"key": "loss", "value": 0.5, "timestamp": 11, "step": 1}]},
                ]
            }
            every = client.post(f"{base}/metrics/list", json={}).json()["metric_collections"]
            assert {collection["key"]: len(collection["metrics"]) for collection in every} == {"auc": 3, "loss": 50}
            updated = client.put(base, json={"status": "FINISHED", "end_time": 2000.0, "description": "done"})
            assert updated.status_code == 200, updated.text
            assert updated.json()["run_info"]["status"] == "FINISHED"
            assert updated.json()["run_info"]["end_time"] == 2000
            assert client.delete(base).json() == {}
            assert client.get(base).status_code == 404
            assert client.get(f"{base}/metrics/history", params={"metric_key": "auc"}).status_code == 404
        assert client.post(f"{API}/runs", json={"experiment_id": "999999", "name": "x"}).status_code == 404


def test_run_names_are_unique_per_repo(server: LiveServer, user: LiveUser) -> None:
    with server.client(user) as client:
        first, second = create_repo(client), create_repo(client)
        _run(client, first["id"], "same")
        _run(client, second["id"], "same")
        again = client.post(f"{API}/runs", json={"experiment_id": first["id"], "name": "same"})
        assert again.status_code == 409 and "same" in again.json()["message"]


def test_search_filters_orders_and_pages(server: LiveServer, user: LiveUser) -> None:
    with server.client(user) as client:
        repo = create_repo(client)
        other = create_repo(client)
        for index in range(7):
            run = _run(client, repo["id"], f"r{index}", start_time=1000 + index)
            body = {
                "metrics": [{"key": "rmse", "value": index / 2, "timestamp": 1, "step": 0}],
                "params": [{"key": "model_class", "value": "LogisticRegression" if index % 2 else "Tree"}],
                "tags": [{"key": "k", "value": f"v{index % 3}"}],
            }
            assert client.post(f"{API}/runs/{run['info']['run_id']}/batch", json=body).status_code == 200
        _run(client, other["id"], "elsewhere")
        found = _search(
            client,
            experiment_ids=[repo["id"]],
            filter='metrics.rmse < 2.6 and params.model_class = "LogisticRegression"',
            order_by=["metrics.rmse DESC"],
        ).json()
        assert [run["info"]["name"] for run in found["runs"]] == ["r5", "r3", "r1"] and found["total"] == 3
        tagged = _search(client, experiment_ids=[repo["id"]], filter="tags.k = 'v1'", order_by=["name"]).json()
        assert [run["info"]["name"] for run in tagged["runs"]] == ["r1", "r4"]
        attributes = _search(
            client,
            experiment_ids=[repo["id"]],
            filter="attributes.status = 'RUNNING' and attributes.start_time >= 1005 and name LIKE 'r%'",
            order_by=["attributes.start_time"],
        ).json()
        assert [run["info"]["name"] for run in attributes["runs"]] == ["r5", "r6"]
        listed = _search(client, experiment_ids=[repo["id"]], filter="name IN ('r0', 'r6') and name ILIKE 'R%'").json()
        assert sorted(run["info"]["name"] for run in listed["runs"]) == ["r0", "r6"]
        names: list[str] = []
        token = None
        while True:
            page = _search(client, experiment_ids=[repo["id"]], max_results=3, page_token=token).json()
            assert page["total"] == 7
            names.extend(run["info"]["name"] for run in page["runs"])
            token = page.get("next_page_token")
            if not token:
                break
        assert names == [f"r{index}" for index in reversed(range(7))]
        by_fqn = _search(client, fqn=f"acme/{repo['manifest']['name']}/r2", max_results=1).json()["runs"]
        assert [run["info"]["name"] for run in by_fqn] == ["r2"]
        by_name = _search(client, name="r3", ml_repo_name=repo["manifest"]["name"]).json()["runs"]
        assert [run["info"]["name"] for run in by_name] == ["r3"]
        assert _search(client, run_view_type="DELETED_ONLY", experiment_ids=[repo["id"]]).json()["runs"] == []


def test_malformed_filters_are_422_naming_the_position(server: LiveServer, user: LiveUser) -> None:
    with server.client(user) as client:
        for text, position in (
            ("metrics.rmse <", 14),
            ("metrics.rmse ~ 1", 13),
            ("metrics.rmse < 1 or params.x = 'y'", 17),
            ("foo.bar = 1", 0),
            ("metrics.rmse = 'high'", 15),
            ("params.x > 3", 11),
        ):
            response = _search(client, filter=text)
            assert response.status_code == 422, (text, response.text)
            body = response.json()
            assert body["statusCode"] == 422 and f"position {position}" in body["message"], (text, body)
        bad_order = _search(client, order_by=["metrics.x SIDEWAYS"])
        assert bad_order.status_code == 422 and "order_by[0]" in bad_order.json()["message"]
        assert _search(client, page_token="not-a-token").status_code == 422


def test_viewers_read_runs_and_only_editors_log(server: LiveServer, user: LiveUser) -> None:
    viewer, editor = server.create_user(prefix="viewer"), server.create_user(prefix="editor")
    outsider = server.create_user(prefix="outsider")
    with server.client(user) as owner:
        repo = create_repo(
            owner,
            collaborators=[
                {"subject": f"user:{user.email}", "role_id": "mlf-project-admin"},
                {"subject": f"user:{viewer.email}", "role_id": "mlf-project-viewer"},
                {"subject": f"user:{editor.email}", "role_id": "mlf-project-editor"},
            ],
        )
        run_id = _run(owner, repo["id"], "shared")["info"]["run_id"]
    base = f"{API}/runs/{run_id}"
    metric = {"key": "m", "value": 1, "timestamp": 1, "step": 0}
    with server.client(viewer) as client:
        assert client.get(base).status_code == 200
        assert _search(client, experiment_ids=[repo["id"]]).json()["total"] == 1
        assert client.post(f"{base}/metrics", json=metric).status_code == 403
        assert client.put(base, json={"status": "FINISHED"}).status_code == 403
        assert client.post(f"{API}/runs", json={"experiment_id": repo["id"], "name": "v"}).status_code == 403
    with server.client(editor) as client:
        assert client.post(f"{base}/metrics", json=metric).status_code == 200
        assert client.post(f"{API}/runs", json={"experiment_id": repo["id"], "name": "e"}).status_code == 200
    with server.client(outsider) as client:
        assert client.get(base).status_code == 404
        assert _search(client, experiment_ids=[repo["id"]]).json()["runs"] == []


def test_finishing_a_run_emits_run_finished_once(server: LiveServer, user: LiveUser) -> None:
    with receiving() as receiver, server.client(user) as client:
        repo = create_repo(client)
        path = f"/hooks/{unique('runs')}"
        hook = client.post(
            f"{API}/webhooks",
            json={
                "name": unique("hook"),
                "url": f"{receiver.url}{path}",
                "events": ["run.finished"],
                "ml_repo_id": repo["id"],
            },
        ).json()["data"]
        run_id = _run(client, repo["id"], "finishing")["info"]["run_id"]
        assert client.put(f"{API}/runs/{run_id}", json={"description": "still going"}).status_code == 200
        assert client.put(f"{API}/runs/{run_id}", json={"status": "FINISHED"}).status_code == 200
        assert client.put(f"{API}/runs/{run_id}", json={"status": "FAILED"}).status_code == 200  # terminal already
        arrived = receiver.wait_for_count(path, 1)
        log = client.get(f"{API}/webhooks/{hook['id']}/deliveries").json()["data"]
    assert len(log) == 1 and arrived[0].event_type == "run.finished"
    data = arrived[0].document["data"]
    assert data["id"] == run_id and data["status"] == "FINISHED" and data["previous_status"] == "RUNNING"
    assert data["end_time"] is not None


def test_model_versions_show_their_runs_metrics_at_their_step(server: LiveServer, user: LiveUser) -> None:
    with server.client(user) as client:
        repo = create_repo(client)
        name = repo["manifest"]["name"]
        run_id = _run(client, repo["id"], "trained")["info"]["run_id"]
        points = [{"key": "auc", "value": 0.5 + step / 10, "timestamp": 7, "step": step} for step in range(3)]
        assert client.post(f"{API}/runs/{run_id}/batch", json={"metrics": points}).status_code == 200
        at_one = apply_model_version(client, name, "clf", run_id=run_id, step=1)
        at_two = apply_model_version(client, name, "clf", run_id=run_id, step=2)
        listed = client.get(f"{API}/model-versions", params={"ml_repo_id": repo["id"], "run_ids": run_id}).json()
        metrics = {version["id"]: version["metrics"] for version in listed["data"]}
        assert metrics[at_one["id"]] == [{"key": "auc", "value": 0.6, "timestamp": 7, "step": 1}]
        assert metrics[at_two["id"]] == [{"key": "auc", "value": 0.7, "timestamp": 7, "step": 2}]
        got = client.get(f"{API}/model-versions/{at_two['id']}").json()["data"]
        assert got["metrics"] == metrics[at_two["id"]]
        assert client.delete(f"{API}/runs/{run_id}").status_code == 200
        kept = client.get(f"{API}/model-versions/{at_two['id']}").json()["data"]
        assert kept["manifest"]["run_id"] == run_id, "a deleted run's versions keep their run_id"
