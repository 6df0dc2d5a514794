"""A Postgres connection lost mid-request, or no free pooled connection: 503 with Retry-After, counted.

Each test runs its own server on its own database, and terminates only that database's backends.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import POSTGRES_URL, PostgresDatabases, make_settings
from tests.factories import API, apply_model_version, create_repo, unique
from tests.live import LiveServer

pytestmark = pytest.mark.skipif(not POSTGRES_URL, reason="MLREGISTRY_TEST_POSTGRES_URL is not set")


def _dsn(database_url: str) -> str:
    return database_url.replace("postgresql+asyncpg://", "postgresql://")


def _unavailable_count(client: httpx.Client, reason: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(f'mlregistry_database_unavailable_responses_total{{reason="{reason}"}}'):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError("the metric is not exported")


@pytest.fixture
def postgres_server(
    tmp_path: Path, postgres_databases: PostgresDatabases | None, request: pytest.FixtureRequest
) -> Iterator[LiveServer]:
    overrides: dict[str, Any] = getattr(request, "param", {})
    settings = make_settings("postgres", tmp_path, postgres_databases, **overrides)
    server = LiveServer(settings, "postgres").start()
    try:
        yield server
    finally:
        server.stop()


class Blocker:
    """A connection of the test's own that holds a table lock, so that a request waits on it mid-query."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.database = dsn.rsplit("/", 1)[1]
        self.loop = asyncio.new_event_loop()
        self.connection: asyncpg.Connection = self.loop.run_until_complete(asyncpg.connect(dsn))

    def lock(self, table: str) -> None:
        self.loop.run_until_complete(self.connection.execute(f"BEGIN; LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"))

    def release(self) -> None:
        self.loop.run_until_complete(self.connection.execute("ROLLBACK"))

    def waiting_backends(self, timeout: float = 10) -> list[int]:
        async def wait() -> list[int]:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                rows = await self.connection.fetch(
                    "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'"
                    " AND pid <> pg_backend_pid()",
                    self.database,
                )
                if rows:
                    return [row["pid"] for row in rows]
                await asyncio.sleep(0.02)
            return []

        return self.loop.run_until_complete(wait())

    def terminate_server_backends(self) -> int:
        """pg_terminate_backend on every other backend of this test's database (never another database)."""
        rows = self.loop.run_until_complete(
            self.connection.fetch(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                self.database,
            )
        )
        return len(rows)

    def close(self) -> None:
        self.loop.run_until_complete(self.connection.close())
        self.loop.close()


def _in_thread(work: Any) -> tuple[threading.Thread, dict[str, httpx.Response]]:
    result: dict[str, httpx.Response] = {}
    thread = threading.Thread(target=lambda: result.setdefault("response", work()))
    thread.start()
    return thread, result


def test_connection_lost_mid_request_answers_503_and_the_server_recovers(postgres_server: LiveServer) -> None:
    admin = postgres_server.create_user(admin=True)
    blocker = Blocker(_dsn(postgres_server.settings.database_url or ""))
    try:
        with postgres_server.client(admin) as client:
            repo = create_repo(client)
            before = _unavailable_count(client, "connection")
            blocker.lock("ml_repos")
            thread, result = _in_thread(lambda: postgres_server.client(admin).get(f"{API}/ml-repos/{repo['id']}"))
            assert blocker.waiting_backends(), "the request never reached the database"
            assert blocker.terminate_server_backends() >= 1
            thread.join(30)
            blocker.release()
            response = result["response"]
            assert response.status_code == 503, response.text
            assert response.headers["Retry-After"] == "1"
            assert response.json() == {"statusCode": 503, "message": "The database is unavailable; retry shortly"}
            assert _unavailable_count(client, "connection") == before + 1
            # Recovered by itself: the next requests get fresh connections.
            assert client.get(f"{API}/ml-repos/{repo['id']}").status_code == 200
            assert apply_model_version(client, repo["manifest"]["name"], unique("model"))["id"]
    finally:
        blocker.close()


@pytest.mark.parametrize(
    "postgres_server", [{"db_pool_size": 1, "db_max_overflow": 0, "db_pool_timeout": 0.5}], indirect=True
)
def test_pool_timeout_answers_503(postgres_server: LiveServer) -> None:
    admin = postgres_server.create_user(admin=True)
    blocker = Blocker(_dsn(postgres_server.settings.database_url or ""))
    try:
        with postgres_server.client(admin) as client:
            before = _unavailable_count(client, "pool_timeout")
            blocker.lock("ml_repos")
            # The pool's only connection waits on the lock; the next request finds no free connection.
            thread, _ = _in_thread(lambda: postgres_server.client(admin).get(f"{API}/ml-repos"))
            assert blocker.waiting_backends()
            response = client.get(f"{API}/models")
            assert response.status_code == 503, response.text
            assert response.headers["Retry-After"] == "1"
            assert _unavailable_count(client, "pool_timeout") == before + 1
            blocker.release()
            thread.join(30)
            assert client.get(f"{API}/models").status_code == 200
    finally:
        blocker.close()


def test_backends_killed_under_load_give_no_500(postgres_server: LiveServer) -> None:
    admin = postgres_server.create_user(admin=True)
    with postgres_server.client(admin) as client:
        repo = create_repo(client)
    statuses: list[int | str] = []
    stop = threading.Event()

    def send(worker: httpx.Client, method: str, url: str, **kwargs: Any) -> None:
        try:
            statuses.append(worker.request(method, url, **kwargs).status_code)
        except httpx.TransportError as error:
            # The server closed the connection without an answer: recorded, never swallowed.
            statuses.append(f"{type(error).__name__} on {method}")

    def load() -> None:
        with postgres_server.client(admin) as worker:
            while not stop.is_set():
                send(worker, "GET", f"{API}/models", params={"ml_repo_id": repo["id"]})
                body = {
                    "manifest": {
                        "type": "ml-repo",
                        "name": repo["manifest"]["name"],
                        "storage_integration_fqn": "default",
                    }
                }
                send(worker, "PUT", f"{API}/ml-repos", json=body)

    workers = [threading.Thread(target=load) for _ in range(4)]
    for worker in workers:
        worker.start()
    blocker = Blocker(_dsn(postgres_server.settings.database_url or ""))
    try:
        for _ in range(5):
            time.sleep(0.3)
            blocker.terminate_server_backends()
        time.sleep(0.3)
    finally:
        stop.set()
        for worker in workers:
            worker.join(30)
        blocker.close()
    assert statuses and set(statuses) <= {200, 503}, sorted(set(statuses), key=str)
    with postgres_server.client(admin) as client:
        assert client.get(f"{API}/ml-repos/{repo['id']}").status_code == 200
