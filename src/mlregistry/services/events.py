"""Events for webhooks. Services `emit` an event where a change happens; `emit` adds one outbox row per
subscribed webhook to the request's session, so the rows commit with the change (and vanish with it
when the request fails). The webhook worker sends them after the commit (services/webhooks.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from mlregistry.auth.subject import Caller
from mlregistry.orm import EntityVersion, MlRepo, WebhookDelivery
from mlregistry.orm.base import utcnow
from mlregistry.repositories import webhooks as queries
from mlregistry.repositories.versions import VersionRow
from mlregistry.services.families import CHAT_PROMPT, Family
from mlregistry.services.fqn import version_fqn
from mlregistry.services.presenters import iso

VERSION_CREATED = "version.created"
ALIAS_MOVED = "alias.moved"
TAG_MOVED = "tag.moved"
VERSION_DELETED = "version.deleted"
STAGE_FAILED = "stage.failed"
PROMPT_VERSION_CREATED = "prompt_version.created"
RUN_FINISHED = "run.finished"
EVENT_TYPES = (
    VERSION_CREATED,
    ALIAS_MOVED,
    TAG_MOVED,
    VERSION_DELETED,
    STAGE_FAILED,
    PROMPT_VERSION_CREATED,
    RUN_FINISHED,
)
# Filled in when a delivery is sent (the tenant is a setting): a version's FQN from its parts.
FQN_PARTS = "fqn_parts"


async def emit(
    session: AsyncSession, caller: Caller, event_type: str, repo: MlRepo, data: Mapping[str, Any]
) -> str | None:
    """Queue `event_type` for every active webhook of `repo` (or of all repos) that asked for it.

    Returns the event id, or None when no webhook wants it (then nothing is written)."""
    webhooks = [hook for hook in await queries.subscribed(session, repo.id) if event_type in hook.events]
    if not webhooks:
        return None
    event_id = str(uuid.uuid4())
    now = utcnow()
    payload = {
        "id": event_id,
        "type": event_type,
        "occurred_at": iso(now),
        "ml_repo": {"id": str(repo.id), "name": repo.name},
        "subject": caller.as_subject(),
        "data": dict(data),
    }
    session.add_all(
        WebhookDelivery(
            id=str(uuid.uuid4()),
            webhook_id=hook.id,
            event_id=event_id,
            event_type=event_type,
            payload=payload,
            status=queries.STATUS_PENDING,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
        for hook in webhooks
    )
    return event_id


def render(payload: dict[str, Any], tenant: str) -> dict[str, Any]:
    """The document a receiver gets: the stored event with the tenant and any version FQN filled in."""
    data = dict(payload.get("data") or {})
    parts = data.pop(FQN_PARTS, None)
    if parts is not None:
        data["fqn"] = version_fqn(parts["prefix"], tenant, payload["ml_repo"]["name"], parts["name"], parts["version"])
    return {**payload, "tenant": tenant, "data": data}


def version_data(family: Family, name: str, version: EntityVersion) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": version.id,
        "type": family.manifest_type,
        family.parent_id_field: version.entity_id,
        "name": name,
        "version": version.version,
        "version_alias": version.version_alias,
        "tags": list(version.tags or []),
    }
    if version.version is not None:
        data[FQN_PARTS] = {"prefix": family.fqn_prefix, "name": name, "version": version.version}
    return data


async def version_created(
    session: AsyncSession, caller: Caller, family: Family, repo: MlRepo, name: str, version: EntityVersion
) -> None:
    """A version was created (finalized); an alias it carries from the start is a move too."""
    await emit(session, caller, _created_type(family), repo, version_data(family, name, version))
    await alias_moved(session, caller, family, repo, name, version, previous_alias=None)


async def version_created_is_wanted(session: AsyncSession, family: Family, repo: MlRepo) -> bool:
    """Whether a webhook wants this family's creation event in this repo (`version_created` would write)."""
    created = _created_type(family)
    return any(created in hook.events for hook in await queries.subscribed(session, repo.id))


def _created_type(family: Family) -> str:
    return PROMPT_VERSION_CREATED if family is CHAT_PROMPT else VERSION_CREATED


async def alias_moved(
    session: AsyncSession,
    caller: Caller,
    family: Family,
    repo: MlRepo,
    name: str,
    version: EntityVersion,
    *,
    previous_alias: str | None,
) -> None:
    """The version's `version_alias` changed (set, replaced or removed); nothing when it stayed the same."""
    if version.version_alias == previous_alias:
        return
    data = {**version_data(family, name, version), "alias": version.version_alias, "previous_alias": previous_alias}
    await emit(session, caller, ALIAS_MOVED, repo, data)


async def tags_moved(
    session: AsyncSession,
    caller: Caller,
    family: Family,
    row: VersionRow,
    *,
    previous: list[str],
    taken: Mapping[str, str],
) -> None:
    """Tags were set on a version: which it gained and lost, and which were moved here from which version."""
    version = row.version
    added = [tag for tag in version.tags or [] if tag not in previous]
    removed = [tag for tag in previous if tag not in (version.tags or [])]
    if not added and not removed:
        return
    data = {
        **version_data(family, row.entity_name, version),
        "added": added,
        "removed": removed,
        "moved_from": {tag: taken[tag] for tag in added if tag in taken},
    }
    await emit(session, caller, TAG_MOVED, row.access.resource, data)


async def version_deleted(session: AsyncSession, caller: Caller, family: Family, row: VersionRow) -> None:
    await emit(
        session, caller, VERSION_DELETED, row.access.resource, version_data(family, row.entity_name, row.version)
    )


async def stage_failed(session: AsyncSession, caller: Caller, family: Family, row: VersionRow) -> None:
    """A staged version was marked as failed (its uploaded files are being removed)."""
    data = {**version_data(family, row.entity_name, row.version), "storage_root": row.version.storage_root}
    await emit(session, caller, STAGE_FAILED, row.access.resource, data)
