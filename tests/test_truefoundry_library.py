"""The `truefoundry` library (0.17.5) works unmodified against a live server with only TFY_HOST/TFY_API_KEY."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from jose import jwt

from tests.factories import unique
from tests.live import LiveServer, LiveUser

ROOT = Path(__file__).resolve().parents[1]


def run_library(server: LiveServer, user: LiveUser, script: str, *args: str) -> dict[str, object]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("TFY_", "MLREGISTRY_"))}
    env.update(TFY_HOST=server.url, TFY_API_KEY=user.token, HOME=str(ROOT / ".pytest_cache"))
    result = subprocess.run(
        [sys.executable, "-m", f"tests.clients.{script}", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_issued_tokens_carry_the_claims_the_library_reads(server: LiveServer, user: LiveUser) -> None:
    claims = jwt.get_unverified_claims(user.token)
    assert claims["tenantName"] == "acme"
    assert claims["username"] == user.slug and claims["email"] == user.email
    assert claims["subjectType"] == "user"
    assert isinstance(claims["exp"], int) and claims["exp"] > 4_000_000_000  # far future: no refresh attempt


def test_core_flow_through_the_truefoundry_library(server: LiveServer, user: LiveUser) -> None:
    repo = unique("lib-repo")
    result = run_library(server, user, "truefoundry_core_flow", repo)
    assert result["logged"] == [f"model:acme/{repo}/churn-model:{number}" for number in (1, 2, 3)]
    assert result["fetched_fqn"] == f"model:acme/{repo}/churn-model:2"
    assert result["fetched_version"] == 2
    assert result["fetched_metadata"]["auc"] == 0.81  # type: ignore[index]
    assert result["latest_version"] == 3
    assert result["listed"] == [3, 2, 1]
    assert result["updated_description"] == "updated through the library"
    assert result["updated_alias"] == "v2-prod"


def test_platform_endpoints_answer_without_auth(server: LiveServer, user: LiveUser) -> None:
    with server.client() as client:
        versions = client.get("/api/svc/v1/min-cli-version").json()
        assert versions["minVersion"] and versions["truefoundryCliMinVersion"]
        tenant = client.get("/api/svc/v1/tenant-id", params={"hostName": "127.0.0.1"}).json()
        assert tenant["tenantName"] == "acme" and tenant["auth_server_url"] == server.url
        assert client.get("/api/svc/v1/session").status_code == 401
    with server.client(user) as client:
        for prefix in ("/api/svc/v1", "/api/ml/v1"):
            session = client.get(f"{prefix}/session").json()
            assert session["user"]["email"] == user.email
            assert session["user"]["tenantName"] == "acme"
            assert session["user"]["subject"]["subjectSlug"] == user.slug
            assert session["tenantInfo"]["tenantName"] == "acme"
