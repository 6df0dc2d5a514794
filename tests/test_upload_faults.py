"""A server killed with SIGKILL in the middle of an upload leaves its temporary file behind; the reaper of
another process and the next start-up remove such files once they are older than the configured age."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.factories import API
from tests.processes import cli_env, run_cli, serving, serving_process

BOOTSTRAP = "tfy_bootstrap_token_for_tests_0123456789"
MAX_AGE_SECONDS = 2
BLOCK = b"x" * (9 * 1024 * 1024)  # more than the store buffers before its first write


def _temporary_files(data_dir: Path) -> list[Path]:
    return [path for path in (data_dir / "artifacts" / "tmp").iterdir() if path.is_file()]


def _write_url(url: str) -> str:
    headers = {"Authorization": f"Bearer {BOOTSTRAP}"}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        repo = {"type": "ml-repo", "name": f"faults-{time.monotonic_ns()}", "storage_integration_fqn": "default"}
        assert client.put(f"{API}/ml-repos", json={"manifest": repo}).status_code == 200
        manifest = {
            "type": "artifact-version",
            "name": "interrupted",
            "ml_repo": repo["name"],
            "source": {"type": "truefoundry"},
            "metadata": {},
        }
        staged = client.post(f"{API}/artifact-versions/stage", json={"manifest": manifest})
        assert staged.status_code == 200, staged.text
        signed = client.post(
            f"{API}/artifact-versions/signed-urls",
            json={"id": staged.json()["id"], "paths": ["model.bin"], "operation": "WRITE"},
        )
        assert signed.status_code == 200, signed.text
        return str(signed.json()["data"][0]["signed_url"])


def _kill_during_upload(env: dict[str, str], data_dir: Path) -> None:
    """Start an upload, and SIGKILL the server once its temporary file is on disk."""
    release = threading.Event()

    def body() -> Iterator[bytes]:
        yield BLOCK
        release.wait(30)

    with serving_process(env, "--no-migrate") as (url, process):
        signed_url = _write_url(url)
        before = set(_temporary_files(data_dir))
        upload = threading.Thread(target=lambda: _put_ignoring_errors(signed_url, body()), daemon=True)
        upload.start()
        deadline = time.monotonic() + 30
        while not set(_temporary_files(data_dir)) - before:
            assert time.monotonic() < deadline, "the upload never reached the disk"
            time.sleep(0.05)
        process.kill()
        process.wait(timeout=20)
        release.set()
        upload.join(30)
    assert set(_temporary_files(data_dir)) - before, "the killed upload left no temporary file"


def _put_ignoring_errors(url: str, content: Iterator[bytes]) -> None:
    try:
        httpx.put(url, content=content, timeout=60)
    except httpx.HTTPError:
        pass  # the server was killed mid-request


def _wait_until_empty(data_dir: Path, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _temporary_files(data_dir):
            return True
        time.sleep(0.2)
    return False


def test_files_of_an_upload_killed_with_sigkill_are_swept(tmp_path: Path, database_url: str) -> None:
    env = cli_env(
        tmp_path,
        database_url,
        MLREGISTRY_BOOTSTRAP_TOKEN=BOOTSTRAP,
        MLREGISTRY_TEMPORARY_FILE_MAX_AGE_SECONDS=str(MAX_AGE_SECONDS),
    )
    assert run_cli(["db", "upgrade"], env).returncode == 0
    no_reaper = {**env, "MLREGISTRY_REAPER_INTERVAL_SECONDS": "0"}

    # The reaper of a process that runs on: the files go once they are older than the age.
    with serving({**env, "MLREGISTRY_REAPER_INTERVAL_SECONDS": "0.2"}, "--no-migrate"):
        _kill_during_upload(no_reaper, tmp_path)
        assert _wait_until_empty(tmp_path, timeout=MAX_AGE_SECONDS + 15)

    # Start-up: a server started after the crash (no reaper running) removes them before it serves.
    _kill_during_upload(no_reaper, tmp_path)
    time.sleep(MAX_AGE_SECONDS + 0.5)
    with serving(no_reaper, "--no-migrate"):
        assert _temporary_files(tmp_path) == []


def test_a_recent_temporary_file_is_kept(tmp_path: Path, database_url: str) -> None:
    """An upload in progress is never swept: only files untouched for the configured age are."""
    env = cli_env(tmp_path, database_url, MLREGISTRY_BOOTSTRAP_TOKEN=BOOTSTRAP)  # the default age: an hour
    assert run_cli(["db", "upgrade"], env).returncode == 0
    no_reaper = {**env, "MLREGISTRY_REAPER_INTERVAL_SECONDS": "0"}
    _kill_during_upload(no_reaper, tmp_path)
    with serving({**env, "MLREGISTRY_REAPER_INTERVAL_SECONDS": "0.2"}, "--no-migrate"):
        time.sleep(1.5)
        assert _temporary_files(tmp_path)
