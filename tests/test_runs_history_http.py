"""A long metric history is streamed in keyset pages: every point comes back once, in (step, timestamp)
order, across page boundaries, ties included; the list form keeps the keys and the step filter."""

from __future__ import annotations

from mlregistry.services.runs import HISTORY_PAGE_POINTS
from tests.factories import create_repo
from tests.live import LiveServer, LiveUser
from tests.test_core_sdk import sdk

API = "/api/svc/v1"
POINTS = 20_000
BATCH = 1000


def _point(index: int) -> dict[str, float | int | str]:
    # Steps out of order and shared by several points; every other point shares its timestamp too, so that
    # (step, timestamp) ties (kept in logging order) fall on page boundaries.
    return {"key": "loss", "value": float(index), "timestamp": 100 + index % 2, "step": (index * 7919) % 7000}


def test_a_20k_point_history_streams_every_point_in_order(server: LiveServer, user: LiveUser) -> None:
    with server.client(user) as client:
        repo = create_repo(client)
        created = client.post(f"{API}/runs", json={"experiment_id": repo["id"], "name": "long"})
        run_id = created.json()["run"]["info"]["run_id"]
        for first in range(0, POINTS, BATCH):
            metrics = [_point(index) for index in range(first, first + BATCH)]
            logged = client.post(f"{API}/runs/{run_id}/batch", json={"metrics": metrics})
            assert logged.status_code == 200, logged.text
        other = {"key": "acc", "value": 0.5, "timestamp": 1, "step": 3}
        assert client.post(f"{API}/runs/{run_id}/metrics", json=other).status_code == 200
        expected = sorted(
            (_point(index) for index in range(POINTS)),
            key=lambda point: (point["step"], point["timestamp"], point["value"]),
        )
        for boundary in range(HISTORY_PAGE_POINTS, POINTS, HISTORY_PAGE_POINTS):
            before, after = expected[boundary - 1], expected[boundary]
            assert (before["step"], before["timestamp"]) == (after["step"], after["timestamp"]), "a tie spans pages"

        response = client.get(f"{API}/runs/{run_id}/metrics/history", params={"metric_key": "loss"})
        assert response.status_code == 200 and response.headers["content-type"] == "application/json"
        assert "content-length" not in response.headers, "the history is streamed, not built as one body"
        assert response.json()["metrics"] == expected

        listed = client.post(f"{API}/runs/{run_id}/metrics/list", json={}).json()["metric_collections"]
        assert [collection["key"] for collection in listed] == ["acc", "loss"]
        assert listed[0]["metrics"] == [{"key": "acc", "value": 0.5, "timestamp": 1, "step": 3}]
        assert listed[1]["metrics"] == expected

        at_step = client.post(
            f"{API}/runs/{run_id}/metrics/list", json={"metric_keys": ["loss", "missing", "loss"], "step": 3}
        ).json()["metric_collections"]
        assert at_step == [
            {"key": "loss", "metrics": [point for point in expected if point["step"] == 3]},
            {"key": "missing", "metrics": []},
        ]
        assert len(at_step[0]["metrics"]) >= 3

        unknown = client.get(f"{API}/runs/{'0' * 32}/metrics/history", params={"metric_key": "loss"})
        assert unknown.status_code == 404 and "not found" in unknown.json()["message"]
        empty = client.get(f"{API}/runs/{run_id}/metrics/history", params={"metric_key": "nothing"})
        assert empty.json() == {"metrics": []}

        # The SDK parses the streamed body like any other.
        history = sdk(server, user).runs.get_metric_history(run_id, metric_key="loss").metrics
        assert [(point.step, point.value) for point in history] == [
            (point["step"], point["value"]) for point in expected
        ]


def test_history_reads_need_read_access(server: LiveServer, user: LiveUser) -> None:
    outsider = server.create_user(prefix="outsider")
    with server.client(user) as client:
        repo = create_repo(client)
        run_id = client.post(f"{API}/runs", json={"experiment_id": repo["id"], "name": "private"}).json()["run"][
            "info"
        ]["run_id"]
    with server.client(outsider) as stranger:
        refused = stranger.get(f"{API}/runs/{run_id}/metrics/history", params={"metric_key": "loss"})
        assert refused.status_code == 404 and isinstance(refused.json(), dict)
        refused = stranger.post(f"{API}/runs/{run_id}/metrics/list", json={})
        assert refused.status_code == 404
