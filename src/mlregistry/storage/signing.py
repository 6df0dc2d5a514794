"""HMAC-SHA256 signatures for URLs that point at the server itself (the local store)."""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass


class InvalidSignature(Exception):
    """The URL was tampered with, signed for another operation, or has expired."""


@dataclass(frozen=True)
class UrlSigner:
    key: bytes

    @classmethod
    def from_secret(cls, secret: str) -> UrlSigner:
        # A key of its own, derived from the server secret, so a URL signature is never a token signature.
        return cls(hmac.new(secret.encode(), b"mlregistry signed storage urls v1", hashlib.sha256).digest())

    def _mac(self, method: str, storage: str, key: str, expires: int, scope: str) -> str:
        message = "\n".join((method.upper(), storage, key, str(expires), scope)).encode()
        return hmac.new(self.key, message, hashlib.sha256).hexdigest()

    def sign(self, method: str, storage: str, key: str, ttl_seconds: int, scope: str = "") -> tuple[int, str]:
        expires = int(time.time()) + ttl_seconds
        return expires, self._mac(method, storage, key, expires, scope)

    def verify(self, method: str, storage: str, key: str, expires: str, signature: str, scope: str = "") -> None:
        if not expires.isdigit():
            raise InvalidSignature("malformed expiry")
        expected = self._mac(method, storage, key, int(expires), scope)
        if not hmac.compare_digest(expected, signature):
            raise InvalidSignature("signature does not match")
        if int(expires) < time.time():
            raise InvalidSignature("signed URL has expired")
