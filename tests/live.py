"""A live mlregistry server in a background thread, on a free 127.0.0.1 port, for HTTP and SDK tests."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import uvicorn
from sqlalchemy.ext.asyncio import AsyncSession

from mlregistry.app import create_app
from mlregistry.repositories.database import Database
from mlregistry.repositories.migrations import upgrade_to_head
from mlregistry.services import identity
from mlregistry.settings import Settings

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveUser:
    slug: str
    email: str
    token: str
    id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class LiveServer:
    def __init__(self, settings: Settings, backend: str) -> None:
        self.settings = settings
        self.backend = backend
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.s3: Any = None  # the moto S3 server when the settings use S3 storage
        self.app = create_app(settings)
        self._server = uvicorn.Server(
            uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        )
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._server.serve())

    def start(self) -> LiveServer:
        upgrade_to_head(self.settings)
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("live server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=20)

    @property
    def database(self) -> Database:
        database: Database = self.app.state.database
        return database

    def run(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """Run `work` in one committed transaction on the server's own loop and database."""

        async def transaction() -> T:
            async with self.database.session(write=True) as session:
                result = await work(session)
                await session.commit()
                return result

        future: Future[T] = asyncio.run_coroutine_threadsafe(transaction(), self._loop)
        return future.result(timeout=30)

    def create_user(self, *, admin: bool = False, prefix: str = "user") -> LiveUser:
        """A fresh user with a personal access token: its view of the registry starts empty."""
        slug = f"{prefix}-{uuid.uuid4().hex[:10]}"
        email = f"{slug}@example.com"

        async def work(session: AsyncSession) -> LiveUser:
            user = await identity.create_user(
                session, slug=slug, email=email, display_name=slug.title(), is_admin=admin
            )
            issued = await identity.issue_token(session, self.settings, user, name=f"{slug}-pat")
            return LiveUser(slug=slug, email=email, token=issued.token, id=user.id)

        return self.run(work)

    def client(self, user: LiveUser | None = None, **kwargs: Any) -> httpx.Client:
        headers = user.headers if user else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60, **kwargs)


class ServeProcess:
    """`mlregistry serve` in its own process, as a container runs it; its stderr (the log) kept in a file."""

    def __init__(self, env: dict[str, str], log_path: Path, args: tuple[str, ...] = ()) -> None:
        self.port = int(env.get("MLREGISTRY_PORT") or free_port())
        self.url = f"http://127.0.0.1:{self.port}"
        inherited = {key: value for key, value in os.environ.items() if not key.startswith("MLREGISTRY_")}
        self.env = {**inherited, "MLREGISTRY_HOST": "127.0.0.1", **env, "MLREGISTRY_PORT": str(self.port)}
        self.log_path = log_path
        self.command = [str(Path(sys.executable).parent / "mlregistry"), "serve", *args]
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> ServeProcess:
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(self.command, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mlregistry serve exited with {self.process.returncode}:\n{self.log_text()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"mlregistry serve did not answer /healthz:\n{self.log_text()}")

    def terminate(self) -> None:
        """What `docker stop` does first: SIGTERM."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)

    def wait(self, timeout: float = 30) -> int:
        assert self.process is not None
        return self.process.wait(timeout=timeout)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_records(self) -> list[dict[str, Any]]:
        """Every log line, parsed: each must be one JSON object."""
        return [json.loads(line) for line in self.log_text().splitlines() if line.strip()]

    def client(self, token: str | None = None, **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60, **kwargs)

    def __enter__(self) -> ServeProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
