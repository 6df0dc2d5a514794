"""Webhooks and their outbox: a delivery row per (event, webhook), written in the transaction of the change."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from mlregistry.orm.base import Base, JSONDocument, utcnow
from mlregistry.orm.tables import ID_LENGTH

URL_LENGTH = 2048


class Webhook(Base):
    """A target URL that receives signed POSTs for some event types, of one ML repo or (null) of all."""

    __tablename__ = "webhooks"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    name: Mapped[str] = mapped_column(String(256))
    url: Mapped[str] = mapped_column(String(URL_LENGTH))
    # Kept as given: the server needs it to sign each delivery. Shown once, in the answer that set it.
    secret: Mapped[str] = mapped_column(String(256))
    events: Mapped[list[str]] = mapped_column(JSONDocument)
    ml_repo_id: Mapped[int | None] = mapped_column(ForeignKey("ml_repos.id", ondelete="CASCADE"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by_subject: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class WebhookDelivery(Base):
    """One event for one webhook: the outbox row the worker sends, and afterwards its delivery log entry.

    `status` is `pending` until it is `delivered` or, after the last attempt, `failed`. A worker claims a
    due row by bumping `attempts` and pushing `next_attempt_at` out by a lease (compare-and-set on
    `attempts`; on Postgres the candidates are selected `FOR UPDATE SKIP LOCKED`), so several server
    processes never send one row at the same time, and a claim lost with its process becomes due again.
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_webhook_id_created_at", "webhook_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    webhook_id: Mapped[str] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(ID_LENGTH), index=True)
    event_type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_attempt_at: Mapped[datetime | None] = mapped_column()
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(1024))
    delivered_at: Mapped[datetime | None] = mapped_column()
    redelivery_of: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
