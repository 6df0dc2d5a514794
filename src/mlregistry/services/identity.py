"""Users, token issue, and authentication: from a bearer token to the `Caller` of a request.

Every request looks its credential up again (token row, owner, owner's state), so a revoked token or a
deactivated or deleted subject fails on the very next request.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from mlregistry.auth.cache import CallerCache
from mlregistry.auth.oidc import OidcVerifier
from mlregistry.auth.subject import (
    SUBJECT_SERVICE_ACCOUNT,
    SUBJECT_USER,
    SYSTEM_CALLER,
    Caller,
    Grant,
    user_principals,
    virtual_account_principals,
)
from mlregistry.auth.tokens import (
    MAX_TOKEN_LENGTH,
    build_claims,
    decode_token,
    encode_token,
    hash_secret,
    inspect_header,
    new_opaque_secret,
    unverified_issuer,
)
from mlregistry.orm import Token, User, VirtualAccount
from mlregistry.repositories import identity as repo
from mlregistry.repositories import virtual_accounts as va_repo
from mlregistry.services import audit
from mlregistry.services.errors import Conflict, Invalid, NotFound, Unauthenticated
from mlregistry.settings import Settings

TOKEN_KIND_PAT = "pat"
TOKEN_KIND_BOOTSTRAP = "bootstrap"
PERSONAL_TOKEN_KINDS = (TOKEN_KIND_PAT, TOKEN_KIND_BOOTSTRAP)
TOKEN_TYPE_JWT = "jwt"
TOKEN_TYPE_OPAQUE = "opaque"
MAX_OPAQUE_TOKEN_LENGTH = 512


@dataclass(frozen=True)
class IssuedToken:
    token: str
    jti: str
    expires_at: datetime | None


class UnknownExternalUser(Unauthenticated):
    """A valid external token for an e-mail without a user; `claims` are verified."""

    def __init__(self, claims: dict[str, Any]) -> None:
        super().__init__("No user is registered for this identity")
        self.claims = claims


def user_caller(user: User, *, teams: list[str] | None = None, token: Token | None = None) -> Caller:
    return Caller(
        subject_id=user.id,
        subject_type=SUBJECT_USER,
        slug=user.slug,
        email=user.email,
        display_name=user.display_name,
        is_tenant_admin=user.is_admin,
        token_id=token.jti if token is not None else None,
        pat_name=token.name if token is not None and token.kind == TOKEN_KIND_PAT else None,
        principals=user_principals(user.slug, user.email, teams or []),
    )


async def create_user(
    session: AsyncSession,
    *,
    slug: str,
    email: str | None = None,
    display_name: str | None = None,
    is_admin: bool = False,
    actor: Caller | None = None,
) -> User:
    now = datetime.now(UTC)
    user = User(
        id=str(uuid.uuid4()),
        slug=slug,
        email=email.lower() if email else None,
        display_name=display_name,
        is_admin=is_admin,
        active=True,
        created_at=now,
        updated_at=now,
    )
    session.add(user)
    try:
        await session.flush()
    except IntegrityError as exc:
        taken = f"slug '{slug}' or email '{email.lower()}'" if email else f"slug '{slug}'"
        raise Conflict(f"A user with {taken} already exists") from exc
    audit.note(session, actor or SYSTEM_CALLER, "create", "user", user.id, slug=slug, is_admin=is_admin)
    return user


async def issue_token(
    session: AsyncSession,
    settings: Settings,
    user: User,
    *,
    name: str,
    expires_in_days: int | None = None,
    expires_at: datetime | None = None,
    kind: str = TOKEN_KIND_PAT,
    token_type: str = TOKEN_TYPE_JWT,
    actor: Caller | None = None,
) -> IssuedToken:
    """Issue a personal token: a JWT found by its `jti`, or an opaque `tfy_` key found by its hash."""
    if expires_in_days is not None and expires_in_days < 1:
        raise Invalid.field(["expires_in_days"], "must be at least 1")
    now = datetime.now(UTC)
    if expires_in_days:
        expires_at = now + timedelta(days=expires_in_days)
    jti = str(uuid.uuid4())
    issuer = actor or SYSTEM_CALLER
    record = Token(
        jti=jti,
        user_id=user.id,
        name=name,
        kind=kind,
        expires_at=expires_at,
        created_at=now,
        created_by_subject=issuer.as_subject(),
    )
    if token_type == TOKEN_TYPE_OPAQUE:
        secret = new_opaque_secret()
        record.secret_hash = hash_secret(secret)
    else:
        claims = build_claims(
            issuer=settings.token_issuer,
            subject_id=user.id,
            jti=jti,
            tenant_name=settings.tenant_name,
            username=user.slug,
            email=user.email,
            subject_type=SUBJECT_USER,
            expires_at=expires_at,
            now=now,
        )
        secret = encode_token(claims, settings.signing_key)
    session.add(record)
    await session.flush()
    audit.note(session, issuer, "create", "personal-access-token", jti, name=name, user_id=user.id)
    return IssuedToken(token=secret, jti=jti, expires_at=expires_at)


async def register_opaque_token(session: AsyncSession, user: User, *, secret: str, name: str, kind: str) -> None:
    """Record a token chosen by the operator (e.g. MLREGISTRY_BOOTSTRAP_TOKEN); only its hash is kept."""
    jti = str(uuid.uuid4())
    session.add(
        Token(
            jti=jti,
            user_id=user.id,
            name=name,
            kind=kind,
            secret_hash=hash_secret(secret),
            created_by_subject=SYSTEM_CALLER.as_subject(),
        )
    )
    await session.flush()
    audit.note(session, SYSTEM_CALLER, "create", "personal-access-token", jti, name=name, user_id=user.id)


def _check_validity(revoked_at: datetime | None, expires_at: datetime | None, what: str) -> None:
    if revoked_at is not None:
        raise Unauthenticated(f"{what} has been revoked")
    if expires_at is not None and expires_at <= datetime.now(UTC):
        raise Unauthenticated(f"{what} has expired")


def _personal_caller(found: repo.TokenOwner | None) -> Caller:
    if found is None:
        raise Unauthenticated("Unknown or revoked token")
    record, user, teams = found
    _check_validity(record.revoked_at, record.expires_at, "Token")
    if not user.active:
        raise Unauthenticated("User is deactivated")
    return user_caller(user, teams=teams, token=record)


def virtual_account_caller(account: VirtualAccount, token_id: str | None) -> Caller:
    return Caller(
        subject_id=account.id,
        subject_type=SUBJECT_SERVICE_ACCOUNT,
        slug=account.name,
        display_name=account.name,
        token_id=token_id,
        principals=virtual_account_principals(account.name),
        grants=tuple(
            Grant(resource_type=grant["resource_type"], resource=grant["resource"], rank=int(grant["rank"]))
            for grant in account.grants or []
        ),
    )


def _earliest(*times: datetime | None) -> datetime | None:
    return min((moment for moment in times if moment is not None), default=None)


async def _virtual_account_token_caller(
    session: AsyncSession, claims: dict[str, Any]
) -> tuple[Caller, datetime | None]:
    found = await va_repo.token_with_account(session, str(claims["jti"]))
    if found is None or found[1].id != claims.get("sub"):
        raise Unauthenticated("Unknown or revoked token")
    record, account = found
    _check_validity(record.revoked_at, record.expires_at, "Token")
    _check_validity(None, account.expires_at, "Virtual account")
    return virtual_account_caller(account, record.jti), _earliest(record.expires_at, account.expires_at)


async def _external_caller(session: AsyncSession, verifier: OidcVerifier, claims: dict[str, Any]) -> Caller:
    email = claims.get("email")
    if not isinstance(email, str) or "@" not in email:
        raise Unauthenticated("External token has no e-mail claim")
    if claims.get("email_verified") is False:
        raise Unauthenticated("External token's e-mail is not verified")
    user = await repo.get_user_by_email(session, email.lower())
    if user is None:
        raise UnknownExternalUser(claims)
    if not user.active:
        raise Unauthenticated("User is deactivated")
    teams = await repo.team_names_for_email(session, email.lower())
    caller = user_caller(user, teams=teams)
    jti = claims.get("jti")
    return replace(
        caller,
        token_id=f"oidc:{jti}"[:128] if isinstance(jti, str) else None,
        external_identity_slug=external_identity_slug(verifier.issuer, claims),
    )


def external_identity_slug(issuer: str, claims: dict[str, Any]) -> str:
    """`external_identity_id:sub:email` (contract §5.1); the issuer identifies the external identity."""
    return f"{issuer}:{claims.get('sub')}:{str(claims.get('email', '')).lower()}"


async def authenticate(
    session: AsyncSession,
    settings: Settings,
    token: str,
    oidc: OidcVerifier | None = None,
    cache: CallerCache | None = None,
) -> Caller:
    """Resolve a bearer token to its caller, or raise Unauthenticated. With a cache, a token resolved moments
    ago is answered from it (auth.cache says when it is cleared)."""
    if len(token) > MAX_TOKEN_LENGTH:
        raise Unauthenticated("Token too large")
    if cache is None or not cache.enabled:
        return (await _resolve(session, settings, token, oidc))[0]
    key = hash_secret(token)
    cached = cache.lookup(key)
    if cached is not None:
        return cached
    generation = cache.generation
    caller, expires, cacheable = await _resolve(session, settings, token, oidc)
    if cacheable:
        cache.store(key, caller, expires, generation)
    return caller


async def _resolve(
    session: AsyncSession, settings: Settings, token: str, oidc: OidcVerifier | None
) -> tuple[Caller, datetime | None, bool]:
    """The caller, when its token (or account) expires, and whether it may be cached (an external
    identity's token is verified against its issuer each time)."""
    if "." not in token:
        if len(token) > MAX_OPAQUE_TOKEN_LENGTH or not token.isprintable():
            raise Unauthenticated("Malformed token")
        found = await repo.token_owner_by_secret_hash(session, hash_secret(token))
        return _personal_caller(found), found[0].expires_at if found else None, True
    inspect_header(token)
    if oidc is not None and unverified_issuer(token) == oidc.issuer:
        return await _external_caller(session, oidc, await oidc.verify(token)), None, False
    claims = decode_token(token, settings.signing_key, settings.token_issuer)
    expires = datetime.fromtimestamp(float(claims["exp"]), UTC)
    if claims.get("subjectType") == SUBJECT_SERVICE_ACCOUNT:
        caller, account_expires = await _virtual_account_token_caller(session, claims)
        return caller, _earliest(expires, account_expires), True
    found = await repo.token_owner_by_jti(session, str(claims["jti"]))
    if found is not None and found[1].id != claims.get("sub"):
        found = None
    return _personal_caller(found), _earliest(expires, found[0].expires_at if found else None), True


async def provision_external_user(session: AsyncSession, issuer: str, claims: dict[str, Any]) -> User:
    """Create the user of a verified external token (MLREGISTRY_OIDC_AUTO_CREATE=true)."""
    email = str(claims["email"]).lower()
    existing = await repo.get_user_by_email(session, email)
    if existing is not None:  # another request provisioned it first
        return existing
    name = claims.get("name")
    user = User(
        id=str(uuid.uuid4()),
        slug=email[:128],
        email=email,
        display_name=name if isinstance(name, str) else None,
        is_admin=False,
        active=True,
    )
    session.add(user)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Unauthenticated("Could not register the external identity (slug taken)") from exc
    actor = replace(user_caller(user), external_identity_slug=external_identity_slug(issuer, claims))
    audit.note(session, actor, "create", "user", user.id, slug=user.slug, source="oidc")
    return user


async def require_user(session: AsyncSession, slug: str) -> User:
    user = await repo.get_user_by_slug(session, slug)
    if user is None:
        raise NotFound(f"User '{slug}' not found")
    return user


@dataclass(frozen=True)
class BootstrapResult:
    created: bool
    token: str | None  # a generated token to show once; None when the operator supplied it
    email_added: str | None = None  # the e-mail given to an `admin` created before admins had one


BOOTSTRAP_ADMIN_SLUG = "admin"


async def bootstrap_admin(session: AsyncSession, settings: Settings) -> BootstrapResult:
    """On an empty user table, create `admin` (with its e-mail) and the operator's token or a generated one.

    An `admin` created by an earlier release without an e-mail gets the configured one, unless another
    user has it: TrueFoundry's library refuses to create ML repos with a token that carries none.
    """
    if await repo.count_users(session) > 0:
        return BootstrapResult(created=False, token=None, email_added=await _backfill_admin_email(session, settings))
    try:
        admin = await create_user(
            session,
            slug=BOOTSTRAP_ADMIN_SLUG,
            email=settings.bootstrap_admin_email,
            display_name="Administrator",
            is_admin=True,
        )
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
    issued = await issue_token(
        session, settings, admin, name="bootstrap", kind=TOKEN_KIND_BOOTSTRAP, actor=SYSTEM_CALLER
    )
    return BootstrapResult(created=True, token=issued.token)


async def _backfill_admin_email(session: AsyncSession, settings: Settings) -> str | None:
    admin = await repo.get_user_by_slug(session, BOOTSTRAP_ADMIN_SLUG)
    email = settings.bootstrap_admin_email.lower()
    if admin is None or admin.email is not None or await repo.get_user_by_email(session, email) is not None:
        return None
    admin.email = email
    admin.updated_at = datetime.now(UTC)
    await session.flush()
    audit.note(session, SYSTEM_CALLER, "update", "user", admin.id, email=email)
    return email


def parse_expiration(text: str | None, loc: list[str | int]) -> datetime | None:
    """`yyyy-mm-dd` (valid through that day, UTC) or an ISO-8601 datetime; it must lie in the future."""
    if text is None or text == "":
        return None
    try:
        if len(text) == 10:
            moment = datetime.fromisoformat(text).replace(tzinfo=UTC) + timedelta(days=1)
        else:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except ValueError as exc:
        raise Invalid.field(loc, "must be a date (yyyy-mm-dd) or an ISO-8601 datetime") from exc
    if moment <= datetime.now(UTC):
        raise Invalid.field(loc, "must be in the future")
    return moment
