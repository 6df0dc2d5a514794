"""Alembic environment: one revision history for SQLite and Postgres."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from mlregistry.orm import Base
from mlregistry.repositories.database import create_database
from mlregistry.settings import Settings

target_metadata = Base.metadata


def _settings() -> Settings:
    given = context.config.attributes.get("settings")
    return given if isinstance(given, Settings) else Settings()


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # Several replicas may start at once: one migrates, the others wait and find nothing to do.
            connection.exec_driver_sql("SELECT pg_advisory_xact_lock(7294016)")
        context.run_migrations()


async def _run_online() -> None:
    database = create_database(_settings())
    try:
        async with database.engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await database.dispose()


if context.is_offline_mode():
    context.configure(url=_settings().effective_database_url, target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_online())
