"""A live mlregistry server in a background thread, on a free 127.0.0.1 port, for HTTP and SDK tests."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from dataclasses import dataclass
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
