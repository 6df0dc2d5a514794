"""Search ordered by a key some runs lack: the runs with it come in value order, then the runs without,
and pages (offsets and page tokens) cut that order exactly, also across the two. Tag filters compare
whole values, also past the indexed prefix of long values."""

from __future__ import annotations

from typing import Any

import httpx

from tests.factories import create_repo
from tests.live import LiveServer, LiveUser

API = "/api/svc/v1"


def _search(client: httpx.Client, **body: Any) -> dict[str, Any]:
    response = client.post(f"{API}/runs/search", json={"run_view_type": "ACTIVE_ONLY", "max_results": 1000.0, **body})
    assert response.status_code == 200, response.text
    return dict(response.json())


def _names(found: dict[str, Any]) -> list[str]:
    return [run["info"]["name"] for run in found["runs"]]


def test_metric_order_pages_through_runs_with_and_without_the_metric(server: LiveServer, user: LiveUser) -> None:
    with server.client(user) as client:
        repo = create_repo(client)
        values = {0: 0.3, 1: 0.1, 2: 0.3, 4: 0.9, 6: 0.2, 7: 0.3}  # runs 3 and 5 have no rmse; ties on 0.3
        for index in range(8):
            created = client.post(
                f"{API}/runs", json={"experiment_id": repo["id"], "name": f"r{index}", "start_time": 1000 + index}
            )
            run_id = created.json()["run"]["info"]["run_id"]
            metrics = [{"key": "other", "value": index, "timestamp": 1, "step": 0}]
            if index in values:
                metrics.append({"key": "rmse", "value": values[index], "timestamp": 1, "step": 0})
            assert client.post(f"{API}/runs/{run_id}/batch", json={"metrics": metrics}).status_code == 200
        # Ties and runs without the key go newest first (start_time descending).
        descending = ["r4", "r7", "r2", "r0", "r6", "r1", "r5", "r3"]
        ascending = ["r1", "r6", "r7", "r2", "r0", "r4", "r5", "r3"]
        for order, expected in (("metrics.rmse DESC", descending), ("metrics.rmse", ascending)):
            whole = _search(client, experiment_ids=[repo["id"]], order_by=[order])
            assert _names(whole) == expected and whole["total"] == 8
            for size in (1, 2, 3, 5, 6, 7):
                by_offset: list[str] = []
                for offset in range(0, 9, size):
                    page = _search(
                        client, experiment_ids=[repo["id"]], order_by=[order], max_results=size, offset=offset
                    )
                    assert page["total"] == 8
                    by_offset.extend(_names(page))
                assert by_offset == expected, (order, size)
                by_token: list[str] = []
                token = None
                while True:
                    page = _search(
                        client, experiment_ids=[repo["id"]], order_by=[order], max_results=size, page_token=token
                    )
                    by_token.extend(_names(page))
                    token = page.get("next_page_token")
                    if not token:
                        break
                assert by_token == expected, (order, size)
        beyond = _search(client, experiment_ids=[repo["id"]], order_by=["metrics.rmse"], max_results=2, offset=7)
        assert _names(beyond) == ["r3"]
        assert _names(_search(client, experiment_ids=[repo["id"]], order_by=["metrics.rmse"], offset=8)) == []
        # A filter with the order, and a second order within ties of the first.
        filtered = _search(
            client, experiment_ids=[repo["id"]], filter="metrics.other >= 2", order_by=["metrics.rmse DESC"]
        )
        assert _names(filtered) == ["r4", "r7", "r2", "r6", "r5", "r3"] and filtered["total"] == 6
        # A filter on the order's key: only runs that have the key, paged in the same order.
        ranged = {"experiment_ids": [repo["id"]], "filter": "metrics.rmse >= 0.2", "order_by": ["metrics.rmse DESC"]}
        assert _names(_search(client, **ranged)) == ["r4", "r7", "r2", "r0", "r6"]
        pages = [_search(client, **ranged, max_results=2, offset=offset) for offset in (0, 2, 4, 6)]
        assert [_names(page) for page in pages] == [["r4", "r7"], ["r2", "r0"], ["r6"], []]
        assert [page["total"] for page in pages] == [5, 5, 5, 5]
        both = _search(
            client,
            experiment_ids=[repo["id"]],
            filter="metrics.rmse < 0.5 and metrics.rmse > 0.1 and metrics.other < 7",
            order_by=["metrics.rmse"],
        )
        assert _names(both) == ["r6", "r2", "r0"]
        second = _search(client, experiment_ids=[repo["id"]], order_by=["metrics.rmse DESC", "metrics.other ASC"])
        assert _names(second) == ["r4", "r0", "r2", "r7", "r6", "r1", "r3", "r5"]
        missing = _search(client, experiment_ids=[repo["id"]], order_by=["metrics.nothing DESC"], max_results=3)
        assert _names(missing) == ["r7", "r6", "r5"] and missing["total"] == 8
        # Totals follow creates and deletes, with and without a filter.
        gone = _search(client, experiment_ids=[repo["id"]], name="r7")["runs"][0]["info"]["run_id"]
        assert client.delete(f"{API}/runs/{gone}").status_code == 200
        after = _search(client, experiment_ids=[repo["id"]], max_results=2)
        assert after["total"] == 7 and _names(after) == ["r6", "r5"]
        assert _search(client, experiment_ids=[repo["id"]], max_results=2, offset=20)["total"] == 7
        assert _search(client, experiment_ids=[repo["id"]], filter="metrics.other >= 2", max_results=1)["total"] == 5
        assert _search(client, max_results=1)["total"] >= 7


def test_tag_filters_compare_whole_long_values(server: LiveServer, user: LiveUser) -> None:
    with server.client(user) as client:
        repo = create_repo(client)
        shared = "x" * 300
        for name, value in (("a", shared + "a"), ("b", shared + "b"), ("short", "v"), ("shortish", "vw")):
            created = client.post(f"{API}/runs", json={"experiment_id": repo["id"], "name": name})
            run_id = created.json()["run"]["info"]["run_id"]
            assert client.put(f"{API}/runs/{run_id}/tags", json={"key": "note", "value": value}).status_code == 200
        ids = [repo["id"]]
        assert _names(_search(client, experiment_ids=ids, filter=f"tags.note = '{shared}b'")) == ["b"]
        assert _names(_search(client, experiment_ids=ids, filter=f"tags.note = '{shared}'")) == []
        found = _search(client, experiment_ids=ids, filter=f"tags.note IN ('{shared}a', 'v')", order_by=["name"])
        assert _names(found) == ["a", "short"]
        assert _names(_search(client, experiment_ids=ids, filter=f"tags.note != '{shared}a'", order_by=["name"])) == [
            "b",
            "short",
            "shortish",
        ]
        assert _names(_search(client, experiment_ids=ids, filter="tags.note LIKE 'xx%b'")) == ["b"]
        assert _names(_search(client, experiment_ids=ids, filter="tags.note = 'v'")) == ["short"]
        assert _names(_search(client, experiment_ids=ids, filter="tags.note IN ('vw', 'x')")) == ["shortish"]
        exact = "y" * 199
        assert _names(_search(client, experiment_ids=ids, filter=f"tags.note = '{exact}'")) == []
