"""The audit trail: append and list (every filter is served by an index)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from mlregistry.orm import AuditEvent


@dataclass
class AuditFilters:
    subject: str | None = None  # a subject id or slug
    resource_type: str | None = None
    resource_id: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _conditions(filters: AuditFilters) -> list[Any]:
    conditions: list[Any] = []
    if filters.subject is not None:
        conditions.append(or_(AuditEvent.subject_id == filters.subject, AuditEvent.subject_slug == filters.subject))
    if filters.resource_type is not None:
        conditions.append(AuditEvent.resource_type == filters.resource_type)
    if filters.resource_id is not None:
        conditions.append(AuditEvent.resource_id == filters.resource_id)
    if filters.action is not None:
        conditions.append(AuditEvent.action == filters.action)
    if filters.since is not None:
        conditions.append(AuditEvent.occurred_at >= filters.since)
    if filters.until is not None:
        conditions.append(AuditEvent.occurred_at < filters.until)
    return conditions


async def list_page(
    session: AsyncSession, filters: AuditFilters, *, offset: int, limit: int
) -> tuple[list[AuditEvent], int]:
    conditions = _conditions(filters)
    page = await session.scalars(
        select(AuditEvent)
        .where(*conditions)
        .order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc())
        .offset(offset)
        .limit(limit)
    )
    total = await session.scalar(select(func.count()).select_from(AuditEvent).where(*conditions))
    return list(page), int(total or 0)
