"""Webhooks across `mlregistry serve` processes on one database (SQLite file or Postgres): an event committed
before the server is killed with SIGKILL still arrives after a restart, also when the kill hits mid-delivery,
two processes working the same outbox deliver each event once, and a webhook created or paused through one
process is seen by the other's next write although each process caches the webhooks of a repo."""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.factories import API, model_manifest
from tests.live import ServeProcess
from tests.processes import cli_env
from tests.webhook_receiver import Receiver, receiving, verify_signature

TOKEN = "tfy_webhook_process_token_0123456789"
SECRET = "process-test-webhook-secret"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as running:
        yield running


def serve(
    tmp_path: Path,
    database_url: str,
    name: str,
    *,
    poll: float,
    migrate: bool = True,
    timeout: float = 5,
    **settings: str,
) -> ServeProcess:
    env = cli_env(
        tmp_path,
        database_url,
        MLREGISTRY_BOOTSTRAP_TOKEN=TOKEN,
        MLREGISTRY_WEBHOOK_ALLOWED_HOSTS="127.0.0.1",
        MLREGISTRY_WEBHOOK_POLL_INTERVAL_SECONDS=str(poll),
        MLREGISTRY_WEBHOOK_TIMEOUT_SECONDS=str(timeout),
        MLREGISTRY_WEBHOOK_RETRY_BASE_SECONDS="0.2",
        MLREGISTRY_REAPER_INTERVAL_SECONDS="0",
        MLREGISTRY_ACCESS_LOG="false",
        **settings,
    )
    return ServeProcess(env, tmp_path / f"{name}.log", () if migrate else ("--no-migrate",)).start()


def kill_9(process: ServeProcess) -> None:
    assert process.process is not None
    process.process.kill()  # SIGKILL: no shutdown, nothing flushed
    process.process.wait(timeout=30)


def setup_repo_and_hook(client: httpx.Client, receiver: Receiver, path: str) -> dict[str, Any]:
    repo = {"type": "ml-repo", "name": "hooked", "storage_integration_fqn": "default"}
    assert client.put(f"{API}/ml-repos", json={"manifest": repo}).status_code == 200
    body = {"name": "p", "url": f"{receiver.url}{path}", "events": ["version.created"], "secret": SECRET}
    created = client.post(f"{API}/webhooks", json=body)
    assert created.status_code == 200, created.text
    hook: dict[str, Any] = created.json()["data"]
    return hook


def create_version(client: httpx.Client, name: str, step: int = 0) -> dict[str, Any]:
    response = client.put(f"{API}/model-versions", json={"manifest": model_manifest("hooked", name, step=step)})
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def log_of(client: httpx.Client, hook_id: str) -> list[dict[str, Any]]:
    response = client.get(f"{API}/webhooks/{hook_id}/deliveries", params={"limit": 1000})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["data"]
    return items


def wait_until_delivered(client: httpx.Client, hook_id: str, count: int, timeout: float = 60) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        log = log_of(client, hook_id)
        if len(log) == count and all(entry["status"] == "delivered" for entry in log):
            return log
        if time.monotonic() > deadline:
            raise AssertionError(f"not all {count} deliveries were delivered: {log}")
        time.sleep(0.1)


def test_event_committed_before_kill_9_arrives_after_restart(
    tmp_path: Path, database_url: str, receiver: Receiver
) -> None:
    path = "/after-kill"
    # The first process's worker looks at the outbox once, at start, and then not for an hour.
    first = serve(tmp_path, database_url, "first", poll=3600)
    try:
        with first.client(TOKEN) as client:
            hook = setup_repo_and_hook(client, receiver, path)
            version = create_version(client, "survivor")
            [pending] = log_of(client, hook["id"])
            assert (pending["status"], pending["attempts"]) == ("pending", 0), "committed, not delivered yet"
    finally:
        kill_9(first)
    assert receiver.at(path) == []

    second = serve(tmp_path, database_url, "second", poll=0.1, migrate=False)
    try:
        [arrived] = receiver.wait_for_count(path, 1)
        assert arrived.document["data"]["id"] == version["id"]
        assert verify_signature(SECRET, arrived.headers["x-mlregistry-signature"], arrived.body)
        with second.client(TOKEN) as client:
            [entry] = wait_until_delivered(client, hook["id"], 1)
        assert entry["id"] == pending["id"] and entry["attempts"] == 1
    finally:
        second.stop()
    assert len(receiver.at(path)) == 1


def test_kill_9_in_the_middle_of_a_delivery_sends_it_again(
    tmp_path: Path, database_url: str, receiver: Receiver
) -> None:
    path = "/mid-delivery"
    release = receiver.hold_next(path)  # the first attempt reaches the receiver and waits for an answer
    first = serve(tmp_path, database_url, "first", poll=0.1, timeout=1)
    try:
        with first.client(TOKEN) as client:
            hook = setup_repo_and_hook(client, receiver, path)
            version = create_version(client, "interrupted")
        receiver.wait_for_count(path, 1)
    finally:
        kill_9(first)  # the attempt is never recorded: it is due again when its lease (1 s timeout + 5 s) ends
        release.set()

    second = serve(tmp_path, database_url, "second", poll=0.1, migrate=False)
    try:
        interrupted, retried = receiver.wait_for_count(path, 2)
        assert interrupted.headers["x-mlregistry-delivery"] == retried.headers["x-mlregistry-delivery"]
        assert (interrupted.headers["x-mlregistry-attempt"], retried.headers["x-mlregistry-attempt"]) == ("1", "2")
        assert retried.document["data"]["id"] == version["id"]
        with second.client(TOKEN) as client:
            [entry] = wait_until_delivered(client, hook["id"], 1)
        assert entry["attempts"] == 2
    finally:
        second.stop()


def test_two_processes_deliver_each_event_once(tmp_path: Path, database_url: str, receiver: Receiver) -> None:
    path = "/two-processes"
    events = 24
    first = serve(tmp_path, database_url, "first", poll=0.05)
    second = serve(tmp_path, database_url, "second", poll=0.05, migrate=False)
    try:
        with first.client(TOKEN) as client:
            hook = setup_repo_and_hook(client, receiver, path)

        def apply(index: int) -> str:
            process = first if index % 2 else second
            with process.client(TOKEN) as client:
                return str(create_version(client, f"model-{index % 4}", step=index)["id"])

        with ThreadPoolExecutor(max_workers=8) as pool:
            version_ids = list(pool.map(apply, range(events)))
        with second.client(TOKEN) as client:
            log = wait_until_delivered(client, hook["id"], events)
        received = receiver.at(path)
        per_event = Counter(item.headers["x-mlregistry-event-id"] for item in received)
        assert len(per_event) == events and set(per_event.values()) == {1}, "each event exactly once"
        assert sorted(item.document["data"]["id"] for item in received) == sorted(version_ids)
        assert {entry["id"] for entry in log} == {item.headers["x-mlregistry-delivery"] for item in received}
    finally:
        first.stop()
        second.stop()


def _webhook_cache_hits(url: str) -> float:
    found = re.search(
        r'^mlregistry_webhook_cache_lookups_total\{result="hit"\} (\S+)$', httpx.get(f"{url}/metrics").text, re.M
    )
    return float(found.group(1)) if found else 0.0


def test_a_webhook_created_or_paused_through_one_process_is_seen_by_the_other(
    tmp_path: Path, database_url: str
) -> None:
    """Each process keeps a repo's webhooks for two minutes here: only the commit signal can make the second
    process see the first one's change in time."""
    cached = {"MLREGISTRY_WEBHOOK_CACHE_SECONDS": "120"}
    first = serve(tmp_path, database_url, "first", poll=0, **cached)  # no worker: deliveries stay pending
    second = serve(tmp_path, database_url, "second", poll=0, migrate=False, **cached)
    try:
        with first.client(TOKEN) as admin_first, second.client(TOKEN) as admin_second:
            repo = {"type": "ml-repo", "name": "hooked", "storage_integration_fqn": "default"}
            assert admin_first.put(f"{API}/ml-repos", json={"manifest": repo}).status_code == 200
            before = _webhook_cache_hits(second.url)
            create_version(admin_second, "warm")
            create_version(admin_second, "warm")  # "no webhooks" for this repo, now from the cache
            assert _webhook_cache_hits(second.url) > before, "the cache did not answer: this test proves nothing"

            body = {"name": "later", "url": "http://127.0.0.1:9/hook", "events": ["version.created"]}
            created = admin_first.post(f"{API}/webhooks", json=body)
            assert created.status_code == 200, created.text
            hook_id = created.json()["data"]["id"]
            deadline = time.monotonic() + 2.0  # NOTIFY reaches the other process a moment after the commit
            while not log_of(admin_first, hook_id):
                assert time.monotonic() < deadline, "the second process still wrote as if there were no webhook"
                create_version(admin_second, "after-create")
                time.sleep(0.05)
            [queued] = log_of(admin_first, hook_id)
            assert queued["status"] == "pending" and queued["event_type"] == "version.created"

            paused = admin_first.patch(f"{API}/webhooks/{hook_id}", json={"active": False})
            assert paused.status_code == 200, paused.text
            deadline = time.monotonic() + 2.0
            while True:
                queued_before = len(log_of(admin_first, hook_id))
                create_version(admin_second, "after-pause")
                if len(log_of(admin_first, hook_id)) == queued_before:
                    break
                assert time.monotonic() < deadline, "the second process kept queueing for a paused webhook"
                time.sleep(0.05)
    finally:
        first.stop()
        second.stop()
