"""Run Alembic programmatically (`mlregistry serve` and `mlregistry db upgrade`)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from mlregistry.repositories.database import Database
from mlregistry.settings import Settings


def migrations_directory(settings: Settings) -> Path:
    """The revisions this install carries: an explicit MLREGISTRY_MIGRATIONS_DIR, else the copy inside the
    installed package (every wheel has one), else a source checkout's top-level folder."""
    candidates = [settings.migrations_dir] if settings.migrations_dir else []
    candidates.append(Path(__file__).resolve().parents[1] / "migrations")  # installed package
    candidates.append(Path(__file__).resolve().parents[3] / "migrations")  # source checkout
    for candidate in candidates:
        if (candidate / "env.py").is_file():
            return candidate
    searched = ", ".join(str(candidate) for candidate in candidates)
    raise RuntimeError(f"Alembic migrations not found (looked in {searched}); set MLREGISTRY_MIGRATIONS_DIR")


def alembic_config(settings: Settings) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_directory(settings)))
    config.attributes["settings"] = settings
    return config


def upgrade_to_head(settings: Settings) -> None:
    """Apply every pending revision. Blocking: call it before the event loop starts or in a thread."""
    command.upgrade(alembic_config(settings), "heads")


def head_revisions(settings: Settings) -> set[str]:
    """The revisions this release's migrations end at."""
    return set(ScriptDirectory.from_config(alembic_config(settings)).get_heads())


def unknown_revisions(settings: Settings, revisions: set[str]) -> set[str]:
    """Those of `revisions` that this release has no migration for (a newer release wrote them)."""
    script = ScriptDirectory.from_config(alembic_config(settings))
    known = {revision.revision for revision in script.walk_revisions()}
    return revisions - known


async def applied_revisions(database: Database) -> set[str] | None:
    """The revisions the database is at; None when it has no schema at all (a new, empty database)."""
    async with database.session(write=False) as session:
        connection = await session.connection()
        has_table = await connection.run_sync(lambda sync: inspect(sync).has_table("alembic_version"))
        if not has_table:
            return None
        return set((await session.scalars(text("SELECT version_num FROM alembic_version"))).all())
