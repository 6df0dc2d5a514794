"""The audit trail (tenant admins): every mutation, with its subject and token, newest first."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from mlregistry.api.deps import CurrentCaller, DbSession
from mlregistry.api.docs import ERROR_RESPONSES
from mlregistry.api.paging import PageParams, list_response
from mlregistry.api.responses import JSONResponse
from mlregistry.repositories.audit import AuditFilters
from mlregistry.schemas.common import ListEnvelope
from mlregistry.schemas.identity import AuditEventOut
from mlregistry.services import audit
from mlregistry.services.errors import Invalid

router = APIRouter(tags=["Audit"], responses=ERROR_RESPONSES)


def _moment(value: datetime | None, name: str) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise Invalid.field(["query", name], "must carry a time zone (e.g. `Z`)")
    return value


@router.get("/audit-events", response_model=ListEnvelope[AuditEventOut], summary="List audit events (tenant admins)")
async def list_audit_events(
    session: DbSession,
    caller: CurrentCaller,
    page: PageParams,
    subject: Annotated[str | None, Query(description="Subject id or slug (user name, e-mail, account name)")] = None,
    resource_type: Annotated[str | None, Query(description="e.g. `ml-repo`, `model-version`, `user`")] = None,
    resource_id: Annotated[str | None, Query()] = None,
    action: Annotated[str | None, Query(description="e.g. `create`, `update`, `delete`, `apply_tags`")] = None,
    since: Annotated[datetime | None, Query(description="ISO-8601, inclusive")] = None,
    until: Annotated[datetime | None, Query(description="ISO-8601, exclusive")] = None,
) -> JSONResponse:
    filters = AuditFilters(
        subject=subject,
        resource_type=resource_type,
        resource_id=resource_id,
        action=action,
        since=_moment(since, "since"),
        until=_moment(until, "until"),
    )
    items, total = await audit.list_events(session, caller, filters, offset=page.offset, limit=page.limit)
    return list_response(items, total, page)
