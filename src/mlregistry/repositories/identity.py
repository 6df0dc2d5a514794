"""Users and tokens."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from mlregistry.orm import Token, User


async def count_users(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(User)) or 0)


async def get_user_by_slug(session: AsyncSession, slug: str) -> User | None:
    return await session.scalar(select(User).where(User.slug == slug))


async def get_user_by_email(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(select(User).where(User.email == email))


async def token_with_user_by_jti(session: AsyncSession, jti: str) -> tuple[Token, User] | None:
    row = (
        await session.execute(select(Token, User).join(User, Token.user_id == User.id).where(Token.jti == jti))
    ).first()
    return (row[0], row[1]) if row else None


async def token_with_user_by_secret_hash(session: AsyncSession, secret_hash: str) -> tuple[Token, User] | None:
    row = (
        await session.execute(
            select(Token, User).join(User, Token.user_id == User.id).where(Token.secret_hash == secret_hash)
        )
    ).first()
    return (row[0], row[1]) if row else None
