"""Bearer-token hardening (issue item 7) and external OIDC identities, on SQLite and Postgres.

Each test signs its own tokens: the OIDC issuer is a key pair and JWKS generated here, served to the
server from a file or from a local HTTP URL.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jose import jwk, jwt

from tests.conftest import PostgresDatabases, make_settings
from tests.factories import API, unique
from tests.identity_factories import audit_events, bearer
from tests.live import LiveServer, LiveUser, free_port

ISSUER = "https://idp.example.test"
AUDIENCE = "mlregistry-test"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64_json(value: dict[str, Any]) -> str:
    return b64(json.dumps(value, separators=(",", ":")).encode())


@dataclass
class Issuer:
    """A throw-away identity provider: an RSA and a P-256 key, published as a JWKS."""

    rsa_private: bytes
    rsa_public: bytes
    ec_private: bytes
    jwks: dict[str, Any]

    @classmethod
    def generate(cls) -> Issuer:
        rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        ec_key = ec.generate_private_key(ec.SECP256R1())
        pem = serialization.Encoding.PEM
        private_format = serialization.PrivateFormat.PKCS8
        no_password = serialization.NoEncryption()
        public_format = serialization.PublicFormat.SubjectPublicKeyInfo
        rsa_public = rsa_key.public_key().public_bytes(pem, public_format)
        ec_public = ec_key.public_key().public_bytes(pem, public_format)
        keys = [
            {**jwk.construct(rsa_public, "RS256").to_dict(), "kid": "rsa-1", "use": "sig"},
            {**jwk.construct(ec_public, "ES256").to_dict(), "kid": "ec-1", "use": "sig"},
        ]
        return cls(
            rsa_private=rsa_key.private_bytes(pem, private_format, no_password),
            rsa_public=rsa_public,
            ec_private=ec_key.private_bytes(pem, private_format, no_password),
            jwks={"keys": json.loads(json.dumps(keys, default=lambda v: v.decode()))},
        )

    def claims(self, email: str, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        values: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": f"sub-{email}",
            "email": email,
            "iat": now,
            "exp": now + 600,
            "jti": str(uuid.uuid4()),
        }
        values.update(overrides)
        return {key: value for key, value in values.items() if value is not None}

    def rs256(self, claims: dict[str, Any], **headers: Any) -> str:
        return jwt.encode(claims, self.rsa_private.decode(), algorithm="RS256", headers={"kid": "rsa-1", **headers})

    def es256(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self.ec_private.decode(), algorithm="ES256", headers={"kid": "ec-1"})


class JwksServer:
    """Serves a JWKS document on 127.0.0.1 (the `MLREGISTRY_OIDC_JWKS=https://...` case)."""

    def __init__(self, document: dict[str, Any]) -> None:
        body = json.dumps(document).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.port = free_port()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        return f"http://127.0.0.1:{self.port}/.well-known/jwks.json"

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@dataclass
class OidcServer:
    live: LiveServer
    issuer: Issuer
    admin: LiveUser


@pytest.fixture(scope="module", params=["sqlite-file", "sqlite-url", "postgres-file", "postgres-url"])
def oidc(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_databases: PostgresDatabases | None,
) -> Iterator[OidcServer]:
    backend, source = request.param.split("-")
    issuer = Issuer.generate()
    data_dir = tmp_path_factory.mktemp(f"oidc-{request.param}")
    jwks_file = Path(data_dir) / "jwks.json"
    jwks_file.write_text(json.dumps(issuer.jwks))
    with JwksServer(issuer.jwks) as jwks_url:
        settings = make_settings(
            backend,
            data_dir,
            postgres_databases,
            oidc_issuer=ISSUER,
            oidc_audience=AUDIENCE,
            oidc_jwks=str(jwks_file) if source == "file" else jwks_url,
            oidc_auto_create=True,
        )
        live = LiveServer(settings, backend).start()
        try:
            yield OidcServer(live=live, issuer=issuer, admin=live.create_user(admin=True, prefix="admin"))
        finally:
            live.stop()


def refusal(server: LiveServer, token: str) -> tuple[int, str]:
    with server.client() as client:
        response = client.get(f"{API}/ml-repos", headers=bearer(token))
        if response.status_code == 401:
            assert response.json()["statusCode"] == 401 and response.json()["message"]
            assert response.headers["WWW-Authenticate"] == "Bearer"
        return response.status_code, response.json().get("message", "")


def status(server: LiveServer, token: str) -> int:
    return refusal(server, token)[0]


def test_oidc_tokens_identify_users_by_email(oidc: OidcServer) -> None:
    email = f"{unique('sso')}@example.com"
    claims = oidc.issuer.claims(email, name="Sso User")
    token = oidc.issuer.rs256(claims)
    with oidc.live.client() as client:
        client.headers.update(bearer(token))
        created = client.put(
            f"{API}/ml-repos", json={"manifest": {"name": unique("repo"), "storage_integration_fqn": "x"}}
        )
        assert created.status_code == 200, created.text
        subject = created.json()["data"]["created_by_subject"]
        assert subject["subjectType"] == "user" and subject["subjectSlug"] == email
        assert subject["subjectExternalIdentitySlug"] == f"{ISSUER}:sub-{email}:{email}"
        session = client.get(f"{API}/session").json()["user"]
        assert session["email"] == email

    es_token = oidc.issuer.es256(oidc.issuer.claims(email))
    with oidc.live.client() as client:
        listed = client.get(f"{API}/ml-repos", headers=bearer(es_token)).json()
        assert [item["id"] for item in listed["data"]] == [created.json()["data"]["id"]], "same user with ES256"

    with oidc.live.client(oidc.admin) as admin:
        events = audit_events(admin, subject=email)
        assert [(event["action"], event["resource_type"]) for event in reversed(events)] == [
            ("create", "user"),
            ("create", "ml-repo"),
        ]
        assert events[0]["subject"]["subjectExternalIdentitySlug"] == f"{ISSUER}:sub-{email}:{email}"
        assert admin.patch(f"{API}/users/deactivate", json={"email": email}).status_code == 200
    assert status(oidc.live, token) == 401, "a deactivated user's external token fails at once"


def test_clock_skew_is_bounded(oidc: OidcServer) -> None:
    email = f"{unique('skew')}@example.com"
    now = int(time.time())
    assert status(oidc.live, oidc.issuer.rs256(oidc.issuer.claims(email, exp=now - 20))) == 200, "within skew"
    assert status(oidc.live, oidc.issuer.rs256(oidc.issuer.claims(email, exp=now - 300))) == 401
    assert status(oidc.live, oidc.issuer.rs256(oidc.issuer.claims(email, nbf=now + 20))) == 200, "within skew"
    assert status(oidc.live, oidc.issuer.rs256(oidc.issuer.claims(email, nbf=now + 600))) == 401


def _hs256(header: dict[str, Any], claims: dict[str, Any], key: bytes) -> str:
    signing_input = f"{b64_json(header)}.{b64_json(claims)}"
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def _unsigned(claims: dict[str, Any]) -> str:
    return f"{b64_json({'alg': 'none', 'typ': 'JWT'})}.{b64_json(claims)}."


def _forged(issuer: Issuer, claims: dict[str, Any]) -> str:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return jwt.encode(claims, pem.decode(), algorithm="RS256", headers={"kid": "rsa-1"})


def _tampered(issuer: Issuer, claims: dict[str, Any]) -> str:
    header, _, signature = issuer.rs256(claims).split(".")
    return f"{header}.{b64_json({**claims, 'email': 'admin@example.com'})}.{signature}"


def _jwe(issuer: Issuer, claims: dict[str, Any]) -> str:
    header = b64_json({"alg": "RSA-OAEP", "enc": "A256GCM", "zip": "DEF", "kid": "rsa-1"})
    return ".".join([header, b64(b"k" * 256), b64(b"i" * 12), b64(json.dumps(claims).encode()), b64(b"t" * 16)])


def _nested(issuer: Issuer, claims: dict[str, Any]) -> str:
    inner = issuer.rs256(claims)
    return jwt.encode(
        {"token": inner, **claims},
        issuer.rsa_private.decode(),
        algorithm="RS256",
        headers={"kid": "rsa-1", "cty": "JWT"},
    )


def _embedded_key(issuer: Issuer, claims: dict[str, Any]) -> str:
    return issuer.rs256(claims, jwk=issuer.jwks["keys"][0])


def _wrong_key_type(issuer: Issuer, claims: dict[str, Any]) -> str:
    token = jwt.encode(claims, issuer.ec_private.decode(), algorithm="ES256", headers={"kid": "rsa-1"})
    return token


# Each attack and the reason the server must give (so that a 401 for an unrelated reason fails the test).
ATTACK_REASONS = {
    "alg-none": "Unsigned",
    "alg-none-uppercase": "Unsigned",
    "embedded-jwk": "header parameters",
    "es256-token-on-rsa-key": "not accepted for this key",
    "expired": "expired",
    "forged-signature": "Signature verification failed",
    "hs256-signed-with-rsa-public-key": "not accepted for this key",
    "hs256-with-public-key-as-own-issuer": "Signature verification failed",
    "issued-in-the-future": "issued in the future",
    "jwe": "no JWE",
    "nested-token": "header parameters",
    "no-expiry": '"exp"',
    "not-yet-valid": "not yet valid",
    "oversized-header": "header too large",
    "oversized-token": "Token too large",
    "tampered-payload": "Signature verification failed",
    "unknown-kid": "unknown key",
    "wrong-audience": "audience",
    "wrong-issuer": "not accepted",
}

ATTACKS: dict[str, Callable[[Issuer, dict[str, Any]], str]] = {
    "alg-none": lambda issuer, claims: _unsigned(claims),
    "alg-none-uppercase": lambda issuer, claims: _unsigned(claims).replace(
        b64_json({"alg": "none", "typ": "JWT"}), b64_json({"alg": "NONE", "typ": "JWT"})
    ),
    "hs256-signed-with-rsa-public-key": lambda issuer, claims: _hs256(
        {"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}, claims, issuer.rsa_public
    ),
    "hs256-with-public-key-as-own-issuer": lambda issuer, claims: _hs256(
        {"alg": "HS256", "typ": "JWT"}, {**claims, "iss": "mlregistry"}, issuer.rsa_public
    ),
    "es256-token-on-rsa-key": _wrong_key_type,
    "jwe": _jwe,
    "nested-token": _nested,
    "embedded-jwk": _embedded_key,
    "forged-signature": _forged,
    "tampered-payload": _tampered,
    "expired": lambda issuer, claims: issuer.rs256({**claims, "exp": int(time.time()) - 3600}),
    "not-yet-valid": lambda issuer, claims: issuer.rs256({**claims, "nbf": int(time.time()) + 3600}),
    "issued-in-the-future": lambda issuer, claims: issuer.rs256({**claims, "iat": int(time.time()) + 3600}),
    "no-expiry": lambda issuer, claims: issuer.rs256({k: v for k, v in claims.items() if k != "exp"}),
    "wrong-issuer": lambda issuer, claims: issuer.rs256({**claims, "iss": "https://evil.example.test"}),
    "wrong-audience": lambda issuer, claims: issuer.rs256({**claims, "aud": "someone-else"}),
    "unknown-kid": lambda issuer, claims: issuer.rs256(claims, kid="rsa-2"),
    "oversized-header": lambda issuer, claims: issuer.rs256(claims, x_padding="x" * 3000),
    "oversized-token": lambda issuer, claims: issuer.rs256({**claims, "padding": "x" * 9000}),
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_attacks_are_refused_with_401(oidc: OidcServer, attack: str) -> None:
    email = f"{unique('victim')}@example.com"
    claims = oidc.issuer.claims(email)
    assert status(oidc.live, oidc.issuer.rs256(claims)) == 200, "the same claims, honestly signed, are accepted"
    code, message = refusal(oidc.live, ATTACKS[attack](oidc.issuer, claims))
    assert code == 401 and ATTACK_REASONS[attack] in message


def test_tokens_in_the_query_string_are_refused(oidc: OidcServer) -> None:
    token = oidc.admin.token
    with oidc.live.client() as client:
        for name in ("access_token", "token", "api_key"):
            assert client.get(f"{API}/ml-repos", params={name: token}).status_code == 401
        both = client.get(f"{API}/ml-repos", params={"access_token": token}, headers=bearer(token))
        assert both.status_code == 401 and "query string" in both.json()["message"]


def test_own_tokens_outside_their_lifetime_are_refused(oidc: OidcServer) -> None:
    """A token signed with the server's own key for a real `jti` still fails when expired or not yet valid."""
    valid = oidc.admin.token
    claims = jwt.get_unverified_claims(valid)
    key = oidc.live.settings.signing_key
    now = int(time.time())
    assert status(oidc.live, jwt.encode(claims, key, algorithm="HS256")) == 200
    assert status(oidc.live, jwt.encode({**claims, "exp": now - 3600}, key, algorithm="HS256")) == 401
    assert status(oidc.live, jwt.encode({**claims, "nbf": now + 3600}, key, algorithm="HS256")) == 401
    assert status(oidc.live, jwt.encode({**claims, "sub": str(uuid.uuid4())}, key, algorithm="HS256")) == 401
    assert status(oidc.live, jwt.encode({**claims, "jti": str(uuid.uuid4())}, key, algorithm="HS256")) == 401
    assert (
        status(oidc.live, jwt.encode(claims, "another-key-of-sufficient-length-0123456789", algorithm="HS256")) == 401
    )
    assert status(oidc.live, _unsigned(claims)) == 401
    assert status(oidc.live, jwt.encode(claims, key, algorithm="HS512")) == 401
