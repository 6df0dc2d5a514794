"""The per-process cache of resolved callers: a revocation, a deactivation or a team change made through any
process (a server or the CLI) is refused or seen by every server process at once, on PostgreSQL and on
SQLite, and a PostgreSQL process that loses its listener stops using what it cached.

The servers keep a cached caller for two minutes here, so any of these checks fails when the cache is not
invalidated (the `hit` counter shows the cache answered before each change)."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest

from mlregistry.auth.cache import CallerCache
from mlregistry.auth.subject import Caller
from mlregistry.cli import upgrade_to_head
from mlregistry.orm import Team
from mlregistry.repositories.database import create_database
from mlregistry.settings import Settings
from tests.processes import cli_env, run_cli, serving

API = "/api/svc/v1"
BOOTSTRAP = "tfy_token_cache_bootstrap_0123456789abcdef"
# NOTIFY reaches the other processes' listeners asynchronously, a moment after the commit.
SIGNAL_SECONDS = 2.0


def _env(tmp_path: Path, database_url: str) -> dict[str, str]:
    env = cli_env(tmp_path, database_url, MLREGISTRY_BOOTSTRAP_TOKEN=BOOTSTRAP, MLREGISTRY_TOKEN_CACHE_SECONDS="120")
    assert run_cli(["db", "upgrade"], env).returncode == 0
    return env


def _token(env: dict[str, str], user: str, name: str) -> str:
    issued = run_cli(["admin", "create-token", "--user", user, "--name", name], env)
    assert issued.returncode == 0, issued.stderr
    return issued.stdout.strip().splitlines()[-1]


def _status(url: str, token: str) -> int:
    return httpx.get(f"{url}{API}/ml-repos", headers={"Authorization": f"Bearer {token}"}, timeout=30).status_code


def _hits(url: str) -> float:
    found = re.search(
        r'^mlregistry_token_cache_lookups_total\{result="hit"\} (\S+)$', httpx.get(f"{url}/metrics").text, re.M
    )
    return float(found.group(1)) if found else 0.0


def _warm(token: str, *urls: str) -> None:
    """Each process answers the token twice; the second answer came from its cache."""
    for url in urls:
        before = _hits(url)
        assert _status(url, token) == 200 and _status(url, token) == 200
        assert _hits(url) > before, "the cache did not answer: this test would prove nothing"


def _refused_soon(url: str, token: str, postgres: bool) -> None:
    deadline = time.monotonic() + (SIGNAL_SECONDS if postgres else 0)
    while True:
        status = _status(url, token)
        if status == 401 or time.monotonic() >= deadline:
            assert status == 401
            return
        time.sleep(0.05)


def test_a_revocation_or_deactivation_is_refused_by_every_process_at_once(tmp_path: Path, database_url: str) -> None:
    env = _env(tmp_path, database_url)
    postgres = database_url.startswith("postgresql")
    assert run_cli(["admin", "create-user", "bob", "--email", "bob@example.com"], env).returncode == 0
    with serving(env) as first, serving(env) as second:
        revoked, kept = _token(env, "bob", "revoked"), _token(env, "bob", "kept")
        _warm(revoked, first, second)
        _warm(kept, first, second)
        headers = {"Authorization": f"Bearer {revoked}"}
        listed = httpx.get(f"{first}{API}/personal-access-tokens?nameSearchQuery=revoked", headers=headers)
        token_id = listed.json()["data"][0]["id"]
        assert httpx.delete(f"{first}{API}/personal-access-tokens/{token_id}", headers=headers).status_code == 200
        assert _status(first, revoked) == 401  # the revoking process cleared its own cache before answering
        _refused_soon(second, revoked, postgres)
        assert _status(second, kept) == 200  # other tokens are resolved again, not refused

        _warm(kept, first, second)
        assert run_cli(["admin", "deactivate-user", "bob"], env).returncode == 0  # a third process: the CLI
        for url in (first, second):
            _refused_soon(url, kept, postgres)
        assert run_cli(["admin", "activate-user", "bob"], env).returncode == 0
        deadline = time.monotonic() + SIGNAL_SECONDS
        while _status(second, kept) != 200:  # a refusal is never cached
            assert time.monotonic() < deadline
            time.sleep(0.05)


def test_a_team_change_reaches_every_process(tmp_path: Path, database_url: str) -> None:
    """A caller's teams are part of what is cached: a member added to a team sees the team's repo at once."""
    env = _env(tmp_path, database_url)
    postgres = database_url.startswith("postgresql")
    admin = {"Authorization": f"Bearer {BOOTSTRAP}"}
    with serving(env) as first, serving(env) as second:  # the first start creates `admin` with BOOTSTRAP
        for name in ("alice", "carol"):
            assert run_cli(["admin", "create-user", name, "--email", f"{name}@example.com"], env).returncode == 0
        carol = _token(env, "carol", "t")
        team = {"manifest": {"type": "team", "name": "vision", "members": ["alice@example.com"]}, "dryRun": False}
        created = httpx.put(f"{first}{API}/teams", json=team, headers=admin)
        assert created.status_code == 200, created.text
        repo = {
            "manifest": {
                "type": "ml-repo",
                "name": "vision-repo",
                "storage_integration_fqn": "default",
                "collaborators": [{"subject": "team:vision", "role_id": "mlf-project-viewer"}],
            }
        }
        assert httpx.put(f"{first}{API}/ml-repos", json=repo, headers=admin).status_code == 200

        def names(url: str) -> list[str]:
            answer = httpx.get(f"{url}{API}/ml-repos", headers={"Authorization": f"Bearer {carol}"})
            return [item["manifest"]["name"] for item in answer.json()["data"]]

        _warm(carol, first, second)
        assert names(second) == []
        team["manifest"]["members"] = ["alice@example.com", "carol@example.com"]
        assert httpx.put(f"{first}{API}/teams", json=team, headers=admin).status_code == 200
        deadline = time.monotonic() + (SIGNAL_SECONDS if postgres else 0)
        while names(second) != ["vision-repo"]:
            assert time.monotonic() < deadline, "the second process kept carol's teams from before the change"
            time.sleep(0.05)


def test_a_process_that_loses_its_listener_drops_what_it_cached(tmp_path: Path, database_url: str) -> None:
    """PostgreSQL: a change made behind the servers' backs (no NOTIFY) is not seen while the cache answers;
    once the listener's connection is cut, the process stops using its cache and clears it on reconnecting."""
    if not database_url.startswith("postgresql"):
        pytest.skip("the listener is PostgreSQL's")
    env = _env(tmp_path, database_url)
    dsn = database_url.replace("postgresql+asyncpg://", "postgresql://")
    with serving(env) as url:
        _warm(BOOTSTRAP, url)
        unseen = "UPDATE tokens SET revoked_at = now()"  # raw SQL of another client: no signal at all
        asyncio.run(_execute(dsn, unseen))
        assert _status(url, BOOTSTRAP) == 200  # answered from the cache, as documented
        before = asyncio.run(_listeners(dsn))
        assert len(before) == 1
        asyncio.run(_execute(dsn, f"SELECT pg_terminate_backend({before[0]})"))
        deadline = time.monotonic() + 20
        while True:
            after = asyncio.run(_listeners(dsn))
            if after and after != before:
                break
            assert time.monotonic() < deadline, "the listener did not reconnect"
            time.sleep(0.1)
        assert _status(url, BOOTSTRAP) == 401


async def _execute(dsn: str, statement: str) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def _listeners(dsn: str) -> list[int]:
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN %'"
        )
        return [row["pid"] for row in rows]
    finally:
        await connection.close()


CALLER = Caller(subject_id="u1", subject_type="user", slug="u1")


def test_an_entry_read_before_a_clear_is_not_stored() -> None:
    cache = CallerCache(60)
    generation = cache.generation
    cache.clear()  # a change committed while the token was being resolved
    cache.store("k", CALLER, None, generation)
    assert cache.lookup("k") is None
    cache.store("k", CALLER, None, cache.generation)
    assert cache.lookup("k") == CALLER


def test_an_entry_lives_no_longer_than_its_token() -> None:
    cache = CallerCache(60)
    cache.store("k", CALLER, datetime.now(UTC) - timedelta(seconds=1), cache.generation)
    assert cache.lookup("k") is None
    cache.store("k", CALLER, datetime.now(UTC) + timedelta(hours=1), cache.generation)
    assert cache.lookup("k") == CALLER


def test_a_cache_not_listening_answers_nothing() -> None:
    cache = CallerCache(60, listening=False)
    cache.store("k", CALLER, None, cache.generation)
    assert cache.lookup("k") is None


def test_a_replaced_stamp_clears_the_cache(tmp_path: Path) -> None:
    stamp = tmp_path / "db-identity-stamp"
    cache = CallerCache(60, stamp=stamp)
    cache.store("k", CALLER, None, cache.generation)
    assert cache.lookup("k") == CALLER
    replaced = tmp_path / "new"
    replaced.write_text("x")
    replaced.replace(stamp)
    assert cache.lookup("k") is None


@pytest.mark.parametrize("flushed", [False, True])
def test_a_commit_that_writes_an_identity_row_clears_the_caches(tmp_path: Path, flushed: bool) -> None:
    """Whether the row was flushed before the commit or is written by the commit's own flush; a commit that
    writes no identity row, or a rollback, leaves the cache alone."""
    settings = Settings(data_dir=tmp_path, secret_key="token-cache-test-secret-key-0123456789")
    upgrade_to_head(settings)
    database = create_database(settings)
    cache = CallerCache(60, stamp=database.identity_stamp)

    async def commit(team: bool, rollback: bool = False) -> None:
        async with database.session(write=True) as session:
            if team:
                session.add(
                    Team(id=uuid.uuid4().hex, name=uuid.uuid4().hex, account_id="a", manifest={}, created_by_subject={})
                )
            if flushed:
                await session.flush()
            await (session.rollback() if rollback else session.commit())

    async def scenario() -> None:
        try:
            for team, rollback, cleared in ((False, False, False), (True, True, False), (True, False, True)):
                cache.store("k", CALLER, None, cache.generation)
                await commit(team, rollback)
                assert (cache.lookup("k") is None) == cleared, (team, rollback)
        finally:
            await database.dispose()

    asyncio.run(scenario())
