"""Fixtures: every database test runs on SQLite and, when MLREGISTRY_TEST_POSTGRES_URL is set, on Postgres.

Each run creates its own Postgres database and drops it at the end.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from mlregistry.settings import Settings
from tests.live import LiveServer, LiveUser

POSTGRES_URL = os.environ.get("MLREGISTRY_TEST_POSTGRES_URL")  # e.g. postgresql://postgres@127.0.0.1:5432/postgres
BACKENDS = ["sqlite", "postgres"]


def _admin_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


class PostgresDatabases:
    """Creates throw-away databases on the test server and drops them at the end of the run."""

    def __init__(self, url: str) -> None:
        self.url = _admin_dsn(url)
        self.created: list[str] = []

    def create(self) -> str:
        name = f"mlregistry_test_{uuid.uuid4().hex[:12]}"

        async def run() -> None:
            connection = await asyncpg.connect(self.url)
            try:
                await connection.execute(f'CREATE DATABASE "{name}"')
            finally:
                await connection.close()

        asyncio.run(run())
        self.created.append(name)
        base, _, _ = self.url.rpartition("/")
        return f"{base.replace('postgresql://', 'postgresql+asyncpg://')}/{name}"

    def drop_all(self) -> None:
        async def run() -> None:
            connection = await asyncpg.connect(self.url)
            try:
                for name in self.created:
                    await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await connection.close()

        if self.created:
            asyncio.run(run())


@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[PostgresDatabases | None]:
    if not POSTGRES_URL:
        yield None
        return
    databases = PostgresDatabases(POSTGRES_URL)
    try:
        yield databases
    finally:
        databases.drop_all()


def make_settings(
    backend: str, tmp_path: Path, postgres_databases: PostgresDatabases | None, **overrides: object
) -> Settings:
    values: dict[str, object] = {
        "data_dir": tmp_path,
        "secret_key": "test-secret-key-that-is-long-enough-0123456789",
        "tenant_name": "acme",
        # Fileset sources whose models may trust remote code (tests/test_workspace_models_http.py).
        "trusted_fileset_sources": ["trusted-src/", "partner/approved-ckpt"],
    }
    if backend == "postgres":
        if postgres_databases is None:
            pytest.skip("MLREGISTRY_TEST_POSTGRES_URL is not set")
        values["database_url"] = postgres_databases.create()
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session", params=BACKENDS)
def server(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_databases: PostgresDatabases | None,
) -> Iterator[LiveServer]:
    """One live server per backend for the whole run; tests isolate themselves with fresh users."""
    backend = request.param
    settings = make_settings(backend, tmp_path_factory.mktemp(f"data-{backend}"), postgres_databases)
    live = LiveServer(settings, backend).start()
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture
def user(server: LiveServer) -> LiveUser:
    return server.create_user()


@pytest.fixture
def admin(server: LiveServer) -> LiveUser:
    return server.create_user(admin=True, prefix="admin")
