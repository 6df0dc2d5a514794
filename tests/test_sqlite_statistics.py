"""SQLite connections of a pool re-read statistics another connection gathered (an import's ANALYZE, another
process), and the check never fails a read, even while another process holds the database's write lock."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from mlregistry.repositories import database as database_module
from mlregistry.repositories.database import create_database
from mlregistry.repositories.migrations import upgrade_to_head
from tests.conftest import make_settings


def test_pooled_connections_re_read_changed_statistics(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make_settings("sqlite", tmp_path, None)
    upgrade_to_head(settings)
    path = settings.effective_database_url.split(":///", 1)[1]

    async def seen_by_pooled_connection(database: database_module.Database) -> str:
        async with database.engine.connect() as connection:
            assert (await connection.execute(text("SELECT 1"))).scalar_one() == 1
            raw = await connection.get_raw_connection()
            return str(raw._connection_record.info[database_module.STATS_SEEN][1])  # type: ignore[union-attr]

    async def scenario() -> None:
        database = create_database(settings)
        try:
            first = await seen_by_pooled_connection(database)
            assert "alembic_version" in first
            other = sqlite3.connect(path, isolation_level=None)
            other.execute("INSERT INTO alembic_version (version_num) VALUES ('statistics-test')")
            other.execute("ANALYZE")  # statistics change; the schema does not
            async with database.engine.connect() as connection:  # a short busy wait for the locked part below
                await connection.exec_driver_sql("PRAGMA busy_timeout=200")
            monkeypatch.setattr(database_module, "SQLITE_STATS_CHECK_SECONDS", 0.0)
            other.execute("BEGIN IMMEDIATE")  # the re-read needs the lock: it waits for a later check
            assert await seen_by_pooled_connection(database) == first  # answered; statistics not re-read yet
            other.execute("COMMIT")
            other.close()
            now = await seen_by_pooled_connection(database)
            assert now != first and now == _stat_text(path)
        finally:
            await database.dispose()

    asyncio.run(scenario())


def _stat_text(path: str) -> str:
    with sqlite3.connect(path) as connection:
        row = connection.execute(
            "SELECT group_concat(tbl || ' ' || coalesce(idx, '') || ' ' || stat, ';') FROM sqlite_stat1"
        ).fetchone()
    return str(row[0] or "")
