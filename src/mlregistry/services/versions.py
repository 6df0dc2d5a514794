"""The one version engine: numbering, apply, tags, aliases, listing and deletes for every family.

Models, artifacts and prompts differ only in their `Family` (manifest type, FQN prefix, wire
fields); everything here is written once for all of them.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import flag_modified
from sqlalchemy.orm.exc import StaleDataError

from mlregistry.auth.subject import Caller
from mlregistry.encoded import EncodedItems, encode_item
from mlregistry.orm import EntityVersion, MlRepo
from mlregistry.orm.base import utcnow
from mlregistry.repositories import runs as run_queries
from mlregistry.repositories import versions as queries
from mlregistry.repositories.versions import (
    LABEL_ALIAS,
    LABEL_TAG,
    LISTED_AT,
    STATE_FAILED,
    STATE_FINALIZED,
    STATE_STAGED,
    EntityFilters,
    ListedVersions,
    VersionFilters,
    VersionRecord,
    VersionRecordRow,
    VersionRow,
)
from mlregistry.schemas.manifests import manifest_to_wire
from mlregistry.services import audit, events, files, labels, reaper
from mlregistry.services import runs as run_services
from mlregistry.services.access import Role, authorize, repo_scope
from mlregistry.services.errors import Conflict, Invalid, NotFound
from mlregistry.services.families import FAMILY_BY_MANIFEST_TYPE, Family
from mlregistry.services.fqn import parse_fqn
from mlregistry.services.ml_repos import parse_repo_id, repo_by_name
from mlregistry.services.presenters import entity_to_wire, listed_version_to_wire, version_to_wire
from mlregistry.settings import Settings
from mlregistry.storage import StorageRegistry


@dataclass
class VersionQuery:
    """List filters as the API receives them (strings, before resolution)."""

    fqn: str | None = None
    entity_id: str | None = None
    ml_repo_id: str | None = None
    name: str | None = None
    version: int | None = None
    tag: str | None = None
    run_ids: list[str] | None = None  # None: no filter; []: the given values can match nothing
    run_steps: list[int] | None = None
    as_of: datetime | None = None


@dataclass
class EntityQuery:
    fqn: str | None = None
    ml_repo_id: str | None = None
    name: str | None = None
    run_id: str | None = None
    include_empty: bool = True


_ABSENT = object()


def _version_not_found(family: Family, version_id: str) -> NotFound:
    return NotFound(f"{family.label} version '{version_id}' not found")


def _entity_not_found(family: Family, entity_id: str) -> NotFound:
    return NotFound(f"{family.label} '{entity_id}' not found")


def _alias_conflict(family: Family, name: str, alias: str | None, exc: IntegrityError) -> Conflict:
    if alias is not None and "version_alias" in str(exc.orig):
        return Conflict(
            f"version_alias '{alias}' is already used by another version of {family.label.lower()} '{name}'"
        )
    return Conflict(f"Conflicting write on {family.label.lower()} '{name}', try again")


async def apply_version(
    session: AsyncSession,
    settings: Settings,
    storages: StorageRegistry,
    caller: Caller,
    family: Family,
    manifest: BaseModel,
    *,
    idempotency_key: str | None = None,
) -> dict[str, Any]:
    """Create the next version of an entity (creating the entity if needed), or update a named one.

    With an `idempotency_key` the first apply that commits under the key decides the answer: a retry
    with the key and the same manifest answers that version."""
    wire = manifest_to_wire(manifest)
    family.check_manifest(wire)
    repo = await repo_by_name(session, caller, manifest.ml_repo, Role.EDITOR)  # type: ignore[attr-defined]
    if idempotency_key is not None:
        replayed = await _claim_idempotency_key(session, settings, caller, family, wire, idempotency_key)
        if replayed is not None:
            return await _present_version(session, settings, caller, family, replayed)
    result = await _apply(session, settings, storages, caller, family, repo, manifest, wire)
    if idempotency_key is not None:
        await queries.record_idempotency_key(session, caller.subject_id, idempotency_key, result["id"])
    return result


async def _claim_idempotency_key(
    session: AsyncSession, settings: Settings, caller: Caller, family: Family, wire: dict[str, Any], key: str
) -> str | None:
    """None: this request holds the key now and applies. Else the id of the version the key answered."""
    if not key or len(key) > 256:
        raise Invalid.field(["header", "Idempotency-Key"], "must be 1-256 characters")
    digest = _manifest_digest({"family": family.name, "manifest": wire})
    now = utcnow()
    expired_before = now - timedelta(seconds=settings.idempotency_key_ttl_seconds)
    if await queries.claim_idempotency_key(session, caller.subject_id, key, digest, now, expired_before):
        return None
    held = await queries.get_idempotency_key(session, caller.subject_id, key)
    if held is None or held.version_id is None:
        raise Conflict("An apply with this Idempotency-Key was still in progress; try again")
    if held.request_sha256 != digest:
        raise Invalid.field(
            ["header", "Idempotency-Key"], "was already used for a different manifest; send a new key for a new apply"
        )
    return held.version_id


def _manifest_digest(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _replay_marks(settings: Settings, caller: Caller, wire: dict[str, Any], now: datetime) -> dict[str, Any]:
    """What the entity remembers of this apply: a digest of the caller and of all the manifest but its
    number, and until when the same apply again is a replay (nothing with the window off)."""
    window = settings.apply_replay_window_seconds
    if window <= 0:
        return {"replay_digest": None, "replay_until": None}
    unnumbered = {k: v for k, v in wire.items() if k != "version"}
    return {
        "replay_digest": _manifest_digest({"subject": caller.subject_id, "manifest": unnumbered}),
        "replay_until": now + timedelta(seconds=window),
    }


def _same_manifest(stored: dict[str, Any], wire: dict[str, Any]) -> bool:
    """An apply without `version` repeats a stored version when all but the number it was given match."""
    return {k: v for k, v in stored.items() if k != "version"} == {k: v for k, v in wire.items() if k != "version"}


def _replay_of(
    settings: Settings, caller: Caller, latest: EntityVersion | None, wire: dict[str, Any]
) -> EntityVersion | None:
    """The entity's newest version when this apply repeats it: same caller, same manifest, inside the window."""
    window = settings.apply_replay_window_seconds
    if latest is None or window <= 0:
        return None
    if (latest.created_by_subject or {}).get("subjectId") != caller.subject_id:
        return None
    if latest.created_at < utcnow() - timedelta(seconds=window):
        return None
    return latest if _same_manifest(latest.manifest, wire) else None


async def _apply(
    session: AsyncSession,
    settings: Settings,
    storages: StorageRegistry,
    caller: Caller,
    family: Family,
    repo: MlRepo,
    manifest: BaseModel,
    wire: dict[str, Any],
) -> dict[str, Any]:
    name: str = manifest.name  # type: ignore[attr-defined]
    alias: str | None = getattr(manifest, "version_alias", None)
    now = utcnow()
    number: int | None = getattr(manifest, "version", None)
    if number is not None:
        return await _update_version(session, settings, caller, family, repo, name, number, wire, alias)

    staged = await _staged_version_for(session, storages, family, repo.id, wire) if family.stageable else None
    if staged is not None and staged.state == STATE_FINALIZED:
        return await _repeat_of_finalized(session, settings, caller, family, staged, wire)
    marks = _replay_marks(settings, caller, wire, now)
    if staged is None and alias is None and queries.creates_in_one_statement(session):
        created = await _create_in_one_statement(session, settings, caller, family, repo, name, wire, now, marks)
        if created is not None:
            return created
    if staged is not None:
        await files.record_files_at_finalize(session, storages, repo, staged)
        entity_id = staged.entity_id
        version_id = staged.id
        number = await queries.allocate_next_version(session, entity_id, version_id, now, **marks)
    else:
        # One statement creates the entity if missing and takes the next number, unless the entity's last
        # apply was this one (a likely replay). From here on the entity's row is locked (Postgres): a
        # concurrent replay waits and sees this one.
        version_id = str(uuid.uuid4())
        try:
            allocation = await queries.upsert_entity_allocating(
                session,
                entity_id=str(uuid.uuid4()),
                ml_repo_id=repo.id,
                family=family.name,
                name=name,
                version_id=version_id,
                created_by_subject=caller.as_subject(),
                now=now,
                **marks,
            )
        except IntegrityError as exc:  # the repo was deleted since this process cached it
            raise _alias_conflict(family, name, None, exc) from exc
        entity_id, allocated = allocation.entity_id, allocation.number
        if allocated is None:
            previous = await queries.get_version(session, allocation.replay_of) if allocation.replay_of else None
            replayed = _replay_of(settings, caller, previous, wire)
            if replayed is not None:
                return _present_written(settings, caller, family, repo, name, replayed)
            # The digest matched but the version does not (edited or deleted since): a new version after all.
            allocated = await queries.allocate_next_version(session, entity_id, version_id, now, **marks)
        number = allocated
    wire["version"] = number
    created_at = utcnow()  # taken after the allocation so that creation order follows numbering
    fresh = staged is None and alias is None  # the common apply: nothing to write but the version and audit row
    try:
        if staged is not None:
            staged.version = number
            staged.state = STATE_FINALIZED
            staged.manifest = wire
            staged.version_alias = alias
            staged.run_id = wire.get("run_id")
            staged.step = int(wire.get("step") or 0)
            staged.created_at = created_at
            staged.updated_at = created_at
        else:
            staged = EntityVersion(
                **_version_values(
                    version_id,
                    entity_id,
                    repo.id,
                    family,
                    caller,
                    wire,
                    created_at,
                    number=number,
                    state=STATE_FINALIZED,
                    storage_root=_source_uri(wire),
                )
            )
        audit_row = audit.row(
            caller, "create", family.manifest_type, version_id, ml_repo=repo.name, name=name, version=number
        )
        if fresh:  # two INSERTs, no unit of work
            await queries.insert_new_version(session, staged, audit_row)
        else:
            if alias is not None:
                labels.open_interval(session, caller, LABEL_ALIAS, alias, staged, created_at)
            audit.add(session, audit_row)
            await queries.add_version(session, staged)  # one flush: the version, its alias, its history, the audit row
    except IntegrityError as exc:
        raise _alias_conflict(family, name, alias, exc) from exc
    await events.version_created(session, caller, family, repo, name, staged)
    return _present_written(settings, caller, family, repo, name, staged)


async def _create_in_one_statement(
    session: AsyncSession,
    settings: Settings,
    caller: Caller,
    family: Family,
    repo: MlRepo,
    name: str,
    wire: dict[str, Any],
    now: datetime,
    marks: dict[str, Any],
) -> dict[str, Any] | None:
    """The common apply on PostgreSQL (a new version, no alias, not staged): the entity's number, the version
    and its audit row in one statement. When no webhook wants the event and the request has not started a
    transaction yet (its caller and ML repo came from the caches), the statement runs on its own, without
    BEGIN and COMMIT around it: being one statement, it is atomic anyway. None: a likely replay, or a
    manifest holding the number mark's text itself; nothing was written, the general path answers."""
    version_id = str(uuid.uuid4())
    sent_version = wire.get("version", _ABSENT)
    wire["version"] = queries.NUMBER_MARK
    audit_row = audit.row(
        caller,
        "create",
        family.manifest_type,
        version_id,
        ml_repo=repo.name,
        name=name,
        version=queries.NUMBER_MARK,
    )
    manifest_text = queries.split_at_number(wire)
    details_text = queries.split_at_number(audit_row["details"])
    if sent_version is _ABSENT:  # the number goes last, as the general path puts it
        del wire["version"]
    else:  # a `version: null` the client sent keeps its place
        wire["version"] = sent_version
    if manifest_text is None or details_text is None:
        return None
    notified = await events.version_created_is_wanted(session, family, repo)
    alone = not notified and not session.in_transaction()
    if alone:
        await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    try:
        created = await queries.create_in_one_statement(
            session,
            entity_id=str(uuid.uuid4()),
            version_id=version_id,
            ml_repo_id=repo.id,
            family=family.name,
            name=name,
            manifest=manifest_text,
            run_id=wire.get("run_id"),
            step=int(wire.get("step") or 0),
            storage_root=_source_uri(wire),
            created_by_subject=caller.as_subject(),
            audit_row=audit_row,
            audit_details=details_text,
            now=now,
            **marks,
        )
    except IntegrityError as exc:  # the repo was deleted since this process cached it
        raise _alias_conflict(family, name, None, exc) from exc
    if created.number is None or created.created_at is None:
        if alone:
            await session.close()  # the general path's statements need a transaction: the next one begins it
        return None
    wire["version"] = created.number
    values = _version_values(
        version_id,
        created.entity_id,
        repo.id,
        family,
        caller,
        wire,
        created.created_at,
        number=created.number,
        state=STATE_FINALIZED,
        storage_root=_source_uri(wire),
    )
    if not notified:
        # A plain record: an ORM instance (instrumentation, identity map) cost a twentieth of the create's CPU,
        # and nothing here changes or flushes it.
        return _present_written(settings, caller, family, repo, name, VersionRecord(**values))
    version = EntityVersion(**values)
    await events.version_created(session, caller, family, repo, name, version)
    return _present_written(settings, caller, family, repo, name, version)


async def _repeat_of_finalized(
    session: AsyncSession,
    settings: Settings,
    caller: Caller,
    family: Family,
    finalized: EntityVersion,
    wire: dict[str, Any],
) -> dict[str, Any]:
    """An apply naming the storage root of a version already finalized: a replay, or a Conflict.

    The root's files belong to that version, so a changed manifest cannot become a second version of
    them; and answering 200 with the old version would drop the change."""
    if _same_manifest(finalized.manifest, wire):
        return await _present_version(session, settings, caller, family, finalized.id)
    raise Conflict(
        f"source.uri is the storage root of {family.label.lower()} '{finalized.manifest.get('name')}' "
        f"version {finalized.version} (id {finalized.id}); to change that version apply with `version: "
        f"{finalized.version}`, to make a new version stage new files",
        details=[
            {
                "loc": ["manifest", "source", "uri"],
                "msg": "already finalized as another version",
                "type": "conflict",
                "version_id": finalized.id,
                "version": finalized.version,
            }
        ],
    )


async def _ensure_entity(
    session: AsyncSession, caller: Caller, family: Family, ml_repo_id: int, name: str
) -> tuple[str, str | None]:
    """The entity's id and its latest version id, creating it if missing."""
    return await queries.upsert_entity(
        session,
        entity_id=str(uuid.uuid4()),
        ml_repo_id=ml_repo_id,
        family=family.name,
        name=name,
        created_by_subject=caller.as_subject(),
        now=utcnow(),
    )


def _version_values(
    version_id: str,
    entity_id: str,
    ml_repo_id: int,
    family: Family,
    caller: Caller,
    wire: dict[str, Any],
    created_at: datetime,
    *,
    number: int | None,
    state: str,
    storage_root: str | None,
) -> dict[str, Any]:
    """A new version's columns, for an `EntityVersion` or a `VersionRecord`."""
    return {
        "id": version_id,
        "entity_id": entity_id,
        "ml_repo_id": ml_repo_id,
        "family": family.name,
        "version": number,
        "state": state,
        "manifest": wire,
        "version_alias": wire.get("version_alias") if state == STATE_FINALIZED else None,
        "run_id": wire.get("run_id"),
        "step": int(wire.get("step") or 0),
        "storage_root": storage_root,
        "tags": [],
        "metrics": [],
        "created_by_subject": caller.as_subject(),
        "created_at": created_at,
        "updated_at": created_at,
    }


async def stage_version(
    session: AsyncSession, storages: StorageRegistry, caller: Caller, manifest: BaseModel
) -> dict[str, Any]:
    """Reserve a version (STAGED, no number yet) and the storage root its files are uploaded to.

    The apply that names that root as `source.uri` finalizes it; until then no list or get shows it."""
    family = FAMILY_BY_MANIFEST_TYPE.get(getattr(manifest, "type", ""))
    if family is None or not family.stageable:
        raise Invalid.field(["manifest", "type"], f"'{getattr(manifest, 'type', '')}' versions cannot be staged here")
    if getattr(manifest, "version", None) is not None:
        raise Invalid.field(["manifest", "version"], "a staged version is numbered when it is finalized; omit it")
    source = getattr(manifest, "source", None)
    if getattr(source, "type", None) != "truefoundry":
        raise Invalid.field(["manifest", "source", "type"], "staging needs a `truefoundry` source")
    repo = await repo_by_name(session, caller, manifest.ml_repo, Role.EDITOR)  # type: ignore[attr-defined]
    now = utcnow()
    entity_id, _ = await _ensure_entity(session, caller, family, repo.id, manifest.name)  # type: ignore[attr-defined]
    version_id = str(uuid.uuid4())
    storage_root = storages.for_repo(repo.storage_integration_fqn).uri_for(files.version_prefix(repo.id, version_id))
    wire = manifest_to_wire(manifest)
    await queries.add_version(
        session,
        EntityVersion(
            **_version_values(
                version_id,
                entity_id,
                repo.id,
                family,
                caller,
                wire,
                now,
                number=None,
                state=STATE_STAGED,
                storage_root=storage_root,
            )
        ),
    )
    audit.note(session, caller, "stage", family.manifest_type, version_id, ml_repo=repo.name, name=wire.get("name"))
    return {"id": version_id, "storage_root": storage_root, "artifact_id": entity_id}


def _source_uri(wire: dict[str, Any]) -> str | None:
    source = wire.get("source") or {}
    uri = source.get("uri")
    return uri if isinstance(uri, str) else None


async def _staged_version_for(
    session: AsyncSession, storages: StorageRegistry, family: Family, ml_repo_id: int, wire: dict[str, Any]
) -> EntityVersion | None:
    """The staged version whose storage root this apply names as a TrueFoundry-managed source."""
    source = wire.get("source") or {}
    uri = source.get("uri")
    if source.get("type") != "truefoundry" or not isinstance(uri, str):
        return None
    version = await queries.find_version_by_storage_root(session, uri)
    if version is not None and version.state == STATE_FAILED:
        raise Invalid.field(["manifest", "source", "uri"], "names a stage that was marked as failed; stage again")
    if version is None or version.state not in (STATE_STAGED, STATE_FINALIZED):
        if storages.owns(uri):
            raise Invalid.field(["manifest", "source", "uri"], "names no staged version (expired or never staged)")
        return None
    if version.state == STATE_STAGED and version.manifest.get("name") != wire.get("name"):
        raise Invalid.field(
            ["manifest", "name"], f"the staged version at this root is of '{version.manifest.get('name')}'"
        )
    if version.family != family.name or version.ml_repo_id != ml_repo_id:
        raise Invalid.field(["manifest", "source", "uri"], "belongs to a staged version of another entity or ML repo")
    return version


async def _update_version(
    session: AsyncSession,
    settings: Settings,
    caller: Caller,
    family: Family,
    repo: MlRepo,
    name: str,
    number: int,
    wire: dict[str, Any],
    alias: str | None,
) -> dict[str, Any]:
    entity = await queries.find_entity(session, repo.id, family.name, name)
    if entity is not None:
        await queries.lock_entity(session, entity.id)  # before reading the version: alias moves take turns
    version = await queries.find_version(session, entity.id, number) if entity is not None else None
    if entity is None or version is None or version.state != STATE_FINALIZED:
        raise NotFound(f"{family.label} '{name}' has no version {number}; omit `version` to create a new version")
    if "source" in version.manifest and wire.get("source") != version.manifest.get("source"):
        raise Invalid.field(["manifest", "source"], "cannot change on an existing version")
    now = utcnow()
    previous_alias = version.version_alias
    await labels.move_alias(session, caller, version, alias, entity_label=f"{family.label.lower()} '{name}'", now=now)
    version.manifest = wire
    version.version_alias = alias
    version.updated_at = now
    try:
        await session.flush()
    except IntegrityError as exc:
        raise _alias_conflict(family, name, alias, exc) from exc
    audit.note(session, caller, "update", family.manifest_type, version.id, name=name, version=number)
    await events.alias_moved(session, caller, family, repo, name, version, previous_alias=previous_alias)
    return _present_written(settings, caller, family, repo, name, version)


def _present_written(
    settings: Settings,
    caller: Caller,
    family: Family,
    repo: MlRepo,
    name: str,
    version: EntityVersion | VersionRecord,
) -> dict[str, Any]:
    """The wire form of a version this request has just written, from the objects in hand (no re-read)."""
    row: VersionRow | VersionRecordRow
    if isinstance(version, VersionRecord):
        row = VersionRecordRow(version, name, repo.name)
    else:
        row = VersionRow(version=version, entity_name=name, access=repo_scope(caller).access(repo, 0))
    return version_to_wire(row, family, settings.tenant_name)


async def _present_version(
    session: AsyncSession, settings: Settings, caller: Caller, family: Family, version_id: str
) -> dict[str, Any]:
    row = await queries.get_version_row(session, repo_scope(caller), version_id)
    if row is None:
        raise _version_not_found(family, version_id)
    return version_to_wire(row, family, settings.tenant_name)


async def _authorized_version(
    session: AsyncSession, caller: Caller, family: Family, version_id: str, needed: Role
) -> VersionRow:
    row = await queries.get_version_row(session, repo_scope(caller), version_id)
    if row is None or row.version.family != family.name or row.version.state != STATE_FINALIZED:
        raise _version_not_found(family, version_id)
    authorize(caller, row.access, needed, not_found=_version_not_found(family, version_id).message)
    return row


async def get_version(
    session: AsyncSession, settings: Settings, caller: Caller, family: Family, version_id: str
) -> dict[str, Any]:
    row = await _authorized_version(session, caller, family, version_id, Role.VIEWER)
    linked = await _run_metrics(session, family, [row])
    return version_to_wire(row, family, settings.tenant_name, run_metrics=linked.get(row.version.id))


async def delete_version(session: AsyncSession, caller: Caller, family: Family, version_id: str) -> None:
    row = await _authorized_version(session, caller, family, version_id, Role.ADMIN)
    repo = row.access.resource
    # The entity's row lock first (as tag and alias moves take it), then the version's labels end with it.
    await queries.forget_finalized_version(session, row.version.entity_id, version_id)
    await queries.close_intervals_of_version(session, version_id, utcnow(), labels.REASON_DELETED, caller.as_subject())
    if family.stageable:
        await reaper.enqueue_version(session, repo.storage_integration_fqn, repo.id, version_id)
    await queries.delete_version(session, version_id)
    audit.note(session, caller, "delete", family.manifest_type, version_id, version=row.version.version)
    await events.version_deleted(session, caller, family, row)


def _resolve_version_filters(settings: Settings, family: Family, query: VersionQuery) -> VersionFilters | None:
    """None when a filter can match nothing (an FQN of another tenant or form, a malformed id)."""
    if query.run_ids == [] or query.run_steps == []:
        return None
    filters = VersionFilters(
        family=family.name,
        entity_id=query.entity_id,
        name=query.name,
        version=query.version,
        tag=query.tag,
        run_ids=query.run_ids or [],
        run_steps=query.run_steps or [],
        as_of=query.as_of,
    )
    if query.ml_repo_id is not None:
        filters.ml_repo_id = parse_repo_id(query.ml_repo_id)
        if filters.ml_repo_id is None:
            return None
    if query.fqn is not None:
        parsed = parse_fqn(query.fqn, versioned=True)
        if parsed is None or parsed.prefix != family.fqn_prefix or parsed.tenant != settings.tenant_name:
            return None
        if (filters.name not in (None, parsed.name)) or (filters.version not in (None, parsed.version)):
            return None
        filters.name, filters.version, filters.ml_repo_name = parsed.name, parsed.version, parsed.ml_repo
    return filters


async def _version_page(
    session: AsyncSession,
    settings: Settings,
    caller: Caller,
    family: Family,
    query: VersionQuery,
    *,
    offset: int,
    limit: int,
) -> tuple[ListedVersions, int]:
    """The rows of a version list page the caller may see, and the exact total."""
    filters = _resolve_version_filters(settings, family, query)
    if filters is None:
        return ListedVersions([]), 0
    return await queries.list_versions(session, filters, repo_scope(caller), offset=offset, limit=limit)


async def list_versions(
    session: AsyncSession,
    settings: Settings,
    caller: Caller,
    family: Family,
    query: VersionQuery,
    *,
    offset: int,
    limit: int,
) -> tuple[list[dict[str, Any]], int]:
    page, total = await _version_page(session, settings, caller, family, query, offset=offset, limit=limit)
    rows = page.records()
    linked = await _run_metrics(session, family, rows)
    if query.as_of is None:
        return [
            version_to_wire(row, family, settings.tenant_name, run_metrics=linked.get(row.version.id)) for row in rows
        ], total
    then = await queries.labels_as_of(session, [row.version.id for row in rows], query.as_of)
    return [
        version_to_wire(
            row, family, settings.tenant_name, labels=then[row.version.id], run_metrics=linked.get(row.version.id)
        )
        for row in rows
    ], total


async def list_version_items(
    session: AsyncSession,
    settings: Settings,
    caller: Caller,
    family: Family,
    query: VersionQuery,
    *,
    offset: int,
    limit: int,
) -> tuple[list[orjson.Fragment], int]:
    """`list_versions` for the API: the items encoded, those whose row alone makes them taken from the
    process's kept items when one was made from the same content before (encoded.py)."""
    if query.as_of is not None:  # the tags and alias of another time: made each time
        items, total = await list_versions(session, settings, caller, family, query, offset=offset, limit=limit)
        return [orjson.Fragment(encode_item(item)) for item in items], total
    page, total = await _version_page(session, settings, caller, family, query, offset=offset, limit=limit)
    tenant = settings.tenant_name
    keep = None
    linked: dict[str, list[dict[str, Any]]] = {}
    if family.has_metrics and any(content[LISTED_AT.run_id] for content in page.contents):
        # Such an item shows what its run logged at its step, which its row does not hold: made each time.
        linked = await _run_metrics(
            session, family, [page.record(content) for content in page.contents if content[LISTED_AT.run_id]]
        )

        def keep(content: tuple[Any, ...]) -> bool:
            return not content[LISTED_AT.run_id]

    def make(content: tuple[Any, ...]) -> dict[str, Any]:
        return listed_version_to_wire(page, content, family, tenant, run_metrics=linked.get(content[LISTED_AT.id]))

    kept: EncodedItems | None = getattr(session.sync_session, "encoded_items", None)
    if kept is None:
        kept = _NOT_KEPT
    return kept.encode_page(family.manifest_type, tenant, page.contents, make, keep), total


_NOT_KEPT = EncodedItems(0)


async def _run_metrics(
    session: AsyncSession, family: Family, rows: Sequence[VersionRow | VersionRecordRow]
) -> dict[str, list[dict[str, Any]]]:
    """The metrics each version's run logged at the version's step: one query for the whole page."""
    if not family.has_metrics:
        return {}
    linked = [row.version for row in rows if row.version.run_id]
    if not linked:
        return {}
    found = await run_queries.metrics_at_steps(session, [(str(v.run_id), int(v.step or 0)) for v in linked])
    return {
        v.id: [run_services.metric_to_wire(m) for m in found.get((str(v.run_id), int(v.step or 0)), [])] for v in linked
    }


async def apply_tags(
    session: AsyncSession, caller: Caller, family: Family, version_id: str, tags: list[str], *, force: bool
) -> None:
    """Make `tags` the version's tag set. A tag names one version per entity; `force` moves it here.

    The entity's row lock serializes the moves of its tags, so the tag table, the versions' `tags` and
    the history agree under any number of concurrent writers."""
    for index, tag in enumerate(tags):
        if not tag or len(tag) > 256 or tag != tag.strip():
            raise Invalid.field(["tags", index], "a tag is 1-256 characters without surrounding spaces")
    unique_tags = list(dict.fromkeys(tags))
    row = await _authorized_version(session, caller, family, version_id, Role.EDITOR)
    version = row.version
    await queries.lock_entity(session, version.entity_id)
    now = utcnow()
    previous_tags = list(version.tags or [])
    taken = await labels.move_tags(session, caller, version, unique_tags, force=force, now=now)
    holders = await queries.versions_by_ids(session, sorted(set(taken.values()))) if taken else []
    for other in holders:
        other.tags = [tag for tag in other.tags or [] if tag not in taken]
        other.updated_at = now
    version.tags = unique_tags
    flag_modified(version, "tags")  # read before the lock: write the whole set even if it looked unchanged
    version.updated_at = now
    try:
        await queries.set_version_tags(session, version, unique_tags)
    except (IntegrityError, StaleDataError) as exc:  # deleted while this request waited for the entity lock
        raise _version_not_found(family, version_id) from exc
    audit.note(session, caller, "apply_tags", family.manifest_type, version_id, tags=unique_tags, force=force)
    await events.tags_moved(session, caller, family, row, previous=previous_tags, taken=taken)


# --- label history and "as of" reads ------------------------------------------------------------


async def version_history(
    session: AsyncSession, caller: Caller, family: Family, version_id: str
) -> list[dict[str, Any]]:
    """Every time this version gained or lost a tag or the alias: who, when, from which version to which."""
    await _authorized_version(session, caller, family, version_id, Role.VIEWER)
    return labels.version_events(await queries.version_label_intervals(session, version_id))


async def entity_labels(
    session: AsyncSession,
    caller: Caller,
    family: Family,
    entity_id: str,
    kind: str,
    *,
    name: str | None,
    as_of: datetime | None,
    history: bool,
    offset: int,
    limit: int,
) -> tuple[list[dict[str, Any]], int]:
    """The entity's aliases or tags (`kind`): who holds them now, at `as_of`, or (`history`) every interval."""
    if kind not in (LABEL_ALIAS, LABEL_TAG):
        raise ValueError(kind)
    await _authorized_entity(session, caller, family, entity_id, Role.VIEWER)
    intervals, total = await queries.entity_label_intervals(
        session, entity_id, kind, label=name, as_of=as_of, current=not history, offset=offset, limit=limit
    )
    return [labels.interval_to_wire(interval) for interval in intervals], total


# --- entities ----------------------------------------------------------------------------------


async def _authorized_entity(
    session: AsyncSession, caller: Caller, family: Family, entity_id: str, needed: Role
) -> queries.EntityRow:
    row = await queries.get_entity_row(session, repo_scope(caller), entity_id, family.name)
    if row is None:
        raise _entity_not_found(family, entity_id)
    authorize(caller, row.access, needed, not_found=_entity_not_found(family, entity_id).message)
    return row


async def get_entity(
    session: AsyncSession,
    settings: Settings,
    caller: Caller,
    family: Family,
    entity_id: str,
    *,
    with_run_steps: bool = True,
) -> dict[str, Any]:
    """`with_run_steps=False` leaves `run_steps` empty: reading them visits every version that names a
    run, which a caller that does not show them (the console) need not pay for on a big entity."""
    row = await _authorized_entity(session, caller, family, entity_id, Role.VIEWER)
    steps = await queries.run_steps_of(session, entity_id) if with_run_steps else []
    return entity_to_wire(row, family, settings.tenant_name, run_steps=steps)


async def delete_entity(session: AsyncSession, caller: Caller, family: Family, entity_id: str) -> None:
    row = await _authorized_entity(session, caller, family, entity_id, Role.ADMIN)
    repo = row.access.resource
    if family.stageable:
        await reaper.enqueue_entity(session, repo.storage_integration_fqn, repo.id, entity_id)
    await queries.delete_entity(session, entity_id)
    audit.note(session, caller, "delete", family.entity_type, entity_id, name=row.entity.name)


async def list_entities(
    session: AsyncSession,
    settings: Settings,
    caller: Caller,
    family: Family,
    query: EntityQuery,
    *,
    offset: int,
    limit: int,
    with_run_steps: bool = True,
) -> tuple[list[dict[str, Any]], int]:
    """`with_run_steps` as for `get_entity`."""
    filters = EntityFilters(family=family.name, name=query.name, run_id=query.run_id, include_empty=query.include_empty)
    if query.ml_repo_id is not None:
        filters.ml_repo_id = parse_repo_id(query.ml_repo_id)
        if filters.ml_repo_id is None:
            return [], 0
    if query.fqn is not None:
        parsed = parse_fqn(query.fqn, versioned=False)
        if parsed is None or parsed.prefix != family.fqn_prefix or parsed.tenant != settings.tenant_name:
            return [], 0
        if filters.name not in (None, parsed.name):
            return [], 0
        filters.name, filters.ml_repo_name = parsed.name, parsed.ml_repo
    # Filtered by a run, each entity shows the steps of that run; else of every run that logged it.
    rows, total = await queries.list_entities(
        session, filters, repo_scope(caller), offset=offset, limit=limit, run_steps=with_run_steps
    )
    return [entity_to_wire(row, family, settings.tenant_name, run_steps=row.run_steps) for row in rows], total
