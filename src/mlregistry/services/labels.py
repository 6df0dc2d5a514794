"""Tags and `version_alias`: who holds which label, every move kept as history, and "as of" reads.

Every change of a label goes through here, inside the caller's transaction and after the entity's row
lock (`queries.lock_entity`, or the apply's number allocation), so the moves of one entity take turns:
each label is on at most one version at any moment, and the history is the exact sequence of moves.
History is an interval table (`version_label_intervals`): a label's move closes the old holder's
interval and opens the new one at the same instant, and an "as of" read picks the interval covering
a moment through an index, never by replaying the audit log.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from mlregistry.auth.subject import Caller
from mlregistry.orm import EntityVersion, LabelInterval
from mlregistry.repositories import versions as queries
from mlregistry.repositories.versions import LABEL_ALIAS as LABEL_ALIAS
from mlregistry.repositories.versions import LABEL_TAG as LABEL_TAG
from mlregistry.services.errors import Conflict
from mlregistry.services.presenters import iso

REASON_SET = "set"
REASON_MOVED = "moved"
REASON_REMOVED = "removed"
REASON_DELETED = "deleted"


def open_interval(
    session: AsyncSession,
    caller: Caller,
    kind: str,
    label: str,
    version: EntityVersion,
    now: datetime,
    *,
    taken_from: LabelInterval | None = None,
) -> None:
    """`version` holds `label` from `now` on (written by the caller's next flush)."""
    assert version.version is not None, "only finalized versions hold labels"
    session.add(
        LabelInterval(
            entity_id=version.entity_id,
            kind=kind,
            label=label,
            version_id=version.id,
            version=version.version,
            valid_from=now,
            valid_to=None,
            start_reason=REASON_MOVED if taken_from is not None else REASON_SET,
            from_version_id=taken_from.version_id if taken_from is not None else None,
            from_version=taken_from.version if taken_from is not None else None,
            started_by_subject=caller.as_subject(),
        )
    )


def _close(
    interval: LabelInterval, caller: Caller, now: datetime, reason: str, moved_to: EntityVersion | None = None
) -> None:
    interval.valid_to = now
    interval.end_reason = reason
    interval.ended_by_subject = caller.as_subject()
    if moved_to is not None:
        interval.to_version_id = moved_to.id
        interval.to_version = moved_to.version


async def move_tags(
    session: AsyncSession, caller: Caller, version: EntityVersion, tags: Sequence[str], *, force: bool, now: datetime
) -> dict[str, str]:
    """Make `tags` the version's tag set in the history; returns tag -> the version it was taken from.

    Without `force` a tag held by another version is a Conflict. Must run under the entity's lock."""
    intervals = await queries.open_intervals(session, version.entity_id, LABEL_TAG, tags, version.id)
    held_here = {interval.label: interval for interval in intervals if interval.version_id == version.id}
    taken = {
        interval.label: interval
        for interval in intervals
        if interval.version_id != version.id and interval.label in tags
    }
    if taken and not force:
        names = ", ".join(sorted(taken))
        raise Conflict(f"Tags already in use by another version: {names}; pass force=true to move them")
    for label, interval in held_here.items():
        if label not in tags:
            _close(interval, caller, now, REASON_REMOVED)
    for interval in taken.values():
        _close(interval, caller, now, REASON_MOVED, moved_to=version)
    for tag in tags:
        if tag not in held_here:
            open_interval(session, caller, LABEL_TAG, tag, version, now, taken_from=taken.get(tag))
    return {label: interval.version_id for label, interval in taken.items()}


async def move_alias(
    session: AsyncSession,
    caller: Caller,
    version: EntityVersion,
    alias: str | None,
    *,
    entity_label: str,
    now: datetime,
) -> None:
    """Give `version` the alias `alias` (None: no alias) in the history. Must run under the entity's lock.

    An alias held by another version is a Conflict: aliases move by taking them off one version first."""
    wanted = [alias] if alias is not None else []
    intervals = await queries.open_intervals(session, version.entity_id, LABEL_ALIAS, wanted, version.id)
    for interval in intervals:
        if interval.version_id != version.id:
            raise Conflict(f"version_alias '{alias}' is already used by version {interval.version} of {entity_label}")
    held_here = [interval for interval in intervals if interval.version_id == version.id]
    for interval in held_here:
        if interval.label != alias:
            _close(interval, caller, now, REASON_REMOVED)
    if alias is not None and all(interval.label != alias for interval in held_here):
        open_interval(session, caller, LABEL_ALIAS, alias, version, now)


def _version_ref(version_id: str | None, number: int | None) -> dict[str, Any] | None:
    return {"id": version_id, "version": number} if version_id is not None else None


def interval_to_wire(interval: LabelInterval) -> dict[str, Any]:
    """One stretch of time during which a label named a version (`valid_to` null: it still does)."""
    return {
        "kind": interval.kind,
        "name": interval.label,
        "version_id": interval.version_id,
        "version": interval.version,
        "valid_from": iso(interval.valid_from),
        "valid_to": iso(interval.valid_to),
        "set_by_subject": interval.started_by_subject,
        "set_reason": interval.start_reason,
        "from_version": _version_ref(interval.from_version_id, interval.from_version),
        "ended_by_subject": interval.ended_by_subject,
        "end_reason": interval.end_reason,
        "to_version": _version_ref(interval.to_version_id, interval.to_version),
    }


def version_events(intervals: Sequence[LabelInterval]) -> list[dict[str, Any]]:
    """A version's label events, oldest first: each interval is a gain and, once closed, a loss."""
    events: list[tuple[datetime, int, dict[str, Any]]] = []
    for interval in intervals:
        this = _version_ref(interval.version_id, interval.version)
        events.append(
            (
                interval.valid_from,
                0,
                {
                    "kind": interval.kind,
                    "name": interval.label,
                    "event": interval.start_reason,
                    "occurred_at": iso(interval.valid_from),
                    "subject": interval.started_by_subject,
                    "from_version": _version_ref(interval.from_version_id, interval.from_version),
                    "to_version": this,
                },
            )
        )
        if interval.valid_to is not None:
            events.append(
                (
                    interval.valid_to,
                    1,
                    {
                        "kind": interval.kind,
                        "name": interval.label,
                        "event": interval.end_reason,
                        "occurred_at": iso(interval.valid_to),
                        "subject": interval.ended_by_subject,
                        "from_version": this,
                        "to_version": _version_ref(interval.to_version_id, interval.to_version),
                    },
                )
            )
    events.sort(key=lambda item: (item[0], item[1]))
    return [event for _, _, event in events]
