"""The audit trail. Services `note` each mutation; the note is added to the request's session, so it is
written by the same commit as the change and vanishes with it when the request fails.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from mlregistry.auth.subject import Caller
from mlregistry.orm import AuditEvent
from mlregistry.orm.base import utcnow
from mlregistry.repositories import audit as queries
from mlregistry.repositories.audit import AuditFilters
from mlregistry.services.access import require_tenant_admin
from mlregistry.services.errors import Invalid
from mlregistry.services.presenters import iso


def note(
    session: AsyncSession,
    caller: Caller,
    action: str,
    resource_type: str,
    resource_id: object,
    **details: Any,
) -> None:
    """Record that `caller` did `action` to a resource, in the current transaction."""
    add(session, row(caller, action, resource_type, resource_id, **details))


def add(session: AsyncSession, event: dict[str, Any]) -> None:
    """Record an event made by `row` in the current transaction (its session's next flush writes it)."""
    session.add(AuditEvent(**event))


def row(caller: Caller, action: str, resource_type: str, resource_id: object, **details: Any) -> dict[str, Any]:
    """The columns of an audit event, for a write path that inserts it itself (in the same transaction)."""
    return {
        "occurred_at": utcnow(),
        "subject_id": caller.subject_id,
        "subject_type": caller.subject_type,
        "subject_slug": caller.slug,
        "subject": caller.as_subject(),
        "token_id": caller.token_id,
        "action": action,
        "resource_type": resource_type,
        "resource_id": str(resource_id),
        "details": {key: value for key, value in details.items() if value is not None},
    }


def event_to_wire(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": str(event.id),
        "occurred_at": iso(event.occurred_at),
        "action": event.action,
        "resource_type": event.resource_type,
        "resource_id": event.resource_id,
        "subject": event.subject,
        "token_id": event.token_id,
        "details": event.details,
    }


async def list_events(
    session: AsyncSession, caller: Caller, filters: AuditFilters, *, offset: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    require_tenant_admin(caller, "read the audit trail")
    if filters.since is not None and filters.until is not None and filters.since >= filters.until:
        raise Invalid.field(["query", "until"], "must be later than `since`")
    events, total = await queries.list_page(session, filters, offset=offset, limit=limit)
    return [event_to_wire(event) for event in events], total
