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
import boto3
import pytest

from mlregistry.settings import Settings
from tests.browser import browser, offline_page  # noqa: F401 (the browser fixtures)
from tests.live import LiveServer, LiveUser, free_port

POSTGRES_URL = os.environ.get("MLREGISTRY_TEST_POSTGRES_URL")  # e.g. postgresql://postgres@127.0.0.1:5432/postgres
BACKENDS = ["sqlite", "postgres"]  # sqlite runs with the local store, postgres with S3 (a moto server)
S3_BUCKET = "mlregistry-test"


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


class MotoS3:
    """moto's standalone S3 server on 127.0.0.1: a real S3 wire protocol, started by the test suite."""

    def __init__(self) -> None:
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
        os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
        from moto.server import ThreadedMotoServer

        self.port = free_port()
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()
        self.client = boto3.client("s3", endpoint_url=self.endpoint_url, region_name="us-east-1")
        self.client.create_bucket(Bucket=S3_BUCKET)

    def keys(self, prefix: str) -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=S3_BUCKET, Prefix=prefix)
        return [item["Key"] for page in pages for item in page.get("Contents", [])]

    def pending_uploads(self, prefix: str) -> list[str]:
        return [
            item["Key"]
            for item in self.client.list_multipart_uploads(Bucket=S3_BUCKET, Prefix=prefix).get("Uploads", [])
        ]

    def stop(self) -> None:
        self._server.stop()


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[MotoS3]:
    server = MotoS3()
    try:
        yield server
    finally:
        server.stop()


def make_settings(
    backend: str,
    tmp_path: Path,
    postgres_databases: PostgresDatabases | None,
    s3: MotoS3 | None = None,
    **overrides: object,
) -> Settings:
    values: dict[str, object] = {
        "data_dir": tmp_path,
        "secret_key": "test-secret-key-that-is-long-enough-0123456789",
        "tenant_name": "acme",
        # Fileset sources whose models may trust remote code (tests/test_workspace_models_http.py).
        "trusted_fileset_sources": ["trusted-src/", "partner/approved-ckpt"],
        # Webhook tests deliver to receivers on 127.0.0.1, retry quickly and give up after three attempts.
        "webhook_allowed_hosts": ["127.0.0.1"],
        "webhook_poll_interval_seconds": 0.1,
        "webhook_retry_base_seconds": 0.2,
        "webhook_max_attempts": 3,
        "webhook_timeout_seconds": 5,
    }
    if backend == "postgres":
        if postgres_databases is None:
            pytest.skip("MLREGISTRY_TEST_POSTGRES_URL is not set")
        values["database_url"] = postgres_databases.create()
        if s3 is not None:
            values["storage_url"] = f"s3://{S3_BUCKET}/{uuid.uuid4().hex[:8]}/artifacts"
            values["s3_endpoint_url"] = s3.endpoint_url
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path, postgres_databases: PostgresDatabases | None) -> str:
    """A database that several server processes of one test share: a SQLite file, or a fresh Postgres database."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    if postgres_databases is None:
        pytest.skip("MLREGISTRY_TEST_POSTGRES_URL is not set")
    return postgres_databases.create()


@pytest.fixture(scope="session", params=BACKENDS)
def server(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_databases: PostgresDatabases | None,
) -> Iterator[LiveServer]:
    """One live server per backend for the whole run; tests isolate themselves with fresh users."""
    backend = request.param
    s3 = request.getfixturevalue("moto_s3") if backend == "postgres" and postgres_databases is not None else None
    settings = make_settings(backend, tmp_path_factory.mktemp(f"data-{backend}"), postgres_databases, s3)
    live = LiveServer(settings, backend)
    live.s3 = s3
    live.start()
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
