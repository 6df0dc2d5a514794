"""Webhooks and the delivery outbox: lookups, pages, and the claim that hands a due delivery to one worker."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import String, cast, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from mlregistry.auth.cache import SignalledCache
from mlregistry.metrics import WEBHOOK_CACHE_LOOKUPS
from mlregistry.orm import MlRepo, Webhook, WebhookDelivery

STATUS_PENDING = "pending"
STATUS_DELIVERED = "delivered"
STATUS_FAILED = "failed"
DELIVERY_STATUSES = (STATUS_PENDING, STATUS_DELIVERED, STATUS_FAILED)


@dataclass(frozen=True)
class Subscription:
    """An active webhook as an event needs it: its id and the event types it asked for."""

    id: str
    events: frozenset[str]


class WebhookCache(SignalledCache[int, tuple[Subscription, ...]]):
    """By ML repo id: the active webhooks of that repo and of every repo. Cleared in every process when a
    transaction that wrote webhooks or ML repos commits (auth.cache)."""

    def __init__(self, seconds: float, *, stamp: Path | None = None, listening: bool = True) -> None:
        super().__init__(seconds, WEBHOOK_CACHE_LOOKUPS, stamp=stamp, listening=listening)


async def subscribed(session: AsyncSession, ml_repo_id: int) -> tuple[Subscription, ...]:
    """Active webhooks of this ML repo and of every repo (their event lists are checked by the caller).

    Answered from the database's webhook cache when it holds the repo (the session's class carries it)."""
    cache: WebhookCache | None = getattr(session.sync_session, "webhook_cache", None)
    generation = 0
    if cache is not None and cache.enabled:
        kept = cache.lookup(ml_repo_id)
        if kept is not None:
            return kept
        generation = cache.generation  # after the lookup: it clears a stale cache first
    rows = await session.execute(
        select(Webhook.id, Webhook.events).where(
            Webhook.active.is_(True), or_(Webhook.ml_repo_id.is_(None), Webhook.ml_repo_id == ml_repo_id)
        )
    )
    found = tuple(Subscription(id=row.id, events=frozenset(row.events or ())) for row in rows)
    if cache is not None and cache.enabled:
        cache.store(ml_repo_id, found, None, generation)
    return found


async def get_with_repo(session: AsyncSession, webhook_id: str) -> tuple[Webhook, MlRepo | None] | None:
    row = (
        await session.execute(
            select(Webhook, MlRepo).outerjoin(MlRepo, MlRepo.id == Webhook.ml_repo_id).where(Webhook.id == webhook_id)
        )
    ).first()
    return (row[0], row[1]) if row else None


async def list_page(
    session: AsyncSession,
    *,
    ml_repo_ids: Sequence[int] | None,
    event_type: str | None,
    offset: int,
    limit: int,
) -> tuple[list[tuple[Webhook, MlRepo | None]], int]:
    """`ml_repo_ids` None: every webhook; else only those of these repos."""
    conditions: list[Any] = []
    if ml_repo_ids is not None:
        conditions.append(Webhook.ml_repo_id.in_(list(ml_repo_ids)))
    if event_type is not None:
        # Event types are plain dotted words, so the quoted name matches only a whole list element.
        conditions.append(cast(Webhook.events, String).like(f'%"{event_type}"%'))
    page = await session.execute(
        select(Webhook, MlRepo)
        .outerjoin(MlRepo, MlRepo.id == Webhook.ml_repo_id)
        .where(*conditions)
        .order_by(Webhook.created_at.desc(), Webhook.id.desc())
        .offset(offset)
        .limit(limit)
    )
    total = await session.scalar(select(func.count()).select_from(Webhook).where(*conditions))
    return [(row[0], row[1]) for row in page], int(total or 0)


async def delivery_page(
    session: AsyncSession, webhook_id: str, *, status: str | None, offset: int, limit: int
) -> tuple[list[WebhookDelivery], int]:
    conditions: list[Any] = [WebhookDelivery.webhook_id == webhook_id]
    if status is not None:
        conditions.append(WebhookDelivery.status == status)
    page = await session.scalars(
        select(WebhookDelivery)
        .where(*conditions)
        .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
        .offset(offset)
        .limit(limit)
    )
    total = await session.scalar(select(func.count()).select_from(WebhookDelivery).where(*conditions))
    return list(page), int(total or 0)


async def get_delivery(session: AsyncSession, webhook_id: str, delivery_id: str) -> WebhookDelivery | None:
    found: WebhookDelivery | None = await session.scalar(
        select(WebhookDelivery).where(WebhookDelivery.id == delivery_id, WebhookDelivery.webhook_id == webhook_id)
    )
    return found


def _due(now: datetime) -> list[Any]:
    return [
        WebhookDelivery.status == STATUS_PENDING,
        WebhookDelivery.next_attempt_at <= now,
        Webhook.active.is_(True),
    ]


async def any_due(session: AsyncSession, now: datetime) -> bool:
    """A cheap read before taking a write transaction (on SQLite a write locks the whole database)."""
    found = await session.scalar(
        select(WebhookDelivery.id).join(Webhook, Webhook.id == WebhookDelivery.webhook_id).where(*_due(now)).limit(1)
    )
    return found is not None


async def claim_due(
    session: AsyncSession, now: datetime, lease_until: datetime, limit: int
) -> list[tuple[WebhookDelivery, Webhook, int]]:
    """Take up to `limit` due deliveries for this worker: each gets one more attempt and is hidden until the lease ends.

    On Postgres the candidates are locked `FOR UPDATE SKIP LOCKED`, so concurrent workers take disjoint rows
    without waiting for each other. SQLite ignores the lock clause, but its write transactions run one at a
    time (`BEGIN IMMEDIATE`), so the select and the update below are atomic there as well.
    """
    rows = (
        await session.execute(
            select(WebhookDelivery, Webhook)
            .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
            .where(*_due(now))
            .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
            .limit(limit)
            .with_for_update(skip_locked=True, of=WebhookDelivery)
        )
    ).all()
    claimed: list[tuple[WebhookDelivery, Webhook, int]] = []  # with the attempt number each claim holds
    for delivery, webhook in rows:
        attempts = delivery.attempts
        result = await session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery.id, WebhookDelivery.attempts == attempts)
            .values(attempts=attempts + 1, next_attempt_at=lease_until, last_attempt_at=now)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount:  # type: ignore[attr-defined]
            claimed.append((delivery, webhook, attempts + 1))
    return claimed


async def record_attempt(session: AsyncSession, delivery_id: str, attempts: int, values: dict[str, Any]) -> None:
    """Write an attempt's outcome, unless another worker has claimed the row since (its lease ran out)."""
    await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id, WebhookDelivery.attempts == attempts)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
