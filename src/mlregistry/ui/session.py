"""The console's sign-in session: a signed cookie holding the pasted token and the CSRF token.

The cookie is HttpOnly (scripts never see the token) and SameSite=Strict (no other site's page sends it);
its HMAC key is derived from the server's signing key, so a server restart keeps sessions and a changed
secret ends them all. Every POST carries the session's CSRF token in a hidden form field as well.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qs

from fastapi import Request, Response

from mlregistry.services.errors import Forbidden, Invalid
from mlregistry.settings import Settings

SESSION_COOKIE = "mlregistry_console"
# Before sign-in there is no session: the sign-in form's CSRF token lives in a cookie of its own.
LOGIN_CSRF_COOKIE = "mlregistry_console_login"
SESSION_MAX_AGE_SECONDS = 12 * 3600
MAX_FORM_BYTES = 64 * 1024
COOKIE_PATH = "/ui"


@dataclass(frozen=True)
class ConsoleSession:
    token: str
    csrf: str
    issued_at: int


def _key(settings: Settings) -> bytes:
    return hmac.new(settings.signing_key.encode(), b"mlregistry console session v1", hashlib.sha256).digest()


def _sign(settings: Settings, payload: bytes) -> str:
    body = base64.urlsafe_b64encode(payload).decode().rstrip("=")
    mac = hmac.new(_key(settings), body.encode(), hashlib.sha256).hexdigest()
    return f"{body}.{mac}"


def _unsign(settings: Settings, value: str) -> bytes | None:
    body, _, mac = value.rpartition(".")
    expected = hmac.new(_key(settings), body.encode(), hashlib.sha256).hexdigest()
    if not body or not hmac.compare_digest(mac, expected):
        return None
    try:
        return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except ValueError:
        return None


def new_session(token: str) -> ConsoleSession:
    return ConsoleSession(token=token, csrf=secrets.token_urlsafe(24), issued_at=int(time.time()))


def read_session(request: Request, settings: Settings) -> ConsoleSession | None:
    value = request.cookies.get(SESSION_COOKIE)
    if not value:
        return None
    payload = _unsign(settings, value)
    if payload is None:
        return None
    try:
        data = json.loads(payload)
        session = ConsoleSession(token=str(data["t"]), csrf=str(data["c"]), issued_at=int(data["i"]))
    except (ValueError, KeyError, TypeError):
        return None
    if time.time() - session.issued_at > SESSION_MAX_AGE_SECONDS:
        return None
    return session


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _set_signed_cookie(
    response: Response,
    request: Request,
    settings: Settings,
    name: str,
    payload: bytes,
    max_age: int,
    samesite: Literal["strict", "lax"] = "strict",
) -> None:
    """Every console cookie: signed, HttpOnly, scoped to /ui, Secure when the request came over HTTPS."""
    response.set_cookie(
        name,
        _sign(settings, payload),
        max_age=max_age,
        path=COOKIE_PATH,
        httponly=True,
        samesite=samesite,
        secure=_secure(request),
    )


def write_session(response: Response, request: Request, settings: Settings, session: ConsoleSession) -> None:
    payload = json.dumps({"t": session.token, "c": session.csrf, "i": session.issued_at}).encode()
    _set_signed_cookie(response, request, settings, SESSION_COOKIE, payload, SESSION_MAX_AGE_SECONDS)


def clear_session(response: Response, request: Request) -> None:
    response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict", secure=_secure(request))


def login_csrf(request: Request, settings: Settings) -> str | None:
    value = request.cookies.get(LOGIN_CSRF_COOKIE)
    payload = _unsign(settings, value) if value else None
    return payload.decode() if payload else None


def write_login_csrf(response: Response, request: Request, settings: Settings, csrf: str) -> None:
    _set_signed_cookie(response, request, settings, LOGIN_CSRF_COOKIE, csrf.encode(), 3600)


async def read_form(request: Request) -> dict[str, list[str]]:
    """An `application/x-www-form-urlencoded` body (the console's forms), bounded in size."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/x-www-form-urlencoded":
        raise Invalid.field(["body"], "must be a form (application/x-www-form-urlencoded)")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise Invalid.field(["body"], f"a form is at most {MAX_FORM_BYTES} bytes")
    try:
        return parse_qs(body.decode(), keep_blank_values=True, max_num_fields=1000)
    except (UnicodeDecodeError, ValueError) as exc:
        raise Invalid.field(["body"], "is not a readable form") from exc


def check_csrf(form: dict[str, list[str]], expected: str | None) -> None:
    sent = (form.get("csrf_token") or [""])[0]
    if not expected or not sent or not hmac.compare_digest(sent, expected):
        raise Forbidden("The form's CSRF token is missing or does not match this session: reload the page and retry")


def clear_login_csrf(response: Response) -> None:
    response.delete_cookie(LOGIN_CSRF_COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict")


# --- the OIDC sign-in's round trip to the issuer -------------------------------------------------

OIDC_FLOW_COOKIE = "mlregistry_console_oidc"
OIDC_FLOW_MAX_AGE_SECONDS = 600


@dataclass(frozen=True)
class OidcFlow:
    """What the callback checks: the `state` sent, the PKCE verifier, the `nonce`, where to go after."""

    state: str
    verifier: str
    nonce: str
    next: str


def new_oidc_flow(target: str) -> OidcFlow:
    return OidcFlow(
        state=secrets.token_urlsafe(24),
        verifier=secrets.token_urlsafe(48),
        nonce=secrets.token_urlsafe(24),
        next=target,
    )


def pkce_challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")


def write_oidc_flow(response: Response, request: Request, settings: Settings, flow: OidcFlow) -> None:
    payload = json.dumps({"s": flow.state, "v": flow.verifier, "n": flow.nonce, "x": flow.next}).encode()
    # Lax, not Strict: the issuer's redirect back to the callback is a navigation from another site.
    _set_signed_cookie(response, request, settings, OIDC_FLOW_COOKIE, payload, OIDC_FLOW_MAX_AGE_SECONDS, "lax")


def read_oidc_flow(request: Request, settings: Settings) -> OidcFlow | None:
    value = request.cookies.get(OIDC_FLOW_COOKIE)
    payload = _unsign(settings, value) if value else None
    if payload is None:
        return None
    try:
        data = json.loads(payload)
        return OidcFlow(state=str(data["s"]), verifier=str(data["v"]), nonce=str(data["n"]), next=str(data["x"]))
    except (ValueError, KeyError, TypeError):
        return None


def clear_oidc_flow(response: Response) -> None:
    response.delete_cookie(OIDC_FLOW_COOKIE, path=COOKIE_PATH, httponly=True, samesite="lax")
