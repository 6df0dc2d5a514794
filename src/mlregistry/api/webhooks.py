"""Webhooks (an mlregistry extension): register targets for registry events, read their delivery log, redeliver."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from mlregistry.api.deps import AppSettings, CurrentCaller, DbSession
from mlregistry.api.docs import ERROR_RESPONSES
from mlregistry.api.paging import PageParams, data_response, empty_response, list_response
from mlregistry.api.responses import JSONResponse
from mlregistry.schemas.common import DataEnvelope, EmptyResponse, ListEnvelope
from mlregistry.schemas.webhooks import (
    CreateWebhookRequest,
    DeliveryStatus,
    EventType,
    UpdateWebhookRequest,
    WebhookDeliveryOut,
    WebhookOut,
)
from mlregistry.services import webhooks

router = APIRouter(tags=["Webhooks"], responses=ERROR_RESPONSES)


@router.post("/webhooks", response_model=DataEnvelope[WebhookOut], summary="Register a webhook")
async def create_webhook(
    body: CreateWebhookRequest, session: DbSession, settings: AppSettings, caller: CurrentCaller
) -> JSONResponse:
    result = await webhooks.create_webhook(session, settings, caller, body)
    await session.commit()
    return data_response(result)


@router.get("/webhooks", response_model=ListEnvelope[WebhookOut], summary="List webhooks")
async def list_webhooks(
    session: DbSession,
    caller: CurrentCaller,
    page: PageParams,
    ml_repo_id: Annotated[str | None, Query(description="Only the webhooks of this ML repo")] = None,
    event: Annotated[EventType | None, Query(description="Only webhooks that receive this event type")] = None,
) -> JSONResponse:
    items, total = await webhooks.list_webhooks(
        session, caller, ml_repo_id=ml_repo_id, event_type=event, offset=page.offset, limit=page.limit
    )
    return list_response(items, total, page)


@router.get("/webhooks/{id}", response_model=DataEnvelope[WebhookOut], summary="Get a webhook")
async def get_webhook(id: str, session: DbSession, caller: CurrentCaller) -> JSONResponse:
    return data_response(await webhooks.get_webhook(session, caller, id))


@router.patch("/webhooks/{id}", response_model=DataEnvelope[WebhookOut], summary="Change a webhook")
async def update_webhook(
    id: str, body: UpdateWebhookRequest, session: DbSession, settings: AppSettings, caller: CurrentCaller
) -> JSONResponse:
    result = await webhooks.update_webhook(session, settings, caller, id, body)
    await session.commit()
    return data_response(result)


@router.delete("/webhooks/{id}", response_model=EmptyResponse, summary="Delete a webhook and its delivery log")
async def delete_webhook(id: str, session: DbSession, caller: CurrentCaller) -> JSONResponse:
    await webhooks.delete_webhook(session, caller, id)
    await session.commit()
    return empty_response()


@router.get(
    "/webhooks/{id}/deliveries",
    response_model=ListEnvelope[WebhookDeliveryOut],
    summary="The delivery log of a webhook, newest first",
)
async def list_deliveries(
    id: str,
    session: DbSession,
    settings: AppSettings,
    caller: CurrentCaller,
    page: PageParams,
    status: Annotated[DeliveryStatus | None, Query(description="`pending`, `delivered` or `failed`")] = None,
) -> JSONResponse:
    items, total = await webhooks.list_deliveries(
        session, settings, caller, id, status=status, offset=page.offset, limit=page.limit
    )
    return list_response(items, total, page)


@router.post(
    "/webhooks/{id}/deliveries/{delivery_id}/redeliver",
    response_model=DataEnvelope[WebhookDeliveryOut],
    summary="Send a delivery's event again (a new delivery with the same event id)",
)
async def redeliver(
    id: str, delivery_id: str, session: DbSession, settings: AppSettings, caller: CurrentCaller
) -> JSONResponse:
    result = await webhooks.redeliver(session, settings, caller, id, delivery_id)
    await session.commit()
    return data_response(result)
