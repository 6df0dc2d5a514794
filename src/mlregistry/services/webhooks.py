"""Webhooks: who may register them, which targets are allowed, how deliveries are signed, and the worker
that sends the outbox (services/events.py writes it) with retries and exponential backoff.

Delivery is at least once: a worker that dies after sending but before recording the answer leaves the
row claimed until its lease ends, and then it is sent again (receivers deduplicate on the event id).
Several server processes never send one row at the same time (repositories/webhooks.claim_due).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from mlregistry import __version__
from mlregistry.auth.subject import Caller
from mlregistry.orm import MlRepo, Webhook, WebhookDelivery
from mlregistry.orm.base import utcnow
from mlregistry.repositories import ml_repos as repo_queries
from mlregistry.repositories import webhooks as queries
from mlregistry.repositories.database import Database
from mlregistry.schemas.webhooks import CreateWebhookRequest, UpdateWebhookRequest
from mlregistry.services import audit, events
from mlregistry.services.access import Role, repo_scope, require_tenant_admin, role_of
from mlregistry.services.errors import Invalid, NotFound
from mlregistry.services.ml_repos import readable_repo
from mlregistry.services.presenters import iso
from mlregistry.settings import Settings

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Mlregistry-Signature"
BATCH = 20
LEASE_MARGIN_SECONDS = 5  # a claim outlives the longest attempt (bounded by the timeout) by this much
ERROR_LENGTH = 1024


# --- targets -----------------------------------------------------------------------------------


def _allowed_by_setting(settings: Settings, host: str, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    for entry in settings.webhook_allowed_hosts:
        if entry.lower() == host.lower():
            return True
        try:
            if address in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def _is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


async def _addresses(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


async def target_problem(settings: Settings, url: str) -> str | None:
    """Why `url` may not receive deliveries, or None. Private, loopback, link-local and other non-public
    addresses are refused unless `MLREGISTRY_WEBHOOK_ALLOWED_HOSTS` names the host or its network."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in ("http", "https"):
        return "must be an http:// or https:// URL"
    if not parts.hostname:
        return "names no host"
    if parts.username is not None or parts.password is not None:
        return "must not carry credentials (sign with the webhook secret instead)"
    host = parts.hostname
    try:
        addresses = await _addresses(host, port)
    except UnicodeError:  # a host name that IDNA cannot encode (control characters, empty labels)
        return f"host '{host}' is not a valid host name"
    except OSError:
        return f"host '{host}' does not resolve"
    for address in addresses:
        if not _is_public(address) and not _allowed_by_setting(settings, host, address):
            return (
                f"resolves to {address}, a private, loopback or reserved address "
                "(an operator can allow it with MLREGISTRY_WEBHOOK_ALLOWED_HOSTS)"
            )
    return None


async def _check_target(settings: Settings, url: str, field: str) -> None:
    problem = await target_problem(settings, url)
    if problem is not None:
        raise Invalid.field(["body", field], problem)


def _check_events(event_types: Sequence[str]) -> list[str]:
    for index, event_type in enumerate(event_types):
        if event_type not in events.EVENT_TYPES:
            raise Invalid.field(
                ["body", "events", index], f"unknown event type; one of {', '.join(events.EVENT_TYPES)}"
            )
    return list(dict.fromkeys(event_types))


# --- signing ------------------------------------------------------------------------------------


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """`t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body>`: what `X-Mlregistry-Signature` carries."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


# --- management -----------------------------------------------------------------------------------


def _not_found(webhook_id: str) -> NotFound:
    return NotFound(f"Webhook '{webhook_id}' not found")


def webhook_to_wire(webhook: Webhook, repo: MlRepo | None, *, show_secret: bool = False) -> dict[str, Any]:
    wire: dict[str, Any] = {
        "id": webhook.id,
        "name": webhook.name,
        "url": webhook.url,
        "events": webhook.events,
        "ml_repo_id": str(webhook.ml_repo_id) if webhook.ml_repo_id is not None else None,
        "ml_repo": repo.name if repo is not None else None,
        "active": webhook.active,
        "created_by_subject": webhook.created_by_subject,
        "created_at": iso(webhook.created_at),
        "updated_at": iso(webhook.updated_at),
    }
    if show_secret:
        wire["secret"] = webhook.secret
    return wire


def delivery_to_wire(delivery: WebhookDelivery, tenant: str) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "webhook_id": delivery.webhook_id,
        "event_id": delivery.event_id,
        "event_type": delivery.event_type,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "next_attempt_at": iso(delivery.next_attempt_at) if delivery.status == queries.STATUS_PENDING else None,
        "last_attempt_at": iso(delivery.last_attempt_at),
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "delivered_at": iso(delivery.delivered_at),
        "redelivery_of": delivery.redelivery_of,
        "created_at": iso(delivery.created_at),
        "payload": events.render(delivery.payload, tenant),
    }


async def _managed_repo(
    session: AsyncSession, caller: Caller, ml_repo_id: str | None, field: list[str | int]
) -> MlRepo | None:
    """The repo a webhook is for (the caller must administer it); None (every repo) for tenant admins only."""
    if ml_repo_id is None:
        require_tenant_admin(caller, "register webhooks for every ML repo (set `ml_repo_id`)")
        return None
    if not ml_repo_id.strip():
        raise Invalid.field(field, "must name an ML repo id")
    return await readable_repo(session, caller, ml_repo_id, Role.ADMIN)


async def _managed_webhook(session: AsyncSession, caller: Caller, webhook_id: str) -> tuple[Webhook, MlRepo | None]:
    found = await queries.get_with_repo(session, webhook_id)
    if found is None:
        raise _not_found(webhook_id)
    webhook, repo = found
    if caller.is_tenant_admin:
        return webhook, repo
    if repo is None:
        raise _not_found(webhook_id)  # a tenant-wide webhook is not shown to others
    try:
        await readable_repo(session, caller, str(repo.id), Role.ADMIN)
    except NotFound:
        raise _not_found(webhook_id) from None
    return webhook, repo


async def create_webhook(
    session: AsyncSession, settings: Settings, caller: Caller, body: CreateWebhookRequest
) -> dict[str, Any]:
    repo = await _managed_repo(session, caller, body.ml_repo_id, ["body", "ml_repo_id"])
    event_types = _check_events(body.events)
    await _check_target(settings, body.url, "url")
    now = utcnow()
    webhook = Webhook(
        id=str(uuid.uuid4()),
        name=body.name,
        url=body.url,
        secret=body.secret or secrets.token_urlsafe(32),
        events=event_types,
        ml_repo_id=repo.id if repo is not None else None,
        active=body.active,
        created_by_subject=caller.as_subject(),
        created_at=now,
        updated_at=now,
    )
    session.add(webhook)
    await session.flush()
    audit.note(session, caller, "create", "webhook", webhook.id, url=webhook.url, ml_repo=repo.name if repo else None)
    return webhook_to_wire(webhook, repo, show_secret=True)


async def update_webhook(
    session: AsyncSession, settings: Settings, caller: Caller, webhook_id: str, body: UpdateWebhookRequest
) -> dict[str, Any]:
    webhook, repo = await _managed_webhook(session, caller, webhook_id)
    if body.url is not None:
        await _check_target(settings, body.url, "url")
        webhook.url = body.url
    if body.events is not None:
        webhook.events = _check_events(body.events)
    if body.name is not None:
        webhook.name = body.name
    if body.active is not None:
        webhook.active = body.active
    if body.secret is not None:
        webhook.secret = body.secret
    webhook.updated_at = utcnow()
    await session.flush()
    changed = sorted(body.model_dump(exclude_none=True, exclude={"secret"}))
    audit.note(
        session, caller, "update", "webhook", webhook.id, changed=changed, secret_changed=body.secret is not None
    )
    return webhook_to_wire(webhook, repo, show_secret=body.secret is not None)


async def get_webhook(session: AsyncSession, caller: Caller, webhook_id: str) -> dict[str, Any]:
    webhook, repo = await _managed_webhook(session, caller, webhook_id)
    return webhook_to_wire(webhook, repo)


async def delete_webhook(session: AsyncSession, caller: Caller, webhook_id: str) -> None:
    webhook, _ = await _managed_webhook(session, caller, webhook_id)
    await session.delete(webhook)
    await session.flush()
    audit.note(session, caller, "delete", "webhook", webhook_id, url=webhook.url)


async def _administered_repo_ids(session: AsyncSession, caller: Caller) -> list[int]:
    scope = repo_scope(caller)
    rows = await repo_queries.readable_with_rank(session, scope)
    return [repo.id for repo, rank in rows if role_of(caller, scope.access(repo, rank)) >= Role.ADMIN]


async def list_webhooks(
    session: AsyncSession,
    caller: Caller,
    *,
    ml_repo_id: str | None,
    event_type: str | None,
    offset: int,
    limit: int,
) -> tuple[list[dict[str, Any]], int]:
    """Tenant admins see every webhook; others those of the ML repos they administer."""
    if event_type is not None and event_type not in events.EVENT_TYPES:
        raise Invalid.field(["query", "event"], f"unknown event type; one of {', '.join(events.EVENT_TYPES)}")
    repo_ids: list[int] | None
    if ml_repo_id is not None:
        repo_ids = [(await readable_repo(session, caller, ml_repo_id, Role.ADMIN)).id]
    elif caller.is_tenant_admin:
        repo_ids = None
    else:
        repo_ids = await _administered_repo_ids(session, caller)
    rows, total = await queries.list_page(
        session, ml_repo_ids=repo_ids, event_type=event_type, offset=offset, limit=limit
    )
    return [webhook_to_wire(webhook, repo) for webhook, repo in rows], total


async def list_deliveries(
    session: AsyncSession,
    settings: Settings,
    caller: Caller,
    webhook_id: str,
    *,
    status: str | None,
    offset: int,
    limit: int,
) -> tuple[list[dict[str, Any]], int]:
    if status is not None and status not in queries.DELIVERY_STATUSES:
        raise Invalid.field(["query", "status"], f"one of {', '.join(queries.DELIVERY_STATUSES)}")
    webhook, _ = await _managed_webhook(session, caller, webhook_id)
    rows, total = await queries.delivery_page(session, webhook.id, status=status, offset=offset, limit=limit)
    return [delivery_to_wire(row, settings.tenant_name) for row in rows], total


async def redeliver(
    session: AsyncSession, settings: Settings, caller: Caller, webhook_id: str, delivery_id: str
) -> dict[str, Any]:
    """Send a logged delivery's event again, as a new delivery (same event id, fresh attempts)."""
    webhook, _ = await _managed_webhook(session, caller, webhook_id)
    original = await queries.get_delivery(session, webhook.id, delivery_id)
    if original is None:
        raise NotFound(f"Delivery '{delivery_id}' of webhook '{webhook_id}' not found")
    now = utcnow()
    again = WebhookDelivery(
        id=str(uuid.uuid4()),
        webhook_id=webhook.id,
        event_id=original.event_id,
        event_type=original.event_type,
        payload=original.payload,
        status=queries.STATUS_PENDING,
        attempts=0,
        next_attempt_at=now,
        redelivery_of=original.id,
        created_at=now,
    )
    session.add(again)
    await session.flush()
    audit.note(session, caller, "redeliver", "webhook", webhook.id, delivery=original.id, redelivery=again.id)
    return delivery_to_wire(again, settings.tenant_name)


# --- the worker -------------------------------------------------------------------------------------


@dataclass
class Outcome:
    delivered: bool
    status_code: int | None
    error: str | None


def retry_delay(settings: Settings, attempts: int) -> float:
    """Exponential backoff: base, 2*base, 4*base, ... capped."""
    return float(
        min(settings.webhook_retry_base_seconds * 2 ** max(attempts - 1, 0), settings.webhook_retry_max_seconds)
    )


async def send(
    client: httpx.AsyncClient, settings: Settings, webhook: Webhook, delivery: WebhookDelivery, attempt: int
) -> Outcome:
    """One attempt, bounded as a whole (name resolution included) by the timeout, so the claim's lease holds."""
    try:
        return await asyncio.wait_for(
            _attempt(client, settings, webhook, delivery, attempt), settings.webhook_timeout_seconds
        )
    except TimeoutError:
        return Outcome(False, None, f"no answer within {settings.webhook_timeout_seconds:g} s")


async def _attempt(
    client: httpx.AsyncClient, settings: Settings, webhook: Webhook, delivery: WebhookDelivery, attempt: int
) -> Outcome:
    problem = await target_problem(settings, webhook.url)
    if problem is not None:
        return Outcome(False, None, f"target refused: url {problem}")
    body = json.dumps(events.render(delivery.payload, settings.tenant_name), separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"mlregistry-webhooks/{__version__}",
        "X-Mlregistry-Event": delivery.event_type,
        "X-Mlregistry-Event-Id": delivery.event_id,
        "X-Mlregistry-Delivery": delivery.id,
        "X-Mlregistry-Attempt": str(attempt),
        SIGNATURE_HEADER: signature(webhook.secret, int(time.time()), body),
    }
    try:
        response = await client.post(webhook.url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        return Outcome(False, None, f"{type(exc).__name__}: {exc}"[:ERROR_LENGTH])
    if 200 <= response.status_code < 300:
        return Outcome(True, response.status_code, None)
    return Outcome(False, response.status_code, f"HTTP {response.status_code}: {response.text[:200]}"[:ERROR_LENGTH])


def _result_values(settings: Settings, attempts: int, outcome: Outcome) -> dict[str, Any]:
    now = utcnow()
    values: dict[str, Any] = {"last_status_code": outcome.status_code, "last_error": outcome.error}
    if outcome.delivered:
        values.update(status=queries.STATUS_DELIVERED, delivered_at=now)
    elif attempts >= settings.webhook_max_attempts:
        values.update(status=queries.STATUS_FAILED)
    else:
        values.update(next_attempt_at=now + timedelta(seconds=retry_delay(settings, attempts)))
    return values


async def deliver_due(database: Database, settings: Settings, client: httpx.AsyncClient) -> int:
    """Claim due deliveries, send them, record each outcome. Returns how many were attempted."""
    async with database.session(write=False) as session:
        if not await queries.any_due(session, utcnow()):
            return 0
    async with database.session(write=True) as session:
        now = utcnow()
        lease = now + timedelta(seconds=settings.webhook_timeout_seconds + LEASE_MARGIN_SECONDS)
        claimed = await queries.claim_due(session, now, lease, BATCH)
        await session.commit()
    if not claimed:
        return 0
    outcomes = await asyncio.gather(
        *(send(client, settings, webhook, delivery, attempts) for delivery, webhook, attempts in claimed)
    )
    async with database.session(write=True) as session:
        for (delivery, _, attempts), outcome in zip(claimed, outcomes, strict=True):
            await queries.record_attempt(session, delivery.id, attempts, _result_values(settings, attempts, outcome))
        await session.commit()
    return len(claimed)


async def run_forever(database: Database, settings: Settings) -> None:
    """The webhook worker of one server process."""
    async with httpx.AsyncClient(timeout=settings.webhook_timeout_seconds, follow_redirects=False) as client:
        while True:
            try:
                while await deliver_due(database, settings, client) == BATCH:
                    pass
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("webhook delivery pass failed")
            await asyncio.sleep(settings.webhook_poll_interval_seconds)
