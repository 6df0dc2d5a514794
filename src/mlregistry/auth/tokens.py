"""Signing and verifying the JWTs this server issues (python-jose, HS256 only)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from jose import JWTError, jwt

from mlregistry.services.errors import Unauthenticated

ALGORITHM = "HS256"
ALLOWED_ALGORITHMS = [ALGORITHM]  # an explicit allow-list: never `none`, never an asymmetric alg
MAX_TOKEN_LENGTH = 8192
CLOCK_SKEW_SECONDS = 60
# Tokens without expiry still carry `exp`: the truefoundry library requires it and refreshes near it.
NON_EXPIRING_LIFETIME = timedelta(days=365 * 100)


def encode_token(claims: dict[str, Any], key: str) -> str:
    return jwt.encode(claims, key, algorithm=ALGORITHM, headers={"typ": "JWT"})


def build_claims(
    *,
    issuer: str,
    subject_id: str,
    jti: str,
    tenant_name: str,
    username: str,
    email: str | None,
    subject_type: str,
    expires_at: datetime | None,
    now: datetime | None = None,
) -> dict[str, Any]:
    issued = now or datetime.now(UTC)
    expiry = expires_at or issued + NON_EXPIRING_LIFETIME
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": subject_id,
        "jti": jti,
        "iat": int(issued.timestamp()),
        "exp": int(expiry.timestamp()),
        "tenantName": tenant_name,
        "username": username,
        "subjectType": subject_type,
    }
    if email:
        claims["email"] = email
    return claims


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2


def decode_token(token: str, key: str, issuer: str) -> dict[str, Any]:
    """Verify signature, algorithm, issuer and time claims; raise Unauthenticated otherwise."""
    if len(token) > MAX_TOKEN_LENGTH:
        raise Unauthenticated("Token too large")
    try:
        header = jwt.get_unverified_header(token)
    except JWTError as exc:
        raise Unauthenticated("Malformed token") from exc
    if header.get("alg") not in ALLOWED_ALGORITHMS or "enc" in header or header.get("cty"):
        raise Unauthenticated("Token algorithm not accepted")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=ALLOWED_ALGORITHMS,
            issuer=issuer,
            options={"require_exp": True, "require_iat": True, "require_jti": True, "leeway": CLOCK_SKEW_SECONDS},
        )
    except JWTError as exc:
        raise Unauthenticated(f"Invalid token: {exc}") from exc
    return claims


def hash_secret(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
