"""Verifying JWTs from an external OIDC issuer against its JWKS (python-jose, RS256/ES256 only).

The algorithm is pinned per key type (RSA keys verify RS256 only, P-256 EC keys ES256 only), so a
token cannot pick a weaker algorithm or turn a public key into an HMAC secret. JWE is never decoded.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from jose import JWTError, jwt

from mlregistry.auth.tokens import CLOCK_SKEW_SECONDS, check_issued_at, inspect_header
from mlregistry.services.errors import Unauthenticated

ALGORITHM_BY_KEY: dict[tuple[Any, Any], str] = {("RSA", None): "RS256", ("EC", "P-256"): "ES256"}
JWKS_CACHE_SECONDS = 300.0
JWKS_MIN_REFRESH_SECONDS = 30.0  # an unknown `kid` refreshes the key set at most this often
JWKS_FETCH_TIMEOUT_SECONDS = 5.0
MAX_JWKS_BYTES = 1_000_000


@dataclass(frozen=True)
class VerificationKey:
    algorithm: str
    jwk: dict[str, Any]


def _usable_keys(document: Any) -> dict[str, VerificationKey]:
    """Signing keys of a JWKS by `kid`; keys of other types or curves are ignored."""
    keys: dict[str, VerificationKey] = {}
    for index, jwk in enumerate(document.get("keys", []) if isinstance(document, dict) else []):
        if not isinstance(jwk, dict) or jwk.get("use", "sig") != "sig":
            continue
        kty = jwk.get("kty")
        algorithm = ALGORITHM_BY_KEY.get((kty, jwk.get("crv") if kty == "EC" else None))
        if algorithm is None or jwk.get("alg", algorithm) != algorithm:
            continue
        public = {name: value for name, value in jwk.items() if name not in {"d", "p", "q", "dp", "dq", "qi"}}
        keys[str(jwk.get("kid", f"#{index}"))] = VerificationKey(algorithm=algorithm, jwk=public)
    return keys


class OidcVerifier:
    def __init__(self, *, issuer: str, audience: str, jwks_source: str) -> None:
        self.issuer = issuer
        self.audience = audience
        self.jwks_source = jwks_source
        self._keys: dict[str, VerificationKey] = {}
        self._loaded_at = float("-inf")
        self._lock = asyncio.Lock()

    async def _fetch(self) -> Any:
        if self.jwks_source.startswith(("https://", "http://")):
            async with httpx.AsyncClient(timeout=JWKS_FETCH_TIMEOUT_SECONDS, follow_redirects=False) as client:
                response = await client.get(self.jwks_source)
                response.raise_for_status()
                if len(response.content) > MAX_JWKS_BYTES:
                    raise ValueError("JWKS document too large")
                return response.json()
        return json.loads(await asyncio.to_thread(Path(self.jwks_source).read_text))

    async def _refresh(self, *, force: bool) -> None:
        async with self._lock:
            age = time.monotonic() - self._loaded_at
            if age < (JWKS_MIN_REFRESH_SECONDS if force else JWKS_CACHE_SECONDS):
                return
            try:
                self._keys = _usable_keys(await self._fetch())
            except (OSError, ValueError, httpx.HTTPError) as exc:
                if not self._keys:
                    raise Unauthenticated("The identity provider's keys are unavailable") from exc
            self._loaded_at = time.monotonic()

    async def key_for(self, kid: str | None) -> VerificationKey:
        await self._refresh(force=False)
        key = self._pick(kid)
        if key is None:
            await self._refresh(force=True)
            key = self._pick(kid)
        if key is None:
            raise Unauthenticated("Token signed with an unknown key")
        return key

    def _pick(self, kid: str | None) -> VerificationKey | None:
        if kid is not None:
            return self._keys.get(kid)
        return next(iter(self._keys.values())) if len(self._keys) == 1 else None

    async def verify(self, token: str) -> dict[str, Any]:
        header = inspect_header(token)
        kid = header.get("kid")
        key = await self.key_for(kid if isinstance(kid, str) else None)
        if header.get("alg") != key.algorithm:
            raise Unauthenticated("Token algorithm not accepted for this key")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.jwk,
                algorithms=[key.algorithm],
                audience=self.audience,
                issuer=self.issuer,
                options={"require_exp": True, "require_iat": True, "require_sub": True, "leeway": CLOCK_SKEW_SECONDS},
            )
        except JWTError as exc:
            raise Unauthenticated(f"Invalid token: {exc}") from exc
        check_issued_at(claims)
        return claims


CODE_EXCHANGE_TIMEOUT_SECONDS = 10.0
MAX_TOKEN_RESPONSE_BYTES = 1_000_000


async def exchange_code(
    token_endpoint: str,
    *,
    code: str,
    redirect_uri: str,
    client_id: str,
    code_verifier: str,
    client_secret: str | None = None,
) -> str:
    """The ID token the issuer gives for an authorization code (RFC 6749 4.1.3 with PKCE, RFC 7636).

    The caller verifies it like any external token; this only fetches it."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "client_id": client_id,
        "code_verifier": code_verifier,
    }
    if client_secret:
        form["client_secret"] = client_secret
    try:
        async with httpx.AsyncClient(timeout=CODE_EXCHANGE_TIMEOUT_SECONDS, follow_redirects=False) as client:
            response = await client.post(token_endpoint, data=form, headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        raise Unauthenticated(f"The identity provider could not be reached ({type(exc).__name__})") from exc
    if response.status_code != 200 or len(response.content) > MAX_TOKEN_RESPONSE_BYTES:
        raise Unauthenticated(f"The identity provider refused the sign-in code (HTTP {response.status_code})")
    try:
        id_token = response.json().get("id_token")
    except (ValueError, AttributeError) as exc:
        raise Unauthenticated("The identity provider's token answer is not JSON") from exc
    if not isinstance(id_token, str) or not id_token:
        raise Unauthenticated("The identity provider's token answer has no id_token")
    return id_token
