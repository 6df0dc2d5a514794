"""`mlregistry serve` as a process: JSON logs, error logs without secrets, graceful shutdown, --print-config."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.conftest import PostgresDatabases
from tests.factories import API, unique
from tests.live import ServeProcess

BOOTSTRAP_TOKEN = "bootstrap-token-for-tests-3f9a1c"
SECRET_KEY = "serve-process-secret-key-0123456789abcdef"


def serve_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "MLREGISTRY_DATA_DIR": str(tmp_path / "data"),
        "MLREGISTRY_SECRET_KEY": SECRET_KEY,
        "MLREGISTRY_BOOTSTRAP_TOKEN": BOOTSTRAP_TOKEN,
        **extra,
    }


def repo_body(name: str) -> bytes:
    return b'{"manifest": {"type": "ml-repo", "name": "%s", "storage_integration_fqn": "default"}}' % name.encode()


def access_lines(records: list[dict[str, object]]) -> list[dict[str, object]]:
    return [record for record in records if record.get("logger") == "mlregistry.access"]


def test_one_json_log_line_per_request(tmp_path: Path) -> None:
    with ServeProcess(serve_env(tmp_path), tmp_path / "serve.log") as server:
        with server.client(BOOTSTRAP_TOKEN) as client:
            me = client.get(f"{API}/models", headers={"X-Request-ID": "req-models-1"})
            assert me.status_code == 200
            missing = client.get(f"{API}/models/{unique('nope')}", headers={"X-Request-ID": "req-missing-2"})
            assert missing.status_code == 404
            anonymous = httpx.get(f"{server.url}/healthz")
        records = server.log_records()  # every line parses as JSON
    lines = {line["request_id"]: line for line in access_lines(records)}
    listed = lines["req-models-1"]
    assert listed["method"] == "GET" and listed["route"] == f"{API}/models" and listed["status"] == 200
    assert isinstance(listed["duration_ms"], float) and listed["duration_ms"] >= 0
    assert listed["subject_id"] and listed["level"] == "info" and listed["time"]
    assert lines["req-missing-2"]["route"] == f"{API}/models/{{id}}"
    assert lines["req-missing-2"]["status"] == 404
    assert lines["req-missing-2"]["subject_id"] == listed["subject_id"]
    health = lines[anonymous.headers["x-request-id"]]
    assert health["route"] == "/healthz" and health["subject_id"] is None
    assert sum(1 for line in access_lines(records) if line["request_id"] == "req-models-1") == 1
    assert BOOTSTRAP_TOKEN not in server.log_text() and SECRET_KEY not in server.log_text()


def test_text_logs_show_each_request_and_the_openapi_document_has_its_route(tmp_path: Path) -> None:
    env = serve_env(tmp_path, MLREGISTRY_LOG_FORMAT="text")
    with ServeProcess(env, tmp_path / "serve.log") as server:
        with server.client(BOOTSTRAP_TOKEN) as client:
            assert client.get(f"{API}/models", headers={"X-Request-ID": "text-1"}).status_code == 200
            assert client.get("/openapi.json", headers={"X-Request-ID": "text-2"}).status_code == 200
            assert client.get("/no/such/path", headers={"X-Request-ID": "text-3"}).status_code == 404
            exposition = client.get("/metrics").text
        text = server.log_text()
    lines = {match[1]: match[0] for match in re.findall(r"(.*mlregistry\.access.* request_id=(text-\d))", text)}
    assert re.search(
        rf"request GET {API}/models 200 [\d.]+ms subject=[0-9a-f-]{{36}} request_id=text-1$", lines["text-1"]
    )
    assert re.search(r"request GET /openapi\.json 200 [\d.]+ms subject=- request_id=text-2$", lines["text-2"])
    assert re.search(r"request GET /no/such/path 404 [\d.]+ms", lines["text-3"]), "the raw path where none matched"
    assert 'route="/openapi.json"' in exposition
    assert BOOTSTRAP_TOKEN not in text


def test_errors_are_logged_with_the_request_id_and_never_the_token(
    tmp_path: Path, postgres_databases: PostgresDatabases | None
) -> None:
    """The database goes away under a running server: 500s, logged with their request id, no token."""
    if postgres_databases is None:
        pytest.skip("MLREGISTRY_TEST_POSTGRES_URL is not set")
    database_url = postgres_databases.create()
    env = serve_env(tmp_path, MLREGISTRY_DATABASE_URL=database_url)
    with ServeProcess(env, tmp_path / "serve.log") as server:
        with server.client(BOOTSTRAP_TOKEN) as client:
            assert client.get(f"{API}/models").status_code == 200
            name = database_url.rsplit("/", 1)[1]

            async def drop() -> None:
                connection = await asyncpg.connect(postgres_databases.url)
                try:
                    await connection.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
                finally:
                    await connection.close()

            asyncio.run(drop())
            # Pooled connections the drop cut answer 503 (retryable, the SDK retries); once the pool
            # reconnects, the missing database is a 500.
            statuses: list[int] = []
            for attempt in range(1, 30):
                failed = client.get(f"{API}/models", headers={"X-Request-ID": f"outage-{attempt}"})
                statuses.append(failed.status_code)
                if failed.status_code != 503:
                    break
            outage = f"outage-{len(statuses)}"
            assert statuses[-1] == 500, statuses
            assert all(status == 503 for status in statuses[:-1]), statuses
            assert failed.json() == {"statusCode": 500, "message": "Internal server error"}
            assert failed.headers["x-request-id"] == outage
            jwt_like = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJzb21lb25lIn0.c2lnbmF0dXJlLXZhbHVl"
            assert client.get(f"{API}/models", headers={"Authorization": f"Bearer {jwt_like}"}).status_code >= 400
        records = server.log_records()
        text = server.log_text()
    errors = [record for record in records if record["level"] == "error" and record.get("request_id") == outage]
    assert errors, text
    assert "exception" in errors[0] and errors[0]["exception"]
    access = [line for line in access_lines(records) if line["request_id"] == outage]
    assert [line["status"] for line in access] == [500]
    for secret in (BOOTSTRAP_TOKEN, SECRET_KEY, jwt_like):
        assert secret not in text


def slow_body(body: bytes, seconds: float, sent_first: threading.Event) -> Iterator[bytes]:
    pieces = 8
    step = max(1, len(body) // pieces)
    for index, start in enumerate(range(0, len(body), step)):
        yield body[start : start + step]
        if index == 0:
            sent_first.set()
        time.sleep(seconds / pieces)


def start_slow_upload(server: ServeProcess, name: str, seconds: float) -> tuple[threading.Thread, dict[str, object]]:
    outcome: dict[str, object] = {}
    sent_first = threading.Event()

    def upload() -> None:
        try:
            with server.client(BOOTSTRAP_TOKEN) as client:
                outcome["response"] = client.put(
                    f"{API}/ml-repos",
                    content=slow_body(repo_body(name), seconds, sent_first),
                    headers={"Content-Type": "application/json"},
                )
        except httpx.HTTPError as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=upload)
    thread.start()
    assert sent_first.wait(10)
    time.sleep(0.3)  # the server is now reading the body
    return thread, outcome


def test_sigterm_lets_an_in_flight_upload_finish(tmp_path: Path) -> None:
    server = ServeProcess(serve_env(tmp_path, MLREGISTRY_SHUTDOWN_TIMEOUT="20"), tmp_path / "serve.log").start()
    try:
        name = unique("inflight")
        thread, outcome = start_slow_upload(server, name, seconds=3.0)
        terminated_at = time.monotonic()
        server.terminate()
        time.sleep(0.5)
        with pytest.raises(httpx.TransportError):  # no new connections once shutting down
            httpx.get(f"{server.url}/healthz", timeout=2)
        thread.join(30)
        response = outcome.get("response")
        assert isinstance(response, httpx.Response), outcome
        assert response.status_code == 200, response.text
        assert response.json()["data"]["manifest"]["name"] == name
        # uvicorn re-raises SIGTERM once it has shut down cleanly.
        assert server.wait(30) in (0, -signal.SIGTERM)
        assert time.monotonic() - terminated_at >= 2.0  # it waited for the upload
        assert "Application shutdown complete" in server.log_text()
    finally:
        server.stop()
    # The upload was committed: a new server on the same data sees the repo.
    with ServeProcess(serve_env(tmp_path), tmp_path / "serve-2.log") as again:
        with again.client(BOOTSTRAP_TOKEN) as client:
            listed = client.get(f"{API}/ml-repos", params={"name": name}).json()
    assert listed["pagination"]["total"] == 1


def test_shutdown_wait_is_bounded_by_the_setting(tmp_path: Path) -> None:
    server = ServeProcess(serve_env(tmp_path, MLREGISTRY_SHUTDOWN_TIMEOUT="1"), tmp_path / "serve.log").start()
    try:
        thread, outcome = start_slow_upload(server, unique("cut"), seconds=15.0)
        terminated_at = time.monotonic()
        server.terminate()
        server.wait(15)
        assert time.monotonic() - terminated_at < 8
        thread.join(30)
        assert "response" not in outcome or outcome["response"].status_code != 200  # type: ignore[attr-defined]
    finally:
        server.stop()


def test_print_config_masks_secrets(tmp_path: Path) -> None:
    env = {
        **{key: value for key, value in os.environ.items() if not key.startswith("MLREGISTRY_")},
        **serve_env(tmp_path),
        "MLREGISTRY_DATABASE_URL": "postgresql+asyncpg://registry:db-password-123@db.internal:5432/registry",
        "MLREGISTRY_REQUEST_TIMEOUT": "12.5",
    }
    command = [str(Path(sys.executable).parent / "mlregistry"), "serve", "--print-config", "--port", "9123"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=True)
    values = dict(line.split("=", 1) for line in result.stdout.splitlines())
    assert values["MLREGISTRY_BOOTSTRAP_TOKEN"] == "********"
    assert values["MLREGISTRY_SECRET_KEY"] == "********"
    assert values["MLREGISTRY_DATABASE_URL"] == "postgresql+asyncpg://registry:***@db.internal:5432/registry"
    assert values["MLREGISTRY_REQUEST_TIMEOUT"] == "12.5"
    assert values["MLREGISTRY_PORT"] == "9123"
    assert values["MLREGISTRY_LOG_FORMAT"] == "json"
    for secret in (BOOTSTRAP_TOKEN, SECRET_KEY, "db-password-123"):
        assert secret not in result.stdout + result.stderr
    assert not (tmp_path / "data").exists(), "printing the configuration starts nothing"


def test_first_start_without_bootstrap_token_shows_a_working_admin_token_once(tmp_path: Path) -> None:
    env = {"MLREGISTRY_DATA_DIR": str(tmp_path / "data"), "MLREGISTRY_SECRET_KEY": SECRET_KEY}
    with ServeProcess(env, tmp_path / "serve.log") as server:
        shown = [record["admin_token"] for record in server.log_records() if "admin_token" in record]
        assert len(shown) == 1
        with server.client(str(shown[0])) as client:
            assert client.get(f"{API}/models").status_code == 200
    with ServeProcess(env, tmp_path / "serve-again.log") as again:
        assert not [record for record in again.log_records() if "admin_token" in record]


def test_a_served_worker_freezes_what_it_built_at_start_and_a_plain_app_does_not(tmp_path: Path) -> None:
    """A worker's startup objects (about 240,000) are out of the collector's sight: full collections walked
    them all, stalling the event loop for 100+ ms under load. An app built in-process (tests) stays
    collectable."""
    probe = (
        "import gc, json\n"
        "from mlregistry.app import GC_THRESHOLDS, create_app, create_app_from_env\n"
        "create_app()\n"
        "plain = gc.get_freeze_count()\n"
        "create_app_from_env()\n"
        "print(json.dumps({'plain': plain, 'served': gc.get_freeze_count(), "
        "'threshold': list(gc.get_threshold()), 'expected': list(GC_THRESHOLDS)}))\n"
    )
    env = {**os.environ, **serve_env(tmp_path)}
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["plain"] == 0
    assert figures["served"] > 100_000
    assert figures["threshold"] == figures["expected"] != [700, 10, 10]
