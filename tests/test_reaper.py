"""The reaper: abandoned stages disappear with their objects, with two server processes reaping the same
database and storage at once (SQLite + local disk, Postgres + S3)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from mlregistry.orm import EntityVersion
from mlregistry.repositories import files as file_queries
from tests.conftest import BACKENDS, PostgresDatabases, make_settings
from tests.data_path import artifact_manifest, finalize, put_files, signed_urls, stage, version_objects
from tests.factories import API, create_repo, unique
from tests.live import LiveServer

STAGE_TTL_SECONDS = 2
SIGNED_URL_TTL_SECONDS = 5


@pytest.fixture(scope="module", params=BACKENDS)
def reaping_servers(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_databases: PostgresDatabases | None,
) -> Iterator[tuple[LiveServer, LiveServer]]:
    """Two servers (separate engines, loops and reapers) on one database and one storage."""
    backend = request.param
    s3 = request.getfixturevalue("moto_s3") if backend == "postgres" and postgres_databases is not None else None
    data_dir: Path = tmp_path_factory.mktemp(f"reaper-{backend}")
    settings = make_settings(
        backend,
        data_dir,
        postgres_databases,
        s3,
        stage_ttl_seconds=STAGE_TTL_SECONDS,
        reaper_interval_seconds=0.2,
        signed_url_ttl_seconds=SIGNED_URL_TTL_SECONDS,
    )
    servers = []
    for _ in range(2):
        live = LiveServer(settings, backend)
        live.s3 = s3
        servers.append(live.start())
    try:
        yield servers[0], servers[1]
    finally:
        for live in servers:
            live.stop()


def _wait_for(condition: object, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.2)
    return False


def test_abandoned_stages_are_reaped_with_their_objects(
    reaping_servers: tuple[LiveServer, LiveServer], caplog: pytest.LogCaptureFixture
) -> None:
    first, second = reaping_servers
    user = first.create_user()
    with first.client(user) as client:
        repo = create_repo(client)
        name = repo["manifest"]["name"]
        abandoned = []
        for _ in range(4):
            staged = stage(client, artifact_manifest(name, unique("abandoned")))
            put_files(client, staged["id"], {"a.txt": b"a", "d/b.txt": b"b"})
            abandoned.append(staged)
        kept_manifest = artifact_manifest(name, unique("kept"))
        kept = stage(client, kept_manifest)
        put_files(client, kept["id"], {"k.txt": b"keep"})
        assert finalize(client, "artifact-versions", kept_manifest, kept["storage_root"]).status_code == 200

    def version_exists(version_id: str) -> bool:
        async def work(session: AsyncSession) -> bool:
            return await session.get(EntityVersion, version_id) is not None

        return first.run(work)

    def all_reaped() -> bool:
        return all(
            not version_exists(item["id"]) and version_objects(first, repo["id"], item["id"]) == []
            for item in abandoned
        )

    with caplog.at_level(logging.ERROR):
        assert _wait_for(all_reaped), "abandoned stages were not reaped"
    assert not [record for record in caplog.records if record.name.startswith("mlregistry")]
    assert first.run(file_queries.due_deletion_count) == 0

    # The finalized version is untouched, and a reaped stage can no longer be finalized.
    assert version_exists(kept["id"])
    assert version_objects(first, repo["id"], kept["id"])
    with second.client(user) as client:
        late = finalize(client, "artifact-versions", artifact_manifest(name, "late"), abandoned[0]["storage_root"])
        assert late.status_code == 422 and "no staged version" in late.json()["message"]
        assert client.get(f"{API}/artifact-versions/{kept['id']}").status_code == 200


def test_a_late_upload_after_a_delete_is_swept_too(reaping_servers: tuple[LiveServer, LiveServer]) -> None:
    """A WRITE URL signed while staging stays valid until it expires; what it uploads after the version
    was deleted is removed by the second sweep of the deleted prefix."""
    first, _ = reaping_servers
    user = first.create_user()
    with first.client(user) as client:
        repo = create_repo(client)
        manifest = artifact_manifest(repo["manifest"]["name"], unique("late"))
        staged = stage(client, manifest)
        urls = signed_urls(client, staged["id"], ["a.txt", "late.txt"], "WRITE")
        for url in urls:
            assert httpx.put(url, content=b"x").status_code == 200
        assert finalize(client, "artifact-versions", manifest, staged["storage_root"]).status_code == 200
        assert client.delete(f"{API}/artifact-versions/{staged['id']}").status_code == 200
        assert version_objects(first, repo["id"], staged["id"]) == []
        late = httpx.put(urls[1], content=b"too late")  # the URL has not expired yet
        if first.s3 is None:
            # The local store checks the version too: a deleted version takes no upload at all.
            assert late.status_code == 403
            return
        assert late.status_code == 200  # a presigned S3 URL cannot be revoked
        assert version_objects(first, repo["id"], staged["id"])
    assert _wait_for(
        lambda: version_objects(first, repo["id"], staged["id"]) == [], timeout=4 * SIGNED_URL_TTL_SECONDS + 10
    )
