"""Run `mlregistry` commands and server processes as an operator would."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.live import free_port

CLI = [sys.executable, "-m", "mlregistry.cli"]


def cli_env(data_dir: Path, database_url: str | None = None, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("MLREGISTRY_")}
    env.update(
        MLREGISTRY_DATA_DIR=str(data_dir),
        MLREGISTRY_SECRET_KEY="process-test-secret-key-0123456789abcdef",
        MLREGISTRY_TENANT_NAME="acme",
    )
    if database_url:
        env["MLREGISTRY_DATABASE_URL"] = database_url
    env.update(extra)
    return env


def run_cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=120)


@contextmanager
def serving(env: dict[str, str], *extra_args: str) -> Iterator[str]:
    """A `mlregistry serve` process; yields its base URL once /readyz answers."""
    with serving_process(env, *extra_args) as (url, _process):
        yield url


@contextmanager
def serving_process(env: dict[str, str], *extra_args: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """A `mlregistry serve` process and its base URL once /readyz answers (to kill it, for instance)."""
    port = free_port()
    log_path = Path(env["MLREGISTRY_DATA_DIR"]) / f"serve-{port}.log"
    log = open(log_path, "w")  # noqa: SIM115 - closed in finally
    process = subprocess.Popen(
        [*CLI, "serve", "--host", "127.0.0.1", "--port", str(port), *extra_args],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited: {log_path.read_text()}")
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not become ready")
            time.sleep(0.1)
        yield url, process
    finally:
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


README = Path(__file__).resolve().parents[1] / "README.md"


def readme_block(marker: str, language: str = "bash") -> str:
    """The code block between `<!-- {marker}:start -->` and `<!-- {marker}:end -->` in the README."""
    text = README.read_text()
    block = text.split(f"<!-- {marker}:start -->", 1)[1].split(f"<!-- {marker}:end -->", 1)[0]
    match = re.search(rf"```{language}\n(.*?)```", block, re.S)
    assert match, f"the README lost its {marker} block"
    return match.group(1)


def run_readme_block(marker: str, url: str, token: str, **env: str) -> list[Any]:
    """Run a README block as written against `url`; one parsed JSON answer per curl, in order."""
    script = "set -euo pipefail\n" + readme_block(marker).replace("\ncurl", "\necho\ncurl")
    result = subprocess.run(
        ["bash", "-c", script],
        env={**os.environ, "MLREGISTRY_URL": url, "TOKEN": token, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.split("\n") if line.strip()]
