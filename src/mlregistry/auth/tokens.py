"""Signing and verifying the JWTs this server issues (python-jose, HS256 only)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from jose import JWTError, jwt

from mlregistry.services.errors import Unauthenticated

ALGORITHM = "HS256"
ALLOWED_ALGORITHMS = [ALGORITHM]  # an explicit allow-list: never `none`, never an asymmetric alg
MAX_TOKEN_LENGTH = 8192
MAX_HEADER_SEGMENT_LENGTH = 1024  # a JOSE header is a few dozen bytes; a huge one is an attack
CLOCK_SKEW_SECONDS = 60
# Header parameters that would make us decrypt (JWE), unwrap a nested token, honour extensions we do not
# implement, or fetch/trust a key named by the token itself. A token carrying any of them is refused.
FORBIDDEN_HEADER_PARAMETERS = frozenset({"enc", "zip", "cty", "crit", "jku", "jwk", "x5u", "x5c"})
OPAQUE_TOKEN_PREFIX = "tfy_"  # the truefoundry library sends `tfy_` keys through GET /session
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


def new_opaque_secret() -> str:
    return OPAQUE_TOKEN_PREFIX + secrets.token_urlsafe(32)


def _b64_json(segment: str) -> Any:
    try:
        return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise Unauthenticated("Malformed token") from exc


def inspect_header(token: str) -> dict[str, Any]:
    """The JOSE header of a compact JWS, checked before any key or algorithm is chosen.

    Refuses JWE (five segments) and nested tokens, oversized headers, `alg: none` and the header
    parameters listed in FORBIDDEN_HEADER_PARAMETERS. The algorithm itself is checked by the verifier.
    """
    if len(token) > MAX_TOKEN_LENGTH:
        raise Unauthenticated("Token too large")
    segments = token.split(".")
    if len(segments) != 3:
        raise Unauthenticated("Only signed compact JWTs are accepted (no JWE, no nesting)")
    if len(segments[0]) > MAX_HEADER_SEGMENT_LENGTH:
        raise Unauthenticated("Token header too large")
    header = _b64_json(segments[0])
    if not isinstance(header, dict):
        raise Unauthenticated("Malformed token")
    alg = header.get("alg")
    if not isinstance(alg, str) or alg.lower() == "none" or not segments[2]:
        raise Unauthenticated("Unsigned tokens are not accepted")
    if FORBIDDEN_HEADER_PARAMETERS & header.keys():
        raise Unauthenticated("Token header parameters not accepted")
    return header


def unverified_issuer(token: str) -> str | None:
    """The `iss` claim before verification: only used to pick the verifier, never trusted."""
    claims = _b64_json(token.split(".")[1])
    issuer = claims.get("iss") if isinstance(claims, dict) else None
    return issuer if isinstance(issuer, str) else None


def decode_token(token: str, key: str, issuer: str) -> dict[str, Any]:
    """Verify signature, algorithm, issuer and time claims; raise Unauthenticated otherwise."""
    header = inspect_header(token)
    if header.get("alg") not in ALLOWED_ALGORITHMS:
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
    check_issued_at(claims)
    return claims


def check_issued_at(claims: dict[str, Any]) -> None:
    """python-jose checks `exp` and `nbf`; a token issued in the future (beyond the skew) is refused too."""
    issued = claims.get("iat")
    if issued is None:
        return
    if not isinstance(issued, int | float) or issued > datetime.now(UTC).timestamp() + CLOCK_SKEW_SECONDS:
        raise Unauthenticated("Invalid token: issued in the future")


def hash_secret(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
