"""Console sign-in with an OIDC issuer: the authorization code flow with PKCE against a throw-away identity
provider on 127.0.0.1, its state and nonce checks, and no such sign-in where it is not configured."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import httpx
import pytest

from tests.conftest import PostgresDatabases, make_settings
from tests.live import LiveServer, free_port
from tests.test_auth_hardening import AUDIENCE, ISSUER, Issuer


@dataclass
class IdentityProvider:
    """Authorizes at once as `email`, and exchanges each code once for an ID token if the PKCE verifier fits."""

    issuer: Issuer
    email: str = "sso-user@example.com"
    nonce_override: str | None = None
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    port: int = field(default_factory=free_port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def serve(self) -> ThreadingHTTPServer:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                query = {key: values[0] for key, values in parse_qs(urlparse(self.path).query).items()}
                code = secrets.token_urlsafe(16)
                provider.codes[code] = query
                self.send_response(302)
                self.send_header(
                    "Location", f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query['state']})}"
                )
                self.end_headers()

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", "0"))
                form = {key: values[0] for key, values in parse_qs(self.rfile.read(length).decode()).items()}
                asked = provider.codes.pop(form.get("code", ""), None)
                verifier = form.get("code_verifier", "")
                challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
                valid = (
                    asked is not None
                    and form.get("grant_type") == "authorization_code"
                    and form.get("client_id") == asked["client_id"]
                    and form.get("redirect_uri") == asked["redirect_uri"]
                    and asked["code_challenge_method"] == "S256"
                    and challenge == asked["code_challenge"]
                )
                if not valid or asked is None:
                    self.answer(400, {"error": "invalid_grant"})
                    return
                nonce = provider.nonce_override or asked["nonce"]
                claims = provider.issuer.claims(provider.email, nonce=nonce, name="Sso User")
                self.answer(200, {"id_token": provider.issuer.rs256(claims), "token_type": "Bearer"})

            def answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        return ThreadingHTTPServer(("127.0.0.1", self.port), Handler)


@dataclass
class OidcConsole:
    live: LiveServer
    provider: IdentityProvider


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def oidc_console(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_databases: PostgresDatabases | None,
) -> Iterator[OidcConsole]:
    provider = IdentityProvider(issuer=Issuer.generate())
    data_dir = tmp_path_factory.mktemp(f"console-oidc-{request.param}")
    jwks = Path(data_dir) / "jwks.json"
    jwks.write_text(json.dumps(provider.issuer.jwks))
    settings = make_settings(
        request.param,
        data_dir,
        postgres_databases,
        oidc_issuer=ISSUER,
        oidc_audience=AUDIENCE,
        oidc_jwks=str(jwks),
        oidc_auto_create=True,
        oidc_client_id=AUDIENCE,
        oidc_authorization_endpoint=f"{provider.url}/authorize",
        oidc_token_endpoint=f"{provider.url}/token",
    )
    httpd = provider.serve()
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    live = LiveServer(settings, request.param).start()
    try:
        yield OidcConsole(live=live, provider=provider)
    finally:
        live.stop()
        httpd.shutdown()
        httpd.server_close()


def start_sign_in(client: httpx.Client, provider: IdentityProvider, next: str = "/ui/") -> tuple[str, dict[str, str]]:
    """Follow the console to the issuer and the issuer back: the callback URL and what the console asked."""
    started = client.get("/ui/login/oidc", params={"next": next})
    assert started.status_code == 303
    location = started.headers["location"]
    assert location.startswith(f"{provider.url}/authorize?")
    asked = {key: values[0] for key, values in parse_qs(urlparse(location).query).items()}
    back = httpx.get(location)
    assert back.status_code == 302
    return back.headers["location"], asked


def test_sign_in_with_the_issuer_uses_pkce_and_lands_signed_in(oidc_console: OidcConsole) -> None:
    live, provider = oidc_console.live, oidc_console.provider
    with httpx.Client(base_url=live.url) as client:
        assert "Sign in with your identity provider" in client.get("/ui/login").text
        callback, asked = start_sign_in(client, provider, next="/ui/workspaces")
        assert asked["code_challenge_method"] == "S256" and len(asked["code_challenge"]) == 43
        assert asked["client_id"] == AUDIENCE and asked["scope"] == "openid email profile"
        assert asked["redirect_uri"] == f"{live.url}/ui/login/oidc/callback"
        done = client.get(callback)
        assert done.status_code == 200, done.text
        assert 'content="0;url=/ui/workspaces"' in done.text
        cookie = next(v for v in done.headers.get_list("set-cookie") if v.startswith("mlregistry_console="))
        assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
        page = client.get("/ui/workspaces")
        assert page.status_code == 200 and "Sso User" in page.text
        # The answer cannot be replayed: the flow's cookie is gone and the code was used.
        with httpx.Client(base_url=live.url) as other:
            replayed = other.get(callback)
        assert replayed.status_code == 401 and replayed.headers["content-type"].startswith("text/html")


def test_a_foreign_state_or_nonce_is_refused(oidc_console: OidcConsole) -> None:
    live, provider = oidc_console.live, oidc_console.provider
    with httpx.Client(base_url=live.url) as client:
        callback, _ = start_sign_in(client, provider)
        parsed = parse_qs(urlparse(callback).query)
        forged = client.get("/ui/login/oidc/callback", params={"code": parsed["code"][0], "state": "forged"})
        assert forged.status_code == 401 and "start again" in forged.text
        assert client.get("/ui/").status_code == 303  # still signed out

        provider.nonce_override = "someone-elses-nonce"
        try:
            callback, _ = start_sign_in(client, provider)
            refused = client.get(callback)
        finally:
            provider.nonce_override = None
        assert refused.status_code == 401 and "nonce" in refused.text
        assert "mlregistry_console=" not in refused.headers.get("set-cookie", "")
        denied = client.get("/ui/login/oidc/callback", params={"error": "access_denied", "state": "x"})
        assert denied.status_code == 401 and "access_denied" in denied.text


def test_no_issuer_sign_in_where_it_is_not_configured(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url) as client:
        assert "identity provider" not in client.get("/ui/login").text
        assert client.get("/ui/login/oidc").status_code == 404
        assert client.get("/ui/login/oidc/callback", params={"code": "x", "state": "y"}).status_code == 404
