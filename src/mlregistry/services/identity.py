"""Users, token issue and token verification."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from mlregistry.auth.subject import Caller, user_principals
from mlregistry.auth.tokens import build_claims, decode_token, encode_token, hash_secret, looks_like_jwt
from mlregistry.orm import Token, User
from mlregistry.repositories import identity as repo
from mlregistry.services.errors import Conflict, Invalid, NotFound, Unauthenticated
from mlregistry.settings import Settings

TOKEN_KIND_PAT = "pat"
TOKEN_KIND_BOOTSTRAP = "bootstrap"


@dataclass(frozen=True)
class IssuedToken:
    token: str
    jti: str
    expires_at: datetime | None


async def create_user(
    session: AsyncSession,
    *,
    slug: str,
    email: str | None = None,
    display_name: str | None = None,
    is_admin: bool = False,
) -> User:
    user = User(
        id=str(uuid.uuid4()),
        slug=slug,
        email=email.lower() if email else None,
        display_name=display_name,
        is_admin=is_admin,
        active=True,
    )
    session.add(user)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict(f"A user with slug '{slug}' or email '{email}' already exists") from exc
    return user


async def issue_token(
    session: AsyncSession,
    settings: Settings,
    user: User,
    *,
    name: str,
    expires_in_days: int | None = None,
    kind: str = TOKEN_KIND_PAT,
) -> IssuedToken:
    if expires_in_days is not None and expires_in_days < 1:
        raise Invalid.field(["expires_in_days"], "must be at least 1")
    now = datetime.now(UTC)
    expires_at = now + timedelta(days=expires_in_days) if expires_in_days else None
    jti = str(uuid.uuid4())
    claims = build_claims(
        issuer=settings.token_issuer,
        subject_id=user.id,
        jti=jti,
        tenant_name=settings.tenant_name,
        username=user.slug,
        email=user.email,
        subject_type="user",
        expires_at=expires_at,
        now=now,
    )
    session.add(Token(jti=jti, user_id=user.id, name=name, kind=kind, expires_at=expires_at, created_at=now))
    await session.flush()
    return IssuedToken(token=encode_token(claims, settings.signing_key), jti=jti, expires_at=expires_at)


async def register_opaque_token(session: AsyncSession, user: User, *, secret: str, name: str, kind: str) -> None:
    """Record a token chosen by the operator (e.g. MLREGISTRY_BOOTSTRAP_TOKEN); only its hash is kept."""
    session.add(Token(jti=str(uuid.uuid4()), user_id=user.id, name=name, kind=kind, secret_hash=hash_secret(secret)))
    await session.flush()


async def authenticate(session: AsyncSession, settings: Settings, token: str) -> Caller:
    """Resolve a bearer token to its caller, or raise Unauthenticated. One indexed lookup."""
    if looks_like_jwt(token):
        claims = decode_token(token, settings.signing_key, settings.token_issuer)
        found = await repo.token_with_user_by_jti(session, str(claims["jti"]))
        if found is not None and found[1].id != claims.get("sub"):
            found = None
    else:
        if len(token) > 8192 or token.count(".") > 0:
            raise Unauthenticated("Malformed token")
        found = await repo.token_with_user_by_secret_hash(session, hash_secret(token))
    if found is None:
        raise Unauthenticated("Unknown or revoked token")
    record, user = found
    now = datetime.now(UTC)
    if record.revoked_at is not None:
        raise Unauthenticated("Token has been revoked")
    if record.expires_at is not None and record.expires_at <= now:
        raise Unauthenticated("Token has expired")
    if not user.active:
        raise Unauthenticated("User is deactivated")
    return Caller(
        subject_id=user.id,
        subject_type="user",
        slug=user.slug,
        email=user.email,
        display_name=user.display_name,
        is_tenant_admin=user.is_admin,
        token_id=record.jti,
        pat_name=record.name if record.kind == TOKEN_KIND_PAT else None,
        principals=user_principals(user.slug, user.email),
    )


async def require_user(session: AsyncSession, slug: str) -> User:
    user = await repo.get_user_by_slug(session, slug)
    if user is None:
        raise NotFound(f"User '{slug}' not found")
    return user


@dataclass(frozen=True)
class BootstrapResult:
    created: bool
    token: str | None  # a generated token to show once; None when the operator supplied it


async def bootstrap_admin(session: AsyncSession, settings: Settings) -> BootstrapResult:
    """On an empty user table, create `admin` with the operator's token or a generated one."""
    if await repo.count_users(session) > 0:
        return BootstrapResult(created=False, token=None)
    try:
        admin = await create_user(session, slug="admin", display_name="Administrator", is_admin=True)
    except Conflict:  # another replica won the race
        return BootstrapResult(created=False, token=None)
    if settings.bootstrap_token is not None:
        await register_opaque_token(
            session,
            admin,
            secret=settings.bootstrap_token.get_secret_value(),
            name="bootstrap",
            kind=TOKEN_KIND_BOOTSTRAP,
        )
        return BootstrapResult(created=True, token=None)
    issued = await issue_token(session, settings, admin, name="bootstrap", kind=TOKEN_KIND_BOOTSTRAP)
    return BootstrapResult(created=True, token=issued.token)
