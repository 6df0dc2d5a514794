"""Webhook requests and answers (an mlregistry extension of the ML API)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mlregistry.schemas.common import Subject

WebhookName = Annotated[str, Field(min_length=1, max_length=256)]
WebhookUrl = Annotated[
    str,
    Field(
        min_length=8,
        max_length=2048,
        # Stated in the schema, checked by the service (its message says what is wrong with the URL).
        json_schema_extra={"pattern": "^[Hh][Tt][Tt][Pp][Ss]?://"},
        description="An `http://` or `https://` URL whose host resolves to a public address",
    ),
]
WebhookSecret = Annotated[
    str, Field(min_length=16, max_length=256, description="HMAC-SHA256 key (16-256 characters); generated if omitted")
]
EventType = Literal[
    "version.created",
    "alias.moved",
    "tag.moved",
    "version.deleted",
    "stage.failed",
    "prompt_version.created",
    "run.finished",
]
DeliveryStatus = Literal["pending", "delivered", "failed"]
EventList = Annotated[list[EventType], Field(min_length=1, max_length=16, description="Event types to receive")]


class CreateWebhookRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: WebhookName
    url: WebhookUrl
    events: EventList
    ml_repo_id: str | None = Field(None, description="Only events of this ML repo; omitted: every repo (tenant admins)")
    secret: WebhookSecret | None = None
    active: bool = True


class UpdateWebhookRequest(BaseModel):
    """Only the fields sent change."""

    model_config = ConfigDict(extra="forbid")

    name: WebhookName | None = None
    url: WebhookUrl | None = None
    events: EventList | None = None
    secret: WebhookSecret | None = None
    active: bool | None = None


class WebhookOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    name: str
    url: str
    events: list[str]
    ml_repo_id: str | None = None
    ml_repo: str | None = None
    active: bool
    secret: str | None = Field(None, description="Only in the answer that created the webhook or set a new secret")
    created_by_subject: Subject
    created_at: str
    updated_at: str


class WebhookDeliveryOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    webhook_id: str
    event_id: str
    event_type: str
    status: str = Field(description="`pending`, `delivered` or `failed`")
    attempts: int
    next_attempt_at: str | None = None
    last_attempt_at: str | None = None
    last_status_code: int | None = None
    last_error: str | None = None
    delivered_at: str | None = None
    redelivery_of: str | None = None
    created_at: str
    payload: dict[str, Any]
