"""Virtual accounts and their tokens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from mlregistry.orm import VirtualAccount, VirtualAccountToken
from mlregistry.repositories.identity import like_prefix


@dataclass
class VirtualAccountFilters:
    name_prefix: str | None = None
    owned_by_teams: list[str] | None = None
    is_expired: bool | None = None
    now: datetime | None = None


async def get(session: AsyncSession, account_id: str) -> VirtualAccount | None:
    return await session.get(VirtualAccount, account_id)


async def get_by_name(session: AsyncSession, name: str) -> VirtualAccount | None:
    return await session.scalar(select(VirtualAccount).where(VirtualAccount.name == name))


def _conditions(filters: VirtualAccountFilters) -> list[Any]:
    conditions: list[Any] = []
    if filters.name_prefix:
        conditions.append(VirtualAccount.name.like(like_prefix(filters.name_prefix), escape="\\"))
    if filters.owned_by_teams:
        conditions.append(VirtualAccount.owner_team.in_(filters.owned_by_teams))
    if filters.is_expired is not None and filters.now is not None:
        expired = VirtualAccount.expires_at <= filters.now
        if filters.is_expired:
            conditions.append(expired)
        else:
            conditions.append(or_(VirtualAccount.expires_at.is_(None), VirtualAccount.expires_at > filters.now))
    return conditions


async def list_page(
    session: AsyncSession, filters: VirtualAccountFilters, *, offset: int, limit: int
) -> tuple[list[VirtualAccount], int]:
    conditions = _conditions(filters)
    page = await session.scalars(
        select(VirtualAccount)
        .where(*conditions)
        .order_by(VirtualAccount.created_at.desc(), VirtualAccount.id)
        .offset(offset)
        .limit(limit)
    )
    total = await session.scalar(select(func.count()).select_from(VirtualAccount).where(*conditions))
    return list(page), int(total or 0)


async def tokens_of(session: AsyncSession, account_ids: list[str]) -> dict[str, list[VirtualAccountToken]]:
    """Unrevoked tokens of the given accounts, newest first (one query for a whole page)."""
    found: dict[str, list[VirtualAccountToken]] = {account_id: [] for account_id in account_ids}
    if not account_ids:
        return found
    tokens = await session.scalars(
        select(VirtualAccountToken)
        .where(VirtualAccountToken.virtual_account_id.in_(account_ids), VirtualAccountToken.revoked_at.is_(None))
        .order_by(VirtualAccountToken.created_at.desc())
    )
    for token in tokens:
        found[token.virtual_account_id].append(token)
    return found


async def token_with_account(session: AsyncSession, jti: str) -> tuple[VirtualAccountToken, VirtualAccount] | None:
    row = (
        await session.execute(
            select(VirtualAccountToken, VirtualAccount)
            .join(VirtualAccount, VirtualAccount.id == VirtualAccountToken.virtual_account_id)
            .where(VirtualAccountToken.jti == jti)
        )
    ).first()
    return (row[0], row[1]) if row else None


async def shorten_tokens(session: AsyncSession, account_id: str, until: datetime) -> None:
    """Let every live token of the account expire at `until` at the latest (regeneration grace period)."""
    live = [VirtualAccountToken.virtual_account_id == account_id, VirtualAccountToken.revoked_at.is_(None)]
    await session.execute(
        update(VirtualAccountToken)
        .where(*live, or_(VirtualAccountToken.expires_at.is_(None), VirtualAccountToken.expires_at > until))
        .values(expires_at=until)
    )


async def delete_account(session: AsyncSession, account_id: str) -> None:
    await session.execute(delete(VirtualAccount).where(VirtualAccount.id == account_id))
