"""Entities (models, artifacts, prompts) and their versions: one set of queries for every family."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple
from typing import cast as as_type

from sqlalchemy import (
    JSON,
    BindParameter,
    Integer,
    Select,
    String,
    Table,
    Text,
    and_,
    bindparam,
    case,
    cast,
    delete,
    exists,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased, defer

from mlregistry.orm import ApplyIdempotencyKey, AuditEvent, Entity, EntityVersion, LabelInterval, MlRepo, VersionTag
from mlregistry.repositories.access import Access, AccessScope, Guarded
from mlregistry.repositories.database import load_document
from mlregistry.repositories.ml_repos import repo_id_named

STATE_STAGED = "STAGED"
STATE_FINALIZED = "FINALIZED"
STATE_FAILED = "FAILED"

LABEL_TAG = "tag"
LABEL_ALIAS = "alias"


class VersionRecord(NamedTuple):
    """A version's columns as a list page reads them: what the presenters show, without an ORM instance
    (identity map, instrumentation, change tracking), which cost a sixth of a 100-version page. Read-only:
    a change goes through `EntityVersion`."""

    id: str
    entity_id: str
    ml_repo_id: int
    family: str
    version: int | None
    state: str
    manifest: dict[str, Any]
    version_alias: str | None
    run_id: str | None
    step: int
    storage_root: str | None
    tags: list[str]
    metrics: list[dict[str, Any]]
    created_by_subject: dict[str, Any]
    created_at: datetime
    updated_at: datetime


_RECORD_COLUMNS = tuple(EntityVersion.__table__.columns[name] for name in VersionRecord._fields)
# A list reads the JSON documents as their stored text and decodes them itself (`ListedVersions`).
_DOCUMENT_FIELDS = ("manifest", "tags", "metrics", "created_by_subject")
_LISTED_COLUMNS = tuple(
    cast(column, Text).label(column.key) if column.key in _DOCUMENT_FIELDS else column for column in _RECORD_COLUMNS
)
assert {column.key for column in EntityVersion.__table__.columns} == set(VersionRecord._fields), "a column is missing"


@dataclass
class _VersionInRepo:
    entity_name: str
    access: Access[MlRepo]

    @property
    def ml_repo_name(self) -> str:
        return self.access.resource.name


@dataclass
class VersionRow(_VersionInRepo):
    version: EntityVersion


class VersionRecordRow(NamedTuple):
    """A list page's row: the version as a read-only record, with its entity's and repo's names."""

    version: VersionRecord
    entity_name: str
    ml_repo_name: str


@dataclass
class EntityRow:
    entity: Entity
    access: Access[MlRepo]
    latest: EntityVersion | None

    @property
    def ml_repo_name(self) -> str:
        return self.access.resource.name


class EntityRecord(NamedTuple):
    """An entity's columns as a list page reads them, without an ORM instance (identity map,
    instrumentation, change tracking: most of a one-model page's database layer). Read-only: a change goes
    through `Entity`."""

    id: str
    ml_repo_id: int
    family: str
    name: str
    last_version_number: int
    version_count: int
    latest_version_id: str | None
    replay_digest: str | None
    replay_until: datetime | None
    created_by_subject: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class ListedEntityRow(NamedTuple):
    """An entity list page's row: the entity and its latest version as read-only records, with its repo's
    name and, when asked for, the steps of its versions' runs. A list is filtered by the caller's scope in
    its statement, so a row carries no rank."""

    entity: EntityRecord
    ml_repo_name: str
    latest: VersionRecord | None
    run_steps: list[int]


@dataclass
class VersionFilters:
    family: str
    entity_id: str | None = None
    ml_repo_id: int | None = None
    ml_repo_name: str | None = None
    name: str | None = None
    version: int | None = None
    tag: str | None = None
    run_ids: Sequence[str] = field(default_factory=list)
    run_steps: Sequence[int] = field(default_factory=list)
    as_of: datetime | None = None  # versions that existed then; `tag` as it was then


@dataclass
class EntityFilters:
    family: str
    ml_repo_id: int | None = None
    ml_repo_name: str | None = None
    name: str | None = None
    run_id: str | None = None
    include_empty: bool = True


def _insert(session: AsyncSession) -> Any:
    """The dialect's INSERT, which offers ON CONFLICT on both databases."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


async def upsert_entity(
    session: AsyncSession,
    *,
    entity_id: str,
    ml_repo_id: int,
    family: str,
    name: str,
    created_by_subject: dict[str, Any],
    now: datetime,
) -> tuple[str, str | None]:
    """Create the entity if missing; return its id and latest version id either way.

    One statement, safe under concurrency. On Postgres it also leaves the entity row locked until commit
    (the insert, or the conflict's update), which serializes the entity's applies from here on."""
    insert = _insert(session)
    statement = (
        insert(Entity)
        .values(
            id=entity_id,
            ml_repo_id=ml_repo_id,
            family=family,
            name=name,
            last_version_number=0,
            created_by_subject=created_by_subject,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_update(index_elements=["ml_repo_id", "family", "name"], set_={"updated_at": now})
        .returning(Entity.id, Entity.latest_version_id)
    )
    entity_id, latest_version_id = (await session.execute(statement)).one()
    return str(entity_id), latest_version_id


@dataclass(frozen=True)
class Allocation:
    """What `upsert_entity_allocating` did: the entity, and either the number taken for the new version or,
    when the entity's last apply matched (a likely replay), no number and the version that apply made."""

    entity_id: str
    number: int | None
    replay_of: str | None = None


_UPSERT_ALLOCATING: dict[str, Any] = {}


def _statement_for_dialect(session: AsyncSession, built: dict[str, Any], build: Callable[[Any], Any]) -> Any:
    """A statement built once per process and dialect (`build` gets the dialect's INSERT): building one
    per request costs more than executing it."""
    dialect = session.get_bind().dialect.name
    statement = built.get(dialect)
    if statement is None:
        statement = built[dialect] = build(_insert(session))
    return statement


def _upsert_allocating(insert: Any) -> Any:
    entities = Entity.__table__.c
    now = bindparam("now", type_=entities.updated_at.type)
    replay_until = bindparam("replay_until", type_=entities.replay_until.type)
    version_id = bindparam("version_id", type_=entities.latest_version_id.type)
    # A NULL digest compares as unknown, so without one no apply is a repeat.
    repeat = and_(entities.replay_digest == bindparam("replay_digest"), entities.replay_until > now)
    return (
        insert(Entity.__table__)
        .values(
            id=bindparam("entity_id"),
            ml_repo_id=bindparam("ml_repo_id"),
            family=bindparam("family"),
            name=bindparam("name"),
            last_version_number=1,
            version_count=1,
            latest_version_id=version_id,
            replay_digest=bindparam("replay_digest"),
            replay_until=replay_until,
            created_by_subject=bindparam("created_by_subject", type_=entities.created_by_subject.type),
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_update(
            index_elements=["ml_repo_id", "family", "name"],
            set_={
                "last_version_number": case(
                    (repeat, entities.last_version_number), else_=entities.last_version_number + 1
                ),
                "version_count": case((repeat, entities.version_count), else_=entities.version_count + 1),
                "latest_version_id": case((repeat, entities.latest_version_id), else_=version_id),
                "replay_until": case((repeat, entities.replay_until), else_=replay_until),
                "replay_digest": bindparam("replay_digest"),
                "updated_at": case((repeat, entities.updated_at), else_=now),
            },
        )
        .returning(entities.id, entities.last_version_number, entities.latest_version_id)
    )


def _allocation_parameters(
    entity_id: str,
    ml_repo_id: int,
    family: str,
    name: str,
    version_id: str,
    replay_digest: str | None,
    replay_until: datetime | None,
    created_by_subject: dict[str, Any],
    now: datetime,
) -> dict[str, Any]:
    """The parameters of `_upsert_allocating`'s statement."""
    return {
        "entity_id": entity_id,
        "ml_repo_id": ml_repo_id,
        "family": family,
        "name": name,
        "version_id": version_id,
        "replay_digest": replay_digest,
        "replay_until": replay_until,
        "created_by_subject": created_by_subject,
        "now": now,
    }


async def upsert_entity_allocating(
    session: AsyncSession,
    *,
    entity_id: str,
    ml_repo_id: int,
    family: str,
    name: str,
    version_id: str,
    created_by_subject: dict[str, Any],
    now: datetime,
    replay_digest: str | None = None,
    replay_until: datetime | None = None,
) -> Allocation:
    """Create the entity if missing and take its next version number, in one statement.

    `version_id` becomes the entity's latest. The statement is atomic and leaves the entity row locked until
    commit on Postgres (SQLite serializes writers), so concurrent writers on any number of processes get
    distinct consecutive numbers, as with `allocate_next_version`.

    With `replay_digest` (caller and manifest) the same statement compares it with the entity's last apply:
    when it matches before `replay_until` of that apply, nothing changes and the answer names the latest
    version instead of a number. The caller checks that version and either answers it or takes a number with
    `allocate_next_version` (the row is still locked by this writer). A concurrent identical apply waits for
    the lock and so sees the apply it repeats."""
    statement = _statement_for_dialect(session, _UPSERT_ALLOCATING, _upsert_allocating)
    parameters = _allocation_parameters(
        entity_id, ml_repo_id, family, name, version_id, replay_digest, replay_until, created_by_subject, now
    )
    found_id, number, latest = (await session.execute(statement, parameters)).one()
    if latest != version_id:
        return Allocation(entity_id=str(found_id), number=None, replay_of=latest)
    return Allocation(entity_id=str(found_id), number=int(number))


# What a one-statement create puts where the version number goes in a stored document (a manifest, an audit
# row's details): the statement splits the document's JSON text there and writes the number it allocates.
NUMBER_MARK = "\x00mlregistry-version-number\x00"
_MARK_TEXT = json.dumps(NUMBER_MARK)
_CREATE_IN_ONE_STATEMENT: dict[str, Any] = {}


def split_at_number(document: dict[str, Any]) -> tuple[str, str] | None:
    """The JSON text of `document` (as the engine would store it) before and after its one NUMBER_MARK value;
    None when the mark is not there exactly once (a document that holds the mark text itself)."""
    text = json.dumps(document)
    head, found, tail = text.partition(_MARK_TEXT)
    if not found or _MARK_TEXT in tail or _MARK_TEXT in head:
        return None
    return head, tail


def creates_in_one_statement(session: AsyncSession) -> bool:
    """PostgreSQL writes a new version, its entity's number and its audit row in one statement."""
    return bool(session.get_bind().dialect.name == "postgresql")


def _create_in_one_statement(insert: Any) -> Any:
    """WITH allocated AS (the upsert that takes the number), created AS (INSERT the version, numbered, when the
    upsert took a number for it), INSERT the audit row for it; SELECT what the upsert did.

    The version's creation time is taken after the entity row is locked, so creation order follows numbering
    across concurrent writers (the next writer waits for this one's commit)."""
    created_type = _VERSIONS.c.created_at.type
    allocated = (
        _upsert_allocating(insert)
        .returning(func.clock_timestamp(type_=created_type).label("created_at"))
        .cte("allocated")
    )

    def numbered(text_before: str, text_after: str, number: Any) -> Any:
        before = bindparam(text_before, type_=Text)
        return cast(before + cast(number, Text) + bindparam(text_after, type_=Text), JSON)

    created = (
        insert(_VERSIONS)
        .from_select(
            list(_VERSION_COLUMNS),
            select(
                *(
                    {
                        "id": bindparam("version_id", type_=_VERSIONS.c.id.type),
                        "entity_id": allocated.c.id,
                        "ml_repo_id": bindparam("ml_repo_id", type_=_VERSIONS.c.ml_repo_id.type),
                        "family": bindparam("family", type_=_VERSIONS.c.family.type),
                        "version": allocated.c.last_version_number,
                        "state": literal(STATE_FINALIZED, type_=_VERSIONS.c.state.type),
                        "manifest": numbered("manifest_before", "manifest_after", allocated.c.last_version_number),
                        "version_alias": null(),
                        "run_id": bindparam("run_id", type_=_VERSIONS.c.run_id.type),
                        "step": bindparam("step", type_=_VERSIONS.c.step.type),
                        "storage_root": bindparam("storage_root", type_=_VERSIONS.c.storage_root.type),
                        "tags": cast(literal("[]", type_=Text), JSON),
                        "metrics": cast(literal("[]", type_=Text), JSON),
                        "created_by_subject": bindparam(
                            "created_by_subject", type_=_VERSIONS.c.created_by_subject.type
                        ),
                        "created_at": allocated.c.created_at,
                        "updated_at": allocated.c.created_at,
                    }[column]
                    for column in _VERSION_COLUMNS
                )
            ).where(allocated.c.latest_version_id == bindparam("version_id", type_=_VERSIONS.c.id.type)),
        )
        .returning(_VERSIONS.c.version)
        .cte("created")
    )
    audit_columns = _AUDIT_EVENTS.c
    audited = insert(_AUDIT_EVENTS).from_select(
        [*_AUDIT_PARAMETERS, "details"],
        select(
            *(bindparam(f"audit_{key}", type_=audit_columns[key].type) for key in _AUDIT_PARAMETERS),
            numbered("details_before", "details_after", created.c.version),
        ),
    )
    audited_cte = audited.cte("audited")
    return select(
        allocated.c.id, allocated.c.last_version_number, allocated.c.latest_version_id, allocated.c.created_at
    ).add_cte(created, audited_cte)


_AUDIT_PARAMETERS = (
    "occurred_at",
    "subject_id",
    "subject_type",
    "subject_slug",
    "subject",
    "token_id",
    "action",
    "resource_type",
    "resource_id",
)


@dataclass(frozen=True)
class Created:
    """What `create_in_one_statement` did: `number` and `created_at` of the new version, or (no number) the
    version of the entity's last apply when that apply matched this one's replay digest (nothing written)."""

    entity_id: str
    number: int | None
    created_at: datetime | None = None
    replay_of: str | None = None


async def create_in_one_statement(
    session: AsyncSession,
    *,
    entity_id: str,
    version_id: str,
    ml_repo_id: int,
    family: str,
    name: str,
    manifest: tuple[str, str],
    run_id: str | None,
    step: int,
    storage_root: str | None,
    created_by_subject: dict[str, Any],
    audit_row: dict[str, Any],
    audit_details: tuple[str, str],
    now: datetime,
    replay_digest: str | None = None,
    replay_until: datetime | None = None,
) -> Created:
    """Create the entity if missing, take its next number, write the version and its audit row: one statement
    (PostgreSQL), atomic on its own, so it needs no transaction around it. `manifest` and `audit_details`
    are the documents' JSON text before and after the number (`split_at_number`). The replay digest is
    compared as in `upsert_entity_allocating`; on a match nothing is written and `replay_of` names the
    version to check."""
    statement = _statement_for_dialect(session, _CREATE_IN_ONE_STATEMENT, _create_in_one_statement)
    parameters = {
        **_allocation_parameters(
            entity_id, ml_repo_id, family, name, version_id, replay_digest, replay_until, created_by_subject, now
        ),
        "manifest_before": manifest[0],
        "manifest_after": manifest[1],
        "run_id": run_id,
        "step": step,
        "storage_root": storage_root,
        "details_before": audit_details[0],
        "details_after": audit_details[1],
        **{f"audit_{key}": audit_row[key] for key in _AUDIT_PARAMETERS},
    }
    found_id, number, latest, created_at = (await session.execute(statement, parameters)).one()
    if latest != version_id:
        return Created(entity_id=str(found_id), number=None, replay_of=latest)
    return Created(entity_id=str(found_id), number=int(number), created_at=created_at)


async def get_version(session: AsyncSession, version_id: str) -> EntityVersion | None:
    return await session.get(EntityVersion, version_id)


async def allocate_next_version(
    session: AsyncSession,
    entity_id: str,
    version_id: str,
    now: datetime,
    *,
    replay_digest: str | None = None,
    replay_until: datetime | None = None,
) -> int:
    """Take the entity's next number and make `version_id` its latest, without reading other versions.

    The row update is atomic (and row-locked on Postgres until commit), so concurrent writers on any
    number of processes get distinct consecutive numbers; a rolled-back writer takes its number back.
    The apply's replay digest is remembered as the entity's last (none: no repeat of it is a replay).
    """
    statement = (
        update(Entity)
        .where(Entity.id == entity_id)
        .values(
            last_version_number=Entity.last_version_number + 1,
            version_count=Entity.version_count + 1,
            latest_version_id=version_id,
            replay_digest=replay_digest,
            replay_until=replay_until,
            updated_at=now,
        )
        .returning(Entity.last_version_number)
    )
    return int((await session.execute(statement)).scalar_one())


async def forget_finalized_version(session: AsyncSession, entity_id: str, version_id: str) -> None:
    """Before a finalized version is deleted: one fewer version, and the latest is the highest other one.

    Run before the delete, this update takes the entity's row lock first, as tag and alias moves do."""
    newest = (
        select(EntityVersion.id)
        .where(
            EntityVersion.entity_id == entity_id,
            EntityVersion.state == STATE_FINALIZED,
            EntityVersion.id != version_id,
        )
        .order_by(EntityVersion.version.desc())
        .limit(1)
        .scalar_subquery()
    )
    await session.execute(
        update(Entity)
        .where(Entity.id == entity_id)
        .values(latest_version_id=newest, version_count=Entity.version_count - 1)
    )


async def get_entity_row(session: AsyncSession, scope: AccessScope, entity_id: str, family: str) -> EntityRow | None:
    rows = await _entity_rows(
        session, scope, _entity_select(scope).where(Entity.id == entity_id, Entity.family == family)
    )
    return rows[0] if rows else None


async def find_entity(session: AsyncSession, ml_repo_id: int, family: str, name: str) -> Entity | None:
    return await session.scalar(
        select(Entity).where(Entity.ml_repo_id == ml_repo_id, Entity.family == family, Entity.name == name)
    )


# Rows of a list need their ML repo's name, id, storage and owner, never its documents (the manifest can be
# kilobytes, read again for each of a page's rows).
_REPO_DOCUMENTS_UNREAD = (defer(MlRepo.manifest, raiseload=True), defer(MlRepo.created_by_subject, raiseload=True))


# Built once: an alias costs a copy of every column each time it is made.
_LATEST = aliased(EntityVersion, name="latest_version")


def _entity_select(scope: AccessScope) -> Select[Any]:
    latest = _LATEST
    return (
        select(Entity, MlRepo, scope.rank_column(MlRepo.id), latest)
        .join(MlRepo, MlRepo.id == Entity.ml_repo_id)
        .outerjoin(latest, latest.id == Entity.latest_version_id)
        .options(*_REPO_DOCUMENTS_UNREAD)
    )


async def _entity_rows(session: AsyncSession, scope: AccessScope, statement: Select[Any]) -> list[EntityRow]:
    result = await session.execute(statement)
    return [EntityRow(entity=row[0], access=scope.access(row[1], row[2]), latest=row[3]) for row in result.all()]


def _entity_conditions(filters: EntityFilters, scope: AccessScope) -> list[Any]:
    conditions: list[Any] = [Entity.family == filters.family]
    if filters.ml_repo_id is not None:
        conditions.append(Entity.ml_repo_id == filters.ml_repo_id)
    if filters.ml_repo_name is not None:
        conditions.append(Entity.ml_repo_id == repo_id_named(filters.ml_repo_name))
    if filters.name is not None:
        conditions.append(Entity.name == filters.name)
    if filters.run_id is not None:
        conditions.append(
            exists().where(
                EntityVersion.entity_id == Entity.id,
                EntityVersion.run_id == filters.run_id,
                EntityVersion.state == STATE_FINALIZED,
            )
        )
    if not filters.include_empty:
        conditions.append(Entity.latest_version_id.is_not(None))
    scoped = scope.clause(Entity.ml_repo_id)
    if scoped is not None:
        conditions.append(scoped)
    return conditions


_ENTITY_OPTIONAL_FILTERS = ("ml_repo_id", "ml_repo_name", "name", "run_id")


@dataclass(frozen=True)
class _EntityListShape:
    """What an entity list's statements depend on besides the values they are executed with."""

    present: tuple[bool, ...]  # which optional filters are given, in `_ENTITY_OPTIONAL_FILTERS` order
    include_empty: bool
    run_steps: bool
    noun: str
    unrestricted: bool
    granted: bool
    guarded: Guarded = field(compare=False)


# As `_LIST_STATEMENTS`, for the entity lists: (page, count) by shape.
_ENTITY_LIST_STATEMENTS: dict[_EntityListShape, tuple[Select[Any], Select[Any]]] = {}


_ENTITY_RECORD_COLUMNS = tuple(Entity.__table__.columns[name] for name in EntityRecord._fields)
assert {column.key for column in Entity.__table__.columns} == set(EntityRecord._fields), "an entity column is missing"
_LATEST_TABLE = EntityVersion.__table__.alias("latest_version")
_LATEST_RECORD_COLUMNS = tuple(_LATEST_TABLE.columns[name] for name in VersionRecord._fields)
_ENTITY_WIDTH = len(_ENTITY_RECORD_COLUMNS)
_LATEST_AT = _ENTITY_WIDTH + 1  # after the entity's columns and its repo's name
_ENTITY_TOTAL_AT = _LATEST_AT + len(_LATEST_RECORD_COLUMNS)


def _build_entity_list_statements(shape: _EntityListShape) -> tuple[Select[Any], Select[Any]]:
    template: Any = EntityFilters(family=as_type(Any, bindparam("family")), include_empty=shape.include_empty)
    for name, given in zip(_ENTITY_OPTIONAL_FILTERS, shape.present, strict=True):
        if given:
            setattr(template, name, bindparam(name))
    filters: EntityFilters = template
    scope = AccessScope.clause_template(shape.guarded, unrestricted=shape.unrestricted, granted=shape.granted)
    conditions = _entity_conditions(filters, scope)
    counted = select(func.count()).select_from(Entity).where(*conditions)
    # Plain table columns (no ORM entities), read as rows: the entity, its repo's name (all a list item
    # shows of the repo), its latest version, then the exact total.
    latest = _LATEST_TABLE
    statement = (
        select(*_ENTITY_RECORD_COLUMNS, MlRepo.__table__.c.name, *_LATEST_RECORD_COLUMNS)
        .select_from(Entity.__table__)
        .join(MlRepo.__table__, MlRepo.__table__.c.id == Entity.__table__.c.ml_repo_id)
        .outerjoin(latest, latest.c.id == Entity.__table__.c.latest_version_id)
        .add_columns(counted.correlate(None).scalar_subquery())
    )
    if shape.run_steps:
        statement = statement.add_columns(_run_steps_column(filters.run_id))
    page = (
        statement.where(*conditions)
        .order_by(Entity.created_at.desc(), Entity.id.desc())
        .offset(bindparam("page_offset", type_=Integer))
        .limit(bindparam("page_limit", type_=Integer))
    )
    return page, counted


async def list_entities(
    session: AsyncSession,
    filters: EntityFilters,
    scope: AccessScope,
    *,
    offset: int,
    limit: int,
    run_steps: bool = False,
) -> tuple[list[ListedEntityRow], int]:
    """A page of entities and the exact total, in one statement: the count is a subquery evaluated once
    beside the page. `run_steps`: each row also brings its entity's steps (`ListedEntityRow.run_steps`).

    The statements are built once per shape of list and run with the filters and the caller's scope as
    parameters, as the version lists' are."""
    shape = _EntityListShape(
        present=tuple(getattr(filters, name) is not None for name in _ENTITY_OPTIONAL_FILTERS),
        include_empty=filters.include_empty,
        run_steps=run_steps,
        noun=scope.guarded.noun,
        unrestricted=scope.unrestricted,
        granted=bool(scope.granted_names),
        guarded=scope.guarded,
    )
    statements = _ENTITY_LIST_STATEMENTS.get(shape)
    if statements is None:
        statements = _ENTITY_LIST_STATEMENTS[shape] = _build_entity_list_statements(shape)
    statement, counted = statements
    parameters: dict[str, Any] = {"family": filters.family, **scope.clause_parameters()}
    for name in _ENTITY_OPTIONAL_FILTERS:
        value = getattr(filters, name)
        if value is not None:
            parameters[name] = value
    connection = await session.connection()
    result = await connection.execute(statement, {**parameters, "page_offset": offset, "page_limit": limit})
    page: list[ListedEntityRow] = []
    total = 0
    for row in result.all():
        latest = row[_LATEST_AT:_ENTITY_TOTAL_AT]
        page.append(
            ListedEntityRow(
                entity=EntityRecord._make(row[:_ENTITY_WIDTH]),
                ml_repo_name=row[_ENTITY_WIDTH],
                latest=VersionRecord._make(latest) if latest[0] is not None else None,
                run_steps=_parse_steps(row[_ENTITY_TOTAL_AT + 1]) if run_steps else [],
            )
        )
        total = int(row[_ENTITY_TOTAL_AT])
    if not page and offset > 0:  # past the end: the page brought no row to carry the count
        total = int((await connection.execute(counted, parameters)).scalar() or 0)
    return page, total


def _run_steps_column(run_id: str | None) -> Any:
    """The entity's steps of its finalized versions that name a run (that run only, if given), as one
    comma-separated string: one value per entity, however many versions it has."""
    return (
        select(func.aggregate_strings(cast(EntityVersion.step, String), ","))
        .where(
            EntityVersion.entity_id == Entity.id,
            EntityVersion.state == STATE_FINALIZED,
            EntityVersion.run_id.is_not(None) if run_id is None else EntityVersion.run_id == run_id,
        )
        .scalar_subquery()
    )


def _parse_steps(joined: str | None) -> list[int]:
    """Distinct and ascending, as the wire lists them."""
    return sorted({int(step) for step in joined.split(",")}) if joined else []


async def run_steps_of(session: AsyncSession, entity_id: str) -> list[int]:
    """One entity's steps (as `_run_steps_column`), distinct and ascending."""
    joined = await session.scalar(select(_run_steps_column(None)).select_from(Entity).where(Entity.id == entity_id))
    return _parse_steps(joined)


def _version_select(scope: AccessScope) -> Select[Any]:
    return (
        select(EntityVersion, Entity.name, MlRepo, scope.rank_column(MlRepo.id))
        .join(Entity, Entity.id == EntityVersion.entity_id)
        .join(MlRepo, MlRepo.id == EntityVersion.ml_repo_id)
        .options(*_REPO_DOCUMENTS_UNREAD)
    )


def _tag_ordered(filters: VersionFilters, single_entity: bool) -> bool:
    """A current tag across entities: the page is chosen on the tag table's list-order index."""
    return filters.tag is not None and filters.as_of is None and not single_entity


def _version_conditions(filters: VersionFilters, scope: AccessScope, *, tag_ordered: bool = False) -> list[Any]:
    conditions: list[Any] = [EntityVersion.family == filters.family, EntityVersion.state == STATE_FINALIZED]
    if filters.entity_id is not None:
        conditions.append(EntityVersion.entity_id == filters.entity_id)
    if filters.ml_repo_id is not None:
        conditions.append(EntityVersion.ml_repo_id == filters.ml_repo_id)
    if filters.name is not None or filters.ml_repo_name is not None:
        entity_conditions = [Entity.family == filters.family]
        if filters.name is not None:
            entity_conditions.append(Entity.name == filters.name)
        if filters.ml_repo_name is not None:
            entity_conditions.append(Entity.ml_repo_id == repo_id_named(filters.ml_repo_name))
        named = select(Entity.id).where(*entity_conditions)
        if filters.name is not None and (filters.ml_repo_id is not None or filters.ml_repo_name is not None):
            # Repo and name name at most one entity: `=` lets the planner walk (entity_id, version) in order.
            if filters.ml_repo_id is not None:
                named = named.where(Entity.ml_repo_id == filters.ml_repo_id)
            conditions.append(EntityVersion.entity_id == named.scalar_subquery())
        else:
            conditions.append(EntityVersion.entity_id.in_(named))
    if filters.version is not None:
        conditions.append(EntityVersion.version == filters.version)
    if filters.tag is not None and filters.as_of is not None:
        held = select(LabelInterval.version_id).where(
            LabelInterval.kind == LABEL_TAG, LabelInterval.label == filters.tag, *_covers(filters.as_of)
        )
        conditions.append(EntityVersion.id.in_(held))
    elif filters.tag is not None and not tag_ordered:
        conditions.append(EntityVersion.id.in_(select(VersionTag.version_id).where(VersionTag.tag == filters.tag)))
    if filters.as_of is not None:
        conditions.append(EntityVersion.created_at <= filters.as_of)
    if _given(filters.run_ids):
        conditions.append(EntityVersion.run_id.in_(_values(filters.run_ids)))
    if _given(filters.run_steps):
        conditions.append(EntityVersion.step.in_(_values(filters.run_steps)))
    scoped = scope.clause(EntityVersion.ml_repo_id)
    if scoped is not None:
        conditions.append(scoped)
    return conditions


def _given(values: Any) -> bool:
    """An IN filter is given: a template's expanding parameter, or a non-empty list."""
    return isinstance(values, BindParameter) or bool(values)


def _values(values: Any) -> Any:
    """An IN list's values: a template's expanding parameter as it is, else the values."""
    return values if isinstance(values, BindParameter) else list(values)


@dataclass(frozen=True)
class _ListShape:
    """What a version list's statements depend on besides the values they are executed with."""

    present: tuple[bool, ...]  # which optional filters are given, in `_OPTIONAL_FILTERS` order
    noun: str  # the kind of guarded resource (`guarded` holds unhashable role ranks)
    unrestricted: bool
    granted: bool  # the scope names resources granted by name
    first_page: bool  # the page carries the total
    reverse: bool  # the page is read from the other end
    guarded: Guarded = field(compare=False)


_OPTIONAL_FILTERS = ("entity_id", "ml_repo_id", "ml_repo_name", "name", "version", "tag", "as_of")
_EXPANDING_FILTERS = ("run_ids", "run_steps")


@dataclass(frozen=True)
class _ListStatements:
    page: Select[Any]
    count: Select[Any]
    reversed_rows: bool = False  # the page's rows come oldest first


# One statement per shape of list, built once per process and executed with bound parameters: building a
# list's statement and its cache key for every request cost more than its execution in the database.
_LIST_STATEMENTS: dict[_ListShape, _ListStatements] = {}

_LISTED_VERSIONS = EntityVersion.__table__.c
_LISTED_ENTITIES = Entity.__table__.c
_LISTED_REPOS = MlRepo.__table__.c


def _list_shape(filters: VersionFilters, scope: AccessScope, *, first_page: bool, reverse: bool) -> _ListShape:
    present = tuple(getattr(filters, name) is not None for name in _OPTIONAL_FILTERS)
    present += tuple(bool(getattr(filters, name)) for name in _EXPANDING_FILTERS)
    return _ListShape(
        present=present,
        noun=scope.guarded.noun,
        unrestricted=scope.unrestricted,
        granted=bool(scope.granted_names),
        first_page=first_page,
        reverse=reverse,
        guarded=scope.guarded,
    )


def _list_parameters(filters: VersionFilters, scope: AccessScope) -> dict[str, Any]:
    parameters: dict[str, Any] = {"family": filters.family, **scope.clause_parameters()}
    for name in _OPTIONAL_FILTERS:
        value = getattr(filters, name)
        if value is not None:
            parameters[name] = value
    for name in _EXPANDING_FILTERS:
        if getattr(filters, name):
            parameters[name] = list(getattr(filters, name))
    return parameters


def _build_list_statements(shape: _ListShape) -> _ListStatements:
    """The page and count statements of one shape, every filter value a bound parameter (`_list_parameters`)."""
    present = dict(zip(_OPTIONAL_FILTERS + _EXPANDING_FILTERS, shape.present, strict=True))
    template: Any = VersionFilters(family=as_type(Any, bindparam("family")))
    for name in _OPTIONAL_FILTERS:
        if present[name]:
            setattr(template, name, bindparam(name))
    for name in _EXPANDING_FILTERS:
        if present[name]:
            setattr(template, name, bindparam(name, expanding=True))
    scope = AccessScope.clause_template(shape.guarded, unrestricted=shape.unrestricted, granted=shape.granted)
    filters: VersionFilters = template
    single_entity = filters.entity_id is not None or (
        filters.name is not None and (filters.ml_repo_id is not None or filters.ml_repo_name is not None)
    )
    tag_ordered = _tag_ordered(filters, single_entity)
    conditions = _version_conditions(filters, scope, tag_ordered=tag_ordered)
    # Newest first: by number within one entity (the index (entity_id, version)), else by creation time.
    keys: list[Any] = [EntityVersion.version] if single_entity else [EntityVersion.created_at, EntityVersion.id]
    order = [key.desc() for key in keys]
    candidates = select(EntityVersion.id).where(*conditions)
    page_keys: list[Any] = keys
    if tag_ordered:
        # The same order from the tag table's copies of (created_at, id): its index is walked newest first
        # and only the page's versions are read.
        if _only_tag(filters):
            # The page's ids come from that index alone (an index-only scan), as its total does.
            candidates = select(VersionTag.version_id.label("id")).where(*_tag_table_conditions(filters, scope))
        else:
            candidates = (
                select(EntityVersion.id)
                .select_from(VersionTag)
                .join(EntityVersion, EntityVersion.id == VersionTag.version_id)
                .where(*_tag_table_conditions(filters, scope), *conditions)
            )
        page_keys = [VersionTag.version_created_at, VersionTag.version_id]
    counted = _count_versions(filters, scope, conditions, tag_ordered=tag_ordered)
    page_order = [key.asc() if shape.reverse else key.desc() for key in page_keys]
    # Plain table columns (no ORM entity): the page is read as rows, without the ORM's result handling. A
    # list shows its rows' repo by name only; the caller's rank on it is no part of a list item.
    versions, entities, repos = _LISTED_VERSIONS, _LISTED_ENTITIES, _LISTED_REPOS
    statement = (
        select(*_LISTED_COLUMNS, entities.name, repos.name)
        .select_from(EntityVersion.__table__)
        .join(Entity.__table__, entities.id == versions.entity_id)
        .join(MlRepo.__table__, repos.id == versions.ml_repo_id)
    )
    if shape.first_page:
        # The first page, the one most lists ask for: page and exact total in one statement (the count is a
        # subquery evaluated once beside the page; an empty first page means a total of 0).
        statement = statement.add_columns(counted.correlate(None).scalar_subquery())
    offset, limit = bindparam("page_offset", type_=Integer), bindparam("page_limit", type_=Integer)
    if single_entity:
        # One entity's page: its index (entity_id, version) is walked in list order (from the other end for a
        # page past the middle, whose rows `list_versions` turns back) and each row is read once, with the
        # entity and the repo joined one time (their ids are fixed by the filter). A deferred join would read
        # each page row twice and join the entity once per row: twice the buffers.
        statement = statement.where(*conditions).order_by(*page_order).offset(offset).limit(limit)
        return _ListStatements(page=statement, count=counted, reversed_rows=shape.reverse)
    # Deferred join: the page is chosen on the version table alone, walking an index in list order (and
    # skipping an offset over index entries, not over whole rows); only its rows are then joined and read.
    page = candidates.order_by(*page_order).offset(offset).limit(limit).subquery()
    statement = statement.join(page, page.c.id == versions.id).order_by(*order)
    return _ListStatements(page=statement, count=counted)


def _list_statements(
    filters: VersionFilters, scope: AccessScope, *, first_page: bool, reverse: bool
) -> _ListStatements:
    shape = _list_shape(filters, scope, first_page=first_page, reverse=reverse)
    statements = _LIST_STATEMENTS.get(shape)
    if statements is None:
        statements = _LIST_STATEMENTS[shape] = _build_list_statements(shape)
    return statements


async def list_versions(
    session: AsyncSession, filters: VersionFilters, scope: AccessScope, *, offset: int, limit: int
) -> tuple[ListedVersions, int]:
    parameters = _list_parameters(filters, scope)
    connection = await session.connection()
    total: int | None = None
    reverse = False
    if offset != 0:
        counted = _list_statements(filters, scope, first_page=False, reverse=False).count
        total = int((await connection.execute(counted, parameters)).scalar() or 0)
        if offset >= total:
            return ListedVersions([]), total
        # A page past the middle is read from the other end of the same index: the last page of a model with
        # 100,000 versions skips a few entries, not 99,900. The total is exact, so the window is the same.
        if offset > total // 2:
            reverse = True
            offset, limit = max(0, total - offset - limit), min(limit, total - offset)
    statements = _list_statements(filters, scope, first_page=total is None, reverse=reverse)
    rows = (await connection.execute(statements.page, {**parameters, "page_offset": offset, "page_limit": limit})).all()
    if statements.reversed_rows:
        rows.reverse()
    if total is None:
        total = int(rows[0][_RECORD_WIDTH + 2]) if rows else 0
    return ListedVersions([row[:_LISTED_WIDTH] for row in rows]), total


def _tag_table_conditions(filters: VersionFilters, scope: AccessScope) -> list[Any]:
    assert filters.tag is not None
    conditions: list[Any] = [VersionTag.tag == filters.tag, VersionTag.family == filters.family]
    if filters.ml_repo_id is not None:
        conditions.append(VersionTag.ml_repo_id == filters.ml_repo_id)
    scoped = scope.clause(VersionTag.ml_repo_id)
    if scoped is not None:
        conditions.append(scoped)
    return conditions


def _only_tag(filters: VersionFilters) -> bool:
    """A tag-ordered list filtered by nothing the tag table lacks (it has each tagged version's repo and
    family, and holds finalized versions only): its page and total are read on that table alone."""
    return (
        filters.entity_id is None
        and filters.name is None
        and filters.ml_repo_name is None
        and filters.version is None
        and not _given(filters.run_ids)
        and not _given(filters.run_steps)
    )


def _count_versions(
    filters: VersionFilters,
    scope: AccessScope,
    conditions: list[Any],
    *,
    tag_ordered: bool = False,
) -> Select[Any]:
    """The statement of the exact total. Filters that select whole entities read their kept counts (a sum
    over the matching entities, not over their versions); a tag alone (in a repo or everywhere) is an
    index-only count of the tag table, which holds finalized versions only; other filters on version
    attributes count the matching versions."""
    if tag_ordered:
        tag_conditions = _tag_table_conditions(filters, scope)
        counted = select(func.count()).select_from(VersionTag).where(*tag_conditions)
        if not _only_tag(filters):
            counted = counted.join(EntityVersion, EntityVersion.id == VersionTag.version_id).where(*conditions)
        return counted
    per_version = (
        filters.version is not None
        or filters.tag is not None
        or filters.as_of is not None
        or _given(filters.run_ids)
        or _given(filters.run_steps)
    )
    if per_version:
        return select(func.count()).select_from(EntityVersion).where(*conditions)
    entity_conditions: list[Any] = [Entity.family == filters.family]
    if filters.entity_id is not None:
        entity_conditions.append(Entity.id == filters.entity_id)
    if filters.ml_repo_id is not None:
        entity_conditions.append(Entity.ml_repo_id == filters.ml_repo_id)
    if filters.name is not None:
        entity_conditions.append(Entity.name == filters.name)
    if filters.ml_repo_name is not None:
        entity_conditions.append(Entity.ml_repo_id == repo_id_named(filters.ml_repo_name))
    scoped = scope.clause(Entity.ml_repo_id)
    if scoped is not None:
        entity_conditions.append(scoped)
    return select(func.coalesce(func.sum(Entity.version_count), 0)).where(*entity_conditions)


def _version_row(scope: AccessScope, row: Any) -> VersionRow:
    return VersionRow(version=row[0], entity_name=row[1], access=scope.access(row[2], row[3]))


_RECORD_WIDTH = len(_RECORD_COLUMNS)
_LISTED_WIDTH = _RECORD_WIDTH + 2  # the record's columns, then the entity's and the ML repo's names
_MANIFEST_AT = VersionRecord._fields.index("manifest")
_SHARED_DOCUMENTS_AT = tuple(VersionRecord._fields.index(name) for name in ("tags", "metrics", "created_by_subject"))


class ListedAt(NamedTuple):
    """Where a list row's content holds what its item is made of (`ListedVersions.contents`)."""

    id: int
    entity_id: int
    ml_repo_id: int
    version: int
    manifest: int
    version_alias: int
    run_id: int
    tags: int
    metrics: int
    created_by_subject: int
    created_at: int
    updated_at: int
    entity_name: int
    ml_repo_name: int


LISTED_AT = ListedAt._make(
    [VersionRecord._fields.index(name) for name in ListedAt._fields[:-2]] + [_RECORD_WIDTH, _RECORD_WIDTH + 1]
)


class ListedVersions:
    """A list page as read: each row's content (`contents`: the version's columns as stored, its JSON documents
    as their text, then its entity's and ML repo's names), which is all its item is made of, and each row
    decoded on demand (`record`). A page's versions mostly share their creator and their empty tags and
    metrics: a document whose text repeats on the page is decoded once and shared by those records (nothing
    changes a listed record's documents). Manifests differ from version to version."""

    __slots__ = ("contents", "_documents")

    def __init__(self, contents: list[tuple[Any, ...]]) -> None:
        self.contents = contents
        self._documents: dict[str, Any] = {}

    def document(self, text: str | None) -> Any:
        """A shared document's value (tags, metrics, creator), decoded once per distinct text on the page.
        Shared by the records that hold the same text: it is never changed."""
        if text is None:
            return None
        documents = self._documents
        document = documents.get(text, documents)
        if document is documents:
            document = documents[text] = load_document(text)
        return document

    def record(self, content: tuple[Any, ...]) -> VersionRecordRow:
        values = list(content[:_RECORD_WIDTH])
        values[_MANIFEST_AT] = load_document(values[_MANIFEST_AT])
        for at in _SHARED_DOCUMENTS_AT:
            values[at] = self.document(values[at])
        return VersionRecordRow(VersionRecord._make(values), content[_RECORD_WIDTH], content[_RECORD_WIDTH + 1])

    def records(self) -> list[VersionRecordRow]:
        return [self.record(content) for content in self.contents]


_VERSION_BY_ID: dict[tuple[str, bool], Any] = {}


def _version_by_id(scope: AccessScope) -> Select[Any]:
    return _version_select(scope).where(EntityVersion.id == bindparam("version_id"))


async def get_version_row(session: AsyncSession, scope: AccessScope, version_id: str) -> VersionRow | None:
    statement = scope.statement_for(_VERSION_BY_ID, _version_by_id)
    row = (await session.execute(statement, {"version_id": version_id, **scope.parameters()})).first()
    return _version_row(scope, row) if row else None


async def find_version(session: AsyncSession, entity_id: str, version: int) -> EntityVersion | None:
    return await session.scalar(
        select(EntityVersion).where(EntityVersion.entity_id == entity_id, EntityVersion.version == version)
    )


async def find_version_by_storage_root(session: AsyncSession, storage_root: str) -> EntityVersion | None:
    """Locked until commit (Postgres): a concurrent reap or stage failure waits for the finalize to decide."""
    return await session.scalar(
        select(EntityVersion).where(EntityVersion.storage_root == storage_root).limit(1).with_for_update()
    )


_VERSIONS: Table = EntityVersion.__table__  # type: ignore[assignment]
_AUDIT_EVENTS: Table = AuditEvent.__table__  # type: ignore[assignment]
_INSERT_VERSION = insert(_VERSIONS)
_INSERT_AUDIT_EVENT = insert(_AUDIT_EVENTS)
_VERSION_COLUMNS = tuple(_VERSIONS.columns.keys())


async def insert_new_version(session: AsyncSession, version: EntityVersion, audit_row: dict[str, Any]) -> None:
    """A new version and its audit row, in the session's transaction but without its unit of work (the
    common apply: nothing else to write with them). `version` stays a plain object of the request, every
    column set, not in the session."""
    connection = await session.connection()
    columns = version.__dict__
    await connection.execute(_INSERT_VERSION, {key: columns[key] for key in _VERSION_COLUMNS})
    await connection.execute(_INSERT_AUDIT_EVENT, audit_row)


async def add_version(session: AsyncSession, version: EntityVersion) -> None:
    session.add(version)
    await session.flush()


async def delete_version(session: AsyncSession, version_id: str) -> None:
    await session.execute(delete(EntityVersion).where(EntityVersion.id == version_id))


async def delete_entity(session: AsyncSession, entity_id: str) -> None:
    await session.execute(delete(Entity).where(Entity.id == entity_id))


async def versions_by_ids(session: AsyncSession, version_ids: Sequence[str]) -> list[EntityVersion]:
    return list(await session.scalars(select(EntityVersion).where(EntityVersion.id.in_(list(version_ids)))))


async def set_version_tags(session: AsyncSession, version: EntityVersion, tags: Sequence[str]) -> None:
    """Make `tags` exactly the tags of `version` (callers have already released them elsewhere)."""
    entity_id = version.entity_id
    await session.execute(delete(VersionTag).where(VersionTag.version_id == version.id))
    await session.execute(
        delete(VersionTag).where(and_(VersionTag.entity_id == entity_id, VersionTag.tag.in_(list(tags))))
    )
    session.add_all(
        VersionTag(
            entity_id=entity_id,
            tag=tag,
            version_id=version.id,
            ml_repo_id=version.ml_repo_id,
            family=version.family,
            version_created_at=version.created_at,
        )
        for tag in tags
    )
    await session.flush()


async def fill_imported_version_tags(session: AsyncSession, ml_repo_id: int) -> None:
    """Copy the versions' repo, family and creation time into an imported repo's tag rows (written without)."""

    def of_version(column: Any) -> Any:
        return select(column).where(EntityVersion.id == VersionTag.version_id).correlate(VersionTag).scalar_subquery()

    tagged = select(EntityVersion.id).where(EntityVersion.ml_repo_id == ml_repo_id)
    await session.execute(
        update(VersionTag)
        .where(VersionTag.version_id.in_(tagged), VersionTag.ml_repo_id.is_(None))
        .values(
            ml_repo_id=of_version(EntityVersion.ml_repo_id),
            family=of_version(EntityVersion.family),
            version_created_at=of_version(EntityVersion.created_at),
        )
        .execution_options(synchronize_session=False)
    )


def _covers(moment: datetime) -> list[Any]:
    """The intervals that were open at `moment` (an interval includes its start, not its end)."""
    return [LabelInterval.valid_from <= moment, or_(LabelInterval.valid_to.is_(None), LabelInterval.valid_to > moment)]


async def lock_entity(session: AsyncSession, entity_id: str) -> None:
    """Hold the entity's row lock until commit: tag and alias moves of one entity take turns.

    SQLite needs no row lock: a write transaction holds the database's write lock from BEGIN IMMEDIATE."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(select(Entity.id).where(Entity.id == entity_id).with_for_update())


async def open_intervals(
    session: AsyncSession, entity_id: str, kind: str, labels: Sequence[str], version_id: str
) -> list[LabelInterval]:
    """The current holders of `labels`, and every label `version_id` holds now (open intervals only)."""
    statement = select(LabelInterval).where(
        LabelInterval.entity_id == entity_id,
        LabelInterval.kind == kind,
        LabelInterval.valid_to.is_(None),
        or_(LabelInterval.label.in_(list(labels)), LabelInterval.version_id == version_id),
    )
    return list(await session.scalars(statement))


async def close_intervals_of_version(
    session: AsyncSession, version_id: str, now: datetime, reason: str, by: dict[str, Any]
) -> None:
    await session.execute(
        update(LabelInterval)
        .where(LabelInterval.version_id == version_id, LabelInterval.valid_to.is_(None))
        .values(valid_to=now, end_reason=reason, ended_by_subject=by)
    )


async def labels_as_of(
    session: AsyncSession, version_ids: Sequence[str], moment: datetime
) -> dict[str, tuple[list[str], str | None]]:
    """version id -> (its tags, its alias) at `moment`."""
    rows = await session.execute(
        select(LabelInterval.version_id, LabelInterval.kind, LabelInterval.label)
        .where(LabelInterval.version_id.in_(list(version_ids)), *_covers(moment))
        .order_by(LabelInterval.valid_from, LabelInterval.id)
    )
    labels: dict[str, tuple[list[str], str | None]] = {version_id: ([], None) for version_id in version_ids}
    for version_id, kind, label in rows.all():
        tags, alias = labels[version_id]
        labels[version_id] = (tags, label) if kind == LABEL_ALIAS else ([*tags, label], alias)
    return labels


async def entity_label_intervals(
    session: AsyncSession,
    entity_id: str,
    kind: str,
    *,
    label: str | None,
    as_of: datetime | None,
    current: bool,
    offset: int,
    limit: int,
) -> tuple[list[LabelInterval], int]:
    """An entity's intervals of one kind: all of them (history), those open at `as_of`, or the open ones."""
    conditions: list[Any] = [LabelInterval.entity_id == entity_id, LabelInterval.kind == kind]
    if label is not None:
        conditions.append(LabelInterval.label == label)
    if as_of is not None:
        conditions.extend(_covers(as_of))
    elif current:
        conditions.append(LabelInterval.valid_to.is_(None))
    page = await session.scalars(
        select(LabelInterval)
        .where(*conditions)
        .order_by(LabelInterval.label, LabelInterval.valid_from, LabelInterval.id)
        .offset(offset)
        .limit(limit)
    )
    total = await session.scalar(select(func.count()).select_from(LabelInterval).where(*conditions))
    return list(page), int(total or 0)


async def version_label_intervals(session: AsyncSession, version_id: str) -> list[LabelInterval]:
    """Every interval during which this version held a tag or the alias, oldest first."""
    return list(
        await session.scalars(
            select(LabelInterval)
            .where(LabelInterval.version_id == version_id)
            .order_by(LabelInterval.valid_from, LabelInterval.id)
        )
    )


async def claim_idempotency_key(
    session: AsyncSession, subject_id: str, key: str, request_sha256: str, now: datetime, expired_before: datetime
) -> bool:
    """Take `key` for this request; False when a live request with the key committed first.

    On Postgres a concurrent holder of the key makes this wait for its commit or rollback."""
    insert = _insert(session)
    statement = insert(ApplyIdempotencyKey).values(
        subject_id=subject_id, key=key, request_sha256=request_sha256, version_id=None, created_at=now
    )
    statement = statement.on_conflict_do_update(
        index_elements=["subject_id", "key"],
        set_={"request_sha256": request_sha256, "version_id": None, "created_at": now},
        where=ApplyIdempotencyKey.created_at < expired_before,
    ).returning(ApplyIdempotencyKey.subject_id)
    return (await session.execute(statement)).first() is not None


async def get_idempotency_key(session: AsyncSession, subject_id: str, key: str) -> ApplyIdempotencyKey | None:
    return await session.get(ApplyIdempotencyKey, (subject_id, key))


async def record_idempotency_key(session: AsyncSession, subject_id: str, key: str, version_id: str) -> None:
    await session.execute(
        update(ApplyIdempotencyKey)
        .where(ApplyIdempotencyKey.subject_id == subject_id, ApplyIdempotencyKey.key == key)
        .values(version_id=version_id)
    )


async def open_intervals_of_repo(session: AsyncSession, ml_repo_id: int) -> None:
    """Open a history interval for every tag and alias the repo's versions hold, in two statements.

    For rows written without the version engine (an import): each label starts at its version's
    last change, as the history of labels older than the history table does."""
    columns = [
        "entity_id",
        "kind",
        "label",
        "version_id",
        "version",
        "valid_from",
        "start_reason",
        "started_by_subject",
    ]
    target = [getattr(LabelInterval, column) for column in columns]
    tags = (
        select(
            VersionTag.entity_id,
            literal(LABEL_TAG),
            VersionTag.tag,
            EntityVersion.id,
            EntityVersion.version,
            EntityVersion.updated_at,
            literal("set"),
            EntityVersion.created_by_subject,
        )
        .join(EntityVersion, EntityVersion.id == VersionTag.version_id)
        .where(EntityVersion.ml_repo_id == ml_repo_id, EntityVersion.state == STATE_FINALIZED)
    )
    aliases = select(
        EntityVersion.entity_id,
        literal(LABEL_ALIAS),
        EntityVersion.version_alias,
        EntityVersion.id,
        EntityVersion.version,
        EntityVersion.updated_at,
        literal("set"),
        EntityVersion.created_by_subject,
    ).where(
        EntityVersion.ml_repo_id == ml_repo_id,
        EntityVersion.state == STATE_FINALIZED,
        EntityVersion.version_alias.is_not(None),
    )
    for rows in (tags, aliases):
        await session.execute(insert(LabelInterval).from_select(target, rows))
