"""Encoded version list items kept by the stored content they were made from (mlregistry/encoded.py): a kept
item is never stale, whatever changes its version, and the cache stays inside its byte budget."""

from __future__ import annotations

import gc
import json
import re
import tracemalloc
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson

from mlregistry.encoded import EVICTED_SHARE, EncodedItems, encode_item
from tests.factories import API, apply_model_version, create_repo
from tests.live import LiveServer, LiveUser

RUNS_API = "/api/svc/v1"


def _make(content: tuple[Any, ...]) -> dict[str, Any]:
    return {"id": content[0], "text": content[1]}


def _page(cache: EncodedItems, contents: list[tuple[Any, ...]], **kwargs: Any) -> bytes:
    return orjson.dumps(cache.encode_page("model-version", "t", contents, _make, **kwargs))


def test_an_item_is_kept_the_second_time_its_content_is_made() -> None:
    cache = EncodedItems(1 << 20)
    made: list[tuple[Any, ...]] = []

    def make(content: tuple[Any, ...]) -> dict[str, Any]:
        made.append(content)
        return _make(content)

    contents = [("a", "x"), ("b", "y")]
    for _ in range(3):
        encoded = cache.encode_page("model-version", "t", contents, make)
        assert orjson.dumps(encoded) == b'[{"id":"a","text":"x"},{"id":"b","text":"y"}]'
    assert made == contents * 2, "made twice, then kept"
    assert len(cache) == 2
    # The same content in another kind or tenant is another item.
    cache.encode_page("artifact-version", "t", contents[:1], make)
    cache.encode_page("model-version", "other", contents[:1], make)
    assert made[-2:] == contents[:1] * 2


def test_a_changed_content_is_a_new_item() -> None:
    cache = EncodedItems(1 << 20)
    for _ in range(3):
        _page(cache, [("a", "before")])
    assert _page(cache, [("a", "after")]) == b'[{"id":"a","text":"after"}]'


def test_the_byte_budget_holds_and_the_oldest_items_leave_first() -> None:
    budget = 16 * 1024
    cache = EncodedItems(budget)
    contents = [(f"id-{index}", "x" * 500) for index in range(200)]
    for content in contents:
        _page(cache, [content])
        _page(cache, [content])
        assert cache.used <= budget
    assert 0 < len(cache) < len(contents)
    kept = list(cache._items)
    assert [key[2] for key in kept] == contents[-len(kept) :], "the newest are kept"
    assert cache.used == sum(size for _, size in cache._items.values())


def test_a_full_cache_frees_a_share_of_its_budget_at_once_oldest_first() -> None:
    """Each admission into a full cache does not walk the entries: one walk frees room for many admissions."""
    budget = 256 * 1024
    cache = EncodedItems(budget)
    contents = [(f"id-{index}", "x" * 300) for index in range(2000)]
    evictions = 0
    for content in contents:
        before = len(cache)
        _page(cache, [content])
        _page(cache, [content])
        assert cache.used <= budget
        if len(cache) <= before:
            evictions += 1
            assert budget - cache.used >= budget // EVICTED_SHARE - 2048, "a share of the budget is freed at once"
    kept = list(cache._items)
    assert len(kept) < len(contents) and evictions < len(contents) - len(kept)
    assert [key[2] for key in kept] == contents[-len(kept) :], "the newest are kept"
    assert cache.used == sum(size for _, size in cache._items.values())


def test_the_budget_counts_what_entries_really_hold() -> None:
    """Kept entries hold their content's objects (the row's values) besides their bytes: the budget counts both."""
    cache = EncodedItems(1 << 30)
    subject = '{"subject_id": "0f0c6c1c", "subject_type": "user", "subject_slug": "regbench"}'
    # A full collection empties the interpreter's free lists: tuples freed by earlier tests would otherwise be
    # reused here without an allocation tracemalloc sees.
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for index in range(2000):
            created = datetime.now(UTC)
            content = (
                str(uuid.uuid4()),
                str(uuid.uuid4()),
                1,
                "model",
                index,
                "FINALIZED",
                f'{{"name": "m", "metadata": {{}}, "version": {index}}}' + " " * 150,
                None,
                None,
                0,
                None,
                "[]",
                "[]",
                subject + str(index),
                created,
                created,
                f"model-{index}",
                "repo",
            )
            key = ("model-version", "t", content)
            encoded = orjson.dumps({"id": content[0], "manifest": content[6], "n": "x" * 300})
            cache.offer(key, encoded)
            cache.offer(key, encoded)
            del encoded  # the cache keeps its own copy
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(cache) == 2000
    assert 0.85 * held <= cache.used <= 1.3 * held, (cache.used, held)


def test_a_walk_longer_than_the_budget_keeps_nothing() -> None:
    """Every model's first page in turn: more items than the budget, each seen once per round."""
    cache = EncodedItems(64 * 1024)  # remembers 64 contents seen once
    contents = [(f"id-{index}", "x" * 100) for index in range(1000)]
    for _ in range(3):
        for start in range(0, len(contents), 100):
            _page(cache, contents[start : start + 100])
    assert len(cache) == 0


def test_an_item_larger_than_the_budget_is_not_kept_and_a_zero_budget_keeps_nothing() -> None:
    small = EncodedItems(1024)
    for _ in range(3):
        assert _page(small, [("a", "x" * 2000)]) == orjson.dumps([_make(("a", "x" * 2000))])
    assert len(small) == 0 and small.used == 0
    off = EncodedItems(0)
    for _ in range(3):
        _page(off, [("a", "x")])
    assert len(off) == 0


def test_items_the_content_does_not_make_alone_are_made_every_time() -> None:
    cache = EncodedItems(1 << 20)
    made: list[str] = []

    def make(content: tuple[Any, ...]) -> dict[str, Any]:
        made.append(content[0])
        return _make(content)

    for _ in range(4):
        cache.encode_page("model-version", "t", [("a", "x"), ("b", "y")], make, keep=lambda content: content[0] == "a")
    assert made.count("a") == 2 and made.count("b") == 4


def test_encode_item_writes_what_the_standard_library_writes() -> None:
    for item in [{"z": 1, "a": "h\u00e9 \u2603"}, {"big": 2**70, "nested": [-(2**65), 0.1, None]}]:
        assert encode_item(item) == json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode()


# --- through the API --------------------------------------------------------------------------------


def _lookups(client: httpx.Client, result: str) -> float:
    text = client.get("/metrics").text
    found = re.search(rf'^mlregistry_list_item_cache_lookups_total\{{result="{result}"\}} (\S+)$', text, re.M)
    assert found, "the metric is exported"
    return float(found.group(1))


def _listed(client: httpx.Client, model_id: str) -> bytes:
    """The `data` array of a model's version list, as the server wrote it."""
    body = client.get(f"{API}/model-versions", params={"model_id": model_id}).content
    assert body.startswith(b'{"data":['), body
    return body[len(b'{"data":') : body.index(b',"pagination":')]


def _got_bytes(client: httpx.Client, version_id: str) -> bytes:
    body = client.get(f"{API}/model-versions/{version_id}").content
    assert body.startswith(b'{"data":') and body.endswith(b"}")
    return body[len(b'{"data":') : -1]


def test_a_listed_item_follows_every_change_of_its_version(server: LiveServer, user: LiveUser) -> None:
    with server.client(user) as client:
        repo = create_repo(client)
        name = repo["manifest"]["name"]
        first = apply_model_version(client, name, "clf", metadata={"n": 1})
        second = apply_model_version(client, name, "clf", metadata={"n": 2})
        model_id = first["model_id"]

        def listed_as_got() -> None:
            expected = b"[" + _got_bytes(client, second["id"]) + b"," + _got_bytes(client, first["id"]) + b"]"
            assert _listed(client, model_id) == expected

        listed_as_got()
        listed_as_got()  # made twice: kept from now on
        hits = _lookups(client, "hit")
        listed_as_got()
        assert _lookups(client, "hit") - hits == 2, "the third listing is answered from kept items"

        changes = [
            {"model_version_id": first["id"], "tags": ["prod"], "force": False},
            {"model_version_id": second["id"], "tags": ["prod", "latest"], "force": True},  # moves it off `first`
            {"model_version_id": second["id"], "tags": [], "force": False},
        ]
        for change in changes:
            assert client.put(f"{API}/model-versions/tags", json=change).status_code == 200
            for _ in range(3):
                listed_as_got()
        aliased = {**second["manifest"], "version_alias": "v-best"}
        assert client.put(f"{API}/model-versions", json={"manifest": aliased}).status_code == 200
        for _ in range(3):
            listed_as_got()
        assert b'"version_alias":"v-best"' in _listed(client, model_id)


def test_items_that_show_their_runs_metrics_follow_the_run(server: LiveServer, user: LiveUser) -> None:
    with server.client(user) as client:
        repo = create_repo(client)
        response = client.post(f"{RUNS_API}/runs", json={"experiment_id": repo["id"], "name": "trained"})
        run_id = response.json()["run"]["info"]["run_id"]
        version = apply_model_version(client, repo["manifest"]["name"], "clf", run_id=run_id, step=1)

        def log(value: float) -> None:
            point = {"key": "auc", "value": value, "timestamp": 7, "step": 1}
            assert client.post(f"{RUNS_API}/runs/{run_id}/batch", json={"metrics": [point]}).status_code == 200

        log(0.5)
        for _ in range(3):
            assert _listed(client, version["model_id"]) == b"[" + _got_bytes(client, version["id"]) + b"]"
        log(0.9)
        listed = client.get(f"{API}/model-versions", params={"model_id": version["model_id"]}).json()["data"]
        assert [metric["value"] for metric in listed[0]["metrics"]] == [0.9]
        assert _listed(client, version["model_id"]) == b"[" + _got_bytes(client, version["id"]) + b"]"
