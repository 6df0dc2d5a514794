"""Queries of export and import: an ML repo's rows streamed table by table, and inserted in batches."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import Select, Table, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from mlregistry.orm import (
    AuditEvent,
    DataDirectory,
    Entity,
    EntityVersion,
    LabelInterval,
    MlRepo,
    MlRepoCollaborator,
    VersionTag,
)
from mlregistry.orm.artifacts import VersionFile
from mlregistry.orm.runs import Run, RunLatestMetric, RunMetric, RunParam, RunTag
from mlregistry.repositories.versions import STATE_FINALIZED

STREAM_BATCH = 1000

ML_REPOS: Table = MlRepo.__table__  # type: ignore[assignment]
COLLABORATORS: Table = MlRepoCollaborator.__table__  # type: ignore[assignment]
ENTITIES: Table = Entity.__table__  # type: ignore[assignment]
VERSIONS: Table = EntityVersion.__table__  # type: ignore[assignment]
VERSION_TAGS: Table = VersionTag.__table__  # type: ignore[assignment]
VERSION_FILES: Table = VersionFile.__table__  # type: ignore[assignment]
DATA_DIRECTORIES: Table = DataDirectory.__table__  # type: ignore[assignment]
RUNS: Table = Run.__table__  # type: ignore[assignment]
RUN_PARAMS: Table = RunParam.__table__  # type: ignore[assignment]
RUN_TAGS: Table = RunTag.__table__  # type: ignore[assignment]
RUN_METRICS: Table = RunMetric.__table__  # type: ignore[assignment]
RUN_LATEST_METRICS: Table = RunLatestMetric.__table__  # type: ignore[assignment]
LABEL_INTERVALS: Table = LabelInterval.__table__  # type: ignore[assignment]


def _finalized_versions(ml_repo_id: int) -> Any:
    return (VERSIONS.c.ml_repo_id == ml_repo_id) & (VERSIONS.c.state == STATE_FINALIZED)


def repo_statement(ml_repo_id: int) -> Select[Any]:
    return select(ML_REPOS).where(ML_REPOS.c.id == ml_repo_id)


def collaborators_statement(ml_repo_id: int) -> Select[Any]:
    return select(COLLABORATORS).where(COLLABORATORS.c.ml_repo_id == ml_repo_id).order_by(COLLABORATORS.c.principal)


def entities_statement(ml_repo_id: int) -> Select[Any]:
    return select(ENTITIES).where(ENTITIES.c.ml_repo_id == ml_repo_id).order_by(ENTITIES.c.id)


def versions_statement(ml_repo_id: int) -> Select[Any]:
    """Finalized versions only: a stage still open (or failed) is not part of what the repo holds."""
    return select(VERSIONS).where(_finalized_versions(ml_repo_id)).order_by(VERSIONS.c.id)


# A tag record is (entity, tag, version): the copies of the version's columns are the importer's to fill.
ARCHIVED_VERSION_TAG_COLUMNS = ("entity_id", "tag", "version_id")


def version_tags_statement(ml_repo_id: int) -> Select[Any]:
    return (
        select(*(VERSION_TAGS.c[name] for name in ARCHIVED_VERSION_TAG_COLUMNS))
        .join(VERSIONS, VERSIONS.c.id == VERSION_TAGS.c.version_id)
        .where(_finalized_versions(ml_repo_id))
        .order_by(VERSION_TAGS.c.entity_id, VERSION_TAGS.c.tag)
    )


def version_files_statement(ml_repo_id: int) -> Select[Any]:
    """Each recorded file with its version's storage root (where its bytes are)."""
    return (
        select(VERSION_FILES, VERSIONS.c.storage_root, VERSIONS.c.ml_repo_id)
        .join(VERSIONS, VERSIONS.c.id == VERSION_FILES.c.version_id)
        .where(_finalized_versions(ml_repo_id))
        .order_by(VERSION_FILES.c.version_id, VERSION_FILES.c.path)
    )


def data_directories_statement(ml_repo_id: int) -> Select[Any]:
    return select(DATA_DIRECTORIES).where(DATA_DIRECTORIES.c.ml_repo_id == ml_repo_id).order_by(DATA_DIRECTORIES.c.id)


def runs_statement(ml_repo_id: int) -> Select[Any]:
    return select(RUNS).where(RUNS.c.ml_repo_id == ml_repo_id).order_by(RUNS.c.id)


def run_rows_statement(table: Table, ml_repo_id: int) -> Select[Any]:
    """The params, tags or metric points of the repo's runs (metric points without their row id)."""
    columns = [column for column in table.columns if column.name != "id"]
    order = [table.c.run_id, table.c.key] + ([table.c.step, table.c.timestamp, table.c.id] if "id" in table.c else [])
    return (
        select(*columns).join(RUNS, RUNS.c.id == table.c.run_id).where(RUNS.c.ml_repo_id == ml_repo_id).order_by(*order)
    )


async def stream(session: AsyncSession, statement: Select[Any]) -> AsyncIterator[dict[str, Any]]:
    """The rows of `statement` as column-name mappings, fetched in batches (never all in memory)."""
    result = await session.stream(statement.execution_options(yield_per=STREAM_BATCH))
    async for row in result.mappings():
        yield dict(row)


async def repo_id_by_name(session: AsyncSession, name: str) -> int | None:
    found: int | None = await session.scalar(select(ML_REPOS.c.id).where(ML_REPOS.c.name == name))
    return found


async def insert_repo(session: AsyncSession, values: dict[str, Any]) -> int:
    new_id: int = (await session.execute(insert(ML_REPOS).values(**values).returning(ML_REPOS.c.id))).scalar_one()
    return new_id


async def insert_rows(session: AsyncSession, table: Table, rows: list[dict[str, Any]]) -> None:
    if rows:
        await session.execute(insert(table), rows)


async def refresh_statistics(session: AsyncSession, tables: list[Table]) -> None:
    """Have the planner's statistics cover rows written in bulk.

    Without them (autovacuum has not come round yet, or is off) PostgreSQL plans a freshly imported
    repo of 100,000 versions as if its tables were empty, and lists of it take seconds-long paths. SQLite's
    statistics are shared by its connections, refreshed here at the bounded sample its connections use."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text(f"ANALYZE {', '.join(sorted({table.name for table in tables}))}"))
    else:
        await session.execute(text("ANALYZE"))


async def import_export_ids(session: AsyncSession, ml_repo_id: int) -> list[str]:
    """The archives (by export id) that an ML repo was imported from, as its audit trail records them."""
    details = await session.scalars(
        select(AuditEvent.details).where(
            AuditEvent.resource_type == "ml-repo",
            AuditEvent.resource_id == str(ml_repo_id),
            AuditEvent.action == "import",
        )
    )
    return [str(detail.get("export_id")) for detail in details if isinstance(detail, dict)]
