"""Users, their tokens, and the team memberships that become their principals."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from mlregistry.orm import Team, TeamMember, Token, User


def like_prefix(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"{escaped}%"


async def count_users(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(User)) or 0)


async def get_user(session: AsyncSession, user_id: str) -> User | None:
    return await session.get(User, user_id)


async def get_user_by_slug(session: AsyncSession, slug: str) -> User | None:
    return await session.scalar(select(User).where(User.slug == slug))


async def get_user_by_email(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(select(User).where(User.email == email))


async def users_by_emails(session: AsyncSession, emails: Sequence[str]) -> dict[str, User]:
    if not emails:
        return {}
    users = await session.scalars(select(User).where(User.email.in_(list(emails))))
    return {user.email: user for user in users if user.email}


async def list_users(
    session: AsyncSession,
    *,
    query: str | None,
    include_inactive: bool,
    only_user_id: str | None,
    offset: int,
    limit: int,
) -> tuple[list[User], int]:
    conditions = []
    if query:
        pattern = like_prefix(query.lower())
        conditions.append(or_(User.email.like(pattern, escape="\\"), User.slug.like(pattern, escape="\\")))
    if not include_inactive:
        conditions.append(User.active.is_(True))
    if only_user_id is not None:
        conditions.append(User.id == only_user_id)
    page = await session.scalars(
        select(User).where(*conditions).order_by(User.created_at.desc(), User.id).offset(offset).limit(limit)
    )
    total = await session.scalar(select(func.count()).select_from(User).where(*conditions))
    return list(page), int(total or 0)


async def delete_user(session: AsyncSession, user_id: str) -> None:
    await session.execute(delete(User).where(User.id == user_id))


TokenOwner = tuple[Token, User, list[str]]


async def _token_owner(session: AsyncSession, condition: Any) -> TokenOwner | None:
    """A token, its user and the user's team names, in one round trip (a row per team)."""
    rows = (
        await session.execute(
            select(Token, User, Team.name)
            .join(User, Token.user_id == User.id)
            .outerjoin(TeamMember, TeamMember.email == User.email)
            .outerjoin(Team, Team.id == TeamMember.team_id)
            .where(condition)
        )
    ).all()
    if not rows:
        return None
    return rows[0][0], rows[0][1], sorted({row[2] for row in rows if row[2] is not None})


async def token_owner_by_jti(session: AsyncSession, jti: str) -> TokenOwner | None:
    return await _token_owner(session, Token.jti == jti)


async def token_owner_by_secret_hash(session: AsyncSession, secret_hash: str) -> TokenOwner | None:
    return await _token_owner(session, Token.secret_hash == secret_hash)


async def team_names_for_email(session: AsyncSession, email: str) -> list[str]:
    names = await session.scalars(
        select(Team.name).join(TeamMember, TeamMember.team_id == Team.id).where(TeamMember.email == email)
    )
    return sorted(names)


async def list_tokens(
    session: AsyncSession, user_id: str, kinds: Sequence[str], *, name_prefix: str | None, offset: int, limit: int
) -> tuple[list[Token], int]:
    conditions = [Token.user_id == user_id, Token.kind.in_(list(kinds)), Token.revoked_at.is_(None)]
    if name_prefix:
        conditions.append(Token.name.like(like_prefix(name_prefix), escape="\\"))
    page = await session.scalars(
        select(Token).where(*conditions).order_by(Token.created_at.desc(), Token.jti).offset(offset).limit(limit)
    )
    total = await session.scalar(select(func.count()).select_from(Token).where(*conditions))
    return list(page), int(total or 0)


async def active_token_named(session: AsyncSession, user_id: str, name: str) -> Token | None:
    return await session.scalar(
        select(Token).where(Token.user_id == user_id, Token.name == name, Token.revoked_at.is_(None))
    )


async def get_token(session: AsyncSession, jti: str) -> Token | None:
    return await session.get(Token, jti)


async def revoke_tokens_of_user(session: AsyncSession, user_id: str, kinds: Sequence[str], now: datetime) -> int:
    result = await session.execute(
        update(Token)
        .where(Token.user_id == user_id, Token.kind.in_(list(kinds)), Token.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
