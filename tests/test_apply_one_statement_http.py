"""A new version's create on PostgreSQL is one statement (the entity's number, the version, its audit row),
sent without BEGIN and COMMIT when the caller and the ML repo come from the caches. These tests hold it to
what the general path guarantees: contiguous numbers in creation order under concurrent writers, an audit
row per version naming its number, manifests stored exactly as sent (also one holding the text the
statement splits at), and webhook events written with the version."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import event

from tests.conftest import BACKENDS, PostgresDatabases, make_settings
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


def test_the_create_answers_what_a_get_of_the_version_answers(server: LiveServer, admin: LiveUser) -> None:
    """Byte for byte, with and without a webhook wanting the event (the answer is made from what the request
    wrote, without reading the version back)."""
    quiet, hooked = unique("answer-quiet"), unique("answer-hooked")
    with server.client(admin) as client:
        for repo in (quiet, hooked):
            create_repo(client, repo)
        repo_id = client.get(f"{API}/ml-repos", params={"name": hooked}).json()["data"][0]["id"]
        body = {"name": unique("hook"), "url": "http://127.0.0.1:9/hook", "events": ["version.created"]}
        assert client.post(f"{API}/webhooks", json={**body, "ml_repo_id": repo_id}).status_code == 200
        for repo in (quiet, quiet, hooked):
            manifest = {**model_manifest(repo, "answered"), "metadata": {"n": 1, "nested": {"b": [1, 2]}}}
            created = client.put(f"{API}/model-versions", json={"manifest": manifest})
            assert created.status_code == 200, created.text
            fetched = client.get(f"{API}/model-versions/{created.json()['data']['id']}")
            assert created.content == fetched.content


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
            # Until the caches hold the caller, the repo and its webhooks: the user's and the repo's creation
            # clear every cache when their NOTIFY arrives, a moment after their commits.
            deadline = time.monotonic() + 10
            while True:
                counts.update(statements=0, transactions=0)
                _apply(live, user, model_manifest(repo, "warm"))
                if counts == {"statements": 1, "transactions": 0}:
                    break
                assert time.monotonic() < deadline, f"the caches never answered: {counts}"
                time.sleep(0.2)
            counts.update(statements=0, transactions=0)
            created = [_apply(live, user, model_manifest(repo, "warm")) for _ in range(5)]
        finally:
            event.remove(engine, "before_cursor_execute", count_statement)
        numbers = [item["manifest"]["version"] for item in created]
        assert numbers == list(range(numbers[0], numbers[0] + 5))
        assert counts == {"statements": 5, "transactions": 0}
    finally:
        live.stop()


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_apply_into_a_repo_deleted_behind_the_cache_is_a_conflict_not_a_server_error(
    backend: str, tmp_path: Path, postgres_databases: PostgresDatabases | None
) -> None:
    """A repo deleted where no process hears of it (raw SQL) stays in the repo cache until its entry ends: the
    write that names it fails on the repo's foreign key, and the caller gets a 409 to retry, not a 500."""
    settings = make_settings(backend, tmp_path, postgres_databases, repo_cache_seconds=120)
    live = LiveServer(settings, backend).start()
    try:
        user = live.create_user()
        repo = unique("deleted-behind")
        with live.client(user) as client:
            repo_id = int(create_repo(client, repo)["id"])
            _apply(live, user, model_manifest(repo, "clf"))  # the repo is cached from here on
            _delete_repo_behind_the_server(settings.effective_database_url, repo_id)
            answer = client.put(f"{API}/model-versions", json={"manifest": model_manifest(repo, "clf")})
            assert answer.status_code == 409, answer.text
            assert "try again" in answer.json()["message"]
    finally:
        live.stop()


def _delete_repo_behind_the_server(url: str, repo_id: int) -> None:
    if url.startswith("sqlite"):
        connection = sqlite3.connect(url.split("///", 1)[1])
        try:
            connection.execute("PRAGMA foreign_keys=ON")
            connection.execute("DELETE FROM ml_repos WHERE id = ?", (repo_id,))
            connection.commit()
        finally:
            connection.close()
        return

    async def delete() -> None:
        connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            await connection.execute("DELETE FROM ml_repos WHERE id = $1", repo_id)
        finally:
            await connection.close()

    asyncio.run(delete())
