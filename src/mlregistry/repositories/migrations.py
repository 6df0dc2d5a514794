"""Run Alembic programmatically (`mlregistry serve` and `mlregistry db upgrade`)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from mlregistry.settings import Settings


def migrations_directory(settings: Settings) -> Path:
    candidates = [settings.migrations_dir] if settings.migrations_dir else []
    candidates.append(Path(__file__).resolve().parents[3] / "migrations")  # source checkout
    candidates.append(Path("/app/migrations"))  # container image
    for candidate in candidates:
        if (candidate / "env.py").is_file():
            return candidate
    raise RuntimeError("Alembic migrations not found; set MLREGISTRY_MIGRATIONS_DIR")


def alembic_config(settings: Settings) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_directory(settings)))
    config.attributes["settings"] = settings
    return config


def upgrade_to_head(settings: Settings) -> None:
    """Apply every pending revision. Blocking: call it before the event loop starts or in a thread."""
    command.upgrade(alembic_config(settings), "heads")
