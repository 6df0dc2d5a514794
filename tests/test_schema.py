"""The migrated schema matches the ORM exactly (no drift), on SQLite and Postgres."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from mlregistry.orm import Base
from mlregistry.repositories.database import create_database
from mlregistry.repositories.migrations import upgrade_to_head
from tests.conftest import PostgresDatabases, make_settings


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_migrations_produce_the_orm_schema(
    backend: str, tmp_path: Path, postgres_databases: PostgresDatabases | None
) -> None:
    settings = make_settings(backend, tmp_path, postgres_databases)
    upgrade_to_head(settings)
    upgrade_to_head(settings)  # idempotent: a second run finds nothing to do

    async def compare() -> list[Any]:
        database = create_database(settings)
        try:
            async with database.engine.connect() as connection:
                return await connection.run_sync(_differences)
        finally:
            await database.dispose()

    assert asyncio.run(compare()) == []
