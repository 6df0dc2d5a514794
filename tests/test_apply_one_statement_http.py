"""A new version's create on PostgreSQL is one statement (the entity's number, the version, its audit row),
sent without BEGIN and COMMIT when the caller and the ML repo come from the caches. These tests hold it to
what the general path guarantees: contiguous numbers in creation order under concurrent writers, an audit
row per version naming its number, manifests stored exactly as sent (also one holding the text the
statement splits at), and webhook events written with the version."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from tests.conftest import PostgresDatabases, make_settings
from tests.factories import API, create_repo, model_manifest, unique
from tests.identity_factories import audit_events
from tests.live import LiveServer, LiveUser

MARK_TEXT = "\x00mlregistry-version-number\x00"


def _apply(server: LiveServer, user: LiveUser, manifest: dict[str, Any]) -> dict[str, Any]:
    with server.client(user) as client:
        response = client.put(f"{API}/model-versions", json={"manifest": manifest})
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def test_concurrent_creates_take_contiguous_numbers_in_creation_order_each_with_its_audit_row(
    server: LiveServer, admin: LiveUser
) -> None:
    user = admin  # the audit trail is read by tenant admins
    repo = unique("one-statement")
    with server.client(user) as client:
        create_repo(client, repo)
    count = 24
    with ThreadPoolExecutor(max_workers=8) as pool:
        created = list(
            pool.map(lambda i: _apply(server, user, model_manifest(repo, "contended", step=i)), range(count))
        )
    assert sorted(item["manifest"]["version"] for item in created) == list(range(1, count + 1))
    with server.client(user) as client:
        page = client.get(f"{API}/model-versions", params={"model_id": created[0]["model_id"], "limit": 100})
        assert page.status_code == 200, page.text
        listed = page.json()["data"]
        events = audit_events(client, resource_type="model-version")
    assert [item["manifest"]["version"] for item in listed] == list(range(count, 0, -1))
    by_number = sorted(created, key=lambda item: item["manifest"]["version"])
    assert [item["created_at"] for item in by_number] == sorted(item["created_at"] for item in created), (
        "creation order follows numbering"
    )
    for item in listed:
        answered = next(c for c in created if c["id"] == item["id"])
        assert item == answered, "the list shows what the create answered"
    audited = {e["resource_id"]: e for e in events if e["action"] == "create"}
    for item in created:
        assert audited[item["id"]]["details"] == {
            "ml_repo": repo,
            "name": "contended",
            "version": item["manifest"]["version"],
        }


def test_a_manifest_with_text_like_the_number_mark_is_stored_as_sent(server: LiveServer, admin: LiveUser) -> None:
    user = admin  # the audit trail is read by tenant admins
    repo = unique("mark-text")
    with server.client(user) as client:
        create_repo(client, repo)
    # NUL characters are refused in manifests, so the mark itself never reaches the statement; text that
    # looks like it, or like the number's place, must not confuse where the number goes.
    lookalike = json.dumps(MARK_TEXT)
    manifest = model_manifest(
        repo,
        "marked",
        metadata={"note": lookalike, "version": 7, "list": [1, {"version": lookalike}], "mlregistry-version-number": 0},
    )
    first = _apply(server, user, manifest)
    # An explicit `version: null` (a new version): the answer and a read show the same manifest, key order too.
    second = _apply(server, user, {"version": None, **manifest, "description": "again"})
    assert (first["manifest"]["version"], second["manifest"]["version"]) == (1, 2)
    assert first["manifest"] == {**manifest, "version": 1}
    with server.client(user) as client:
        read = client.get(f"{API}/model-versions/{second['id']}")
        events = audit_events(client, resource_id=second["id"])
    assert read.json()["data"] == second
    assert list(read.json()["data"]["manifest"]) == list(second["manifest"])
    assert [e["details"] for e in events if e["action"] == "create"] == [
        {"ml_repo": repo, "name": "marked", "version": 2}
    ]


def test_a_webhook_event_is_written_with_the_version(server: LiveServer, admin: LiveUser) -> None:
    repo = unique("hooked-one-statement")
    with server.client(admin) as client:
        create_repo(client, repo)
        body = {"name": unique("hook"), "url": "http://127.0.0.1:9/hook", "events": ["version.created"]}
        repos = client.get(f"{API}/ml-repos", params={"name": repo}).json()["data"]
        hook = client.post(f"{API}/webhooks", json={**body, "ml_repo_id": repos[0]["id"]})
        assert hook.status_code == 200, hook.text
    version = _apply(server, admin, model_manifest(repo, "notified"))
    with server.client(admin) as client:
        deliveries = client.get(f"{API}/webhooks/{hook.json()['data']['id']}/deliveries").json()["data"]
    assert [d["event_type"] for d in deliveries] == ["version.created"]
    assert deliveries[0]["payload"]["data"]["id"] == version["id"]


def test_with_warm_caches_a_create_on_postgres_is_one_statement_without_a_transaction(
    tmp_path: Path, postgres_databases: PostgresDatabases | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncpg.transaction

    # No background work (webhook worker, reaper) that would send statements of its own meanwhile.
    settings = make_settings(
        "postgres", tmp_path, postgres_databases, webhook_poll_interval_seconds=0, reaper_interval_seconds=0
    )
    live = LiveServer(settings, "postgres").start()
    try:
        deadline = time.monotonic() + 10
        while not (live.database.repo_cache and live.database.repo_cache.listening):
            assert time.monotonic() < deadline, "the change listener did not connect"
            time.sleep(0.05)
        user = live.create_user()
        repo = unique("round-trips")
        with live.client(user) as client:
            create_repo(client, repo)
        _apply(live, user, model_manifest(repo, "warm"))  # the caller and the repo are cached from here on
        counts = {"statements": 0, "transactions": 0}
        start = asyncpg.transaction.Transaction.start

        async def counted_start(transaction: Any) -> None:
            counts["transactions"] += 1
            await start(transaction)

        def count_statement(*_: Any) -> None:
            counts["statements"] += 1

        engine = live.database.engine.sync_engine
        monkeypatch.setattr(asyncpg.transaction.Transaction, "start", counted_start)
        event.listen(engine, "before_cursor_execute", count_statement)
        try:
            created = [_apply(live, user, model_manifest(repo, "warm")) for _ in range(5)]
        finally:
            event.remove(engine, "before_cursor_execute", count_statement)
        assert [item["manifest"]["version"] for item in created] == [2, 3, 4, 5, 6]
        assert counts == {"statements": 5, "transactions": 0}
    finally:
        live.stop()
