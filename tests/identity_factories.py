"""Builders for identity requests: users, tokens, virtual accounts, teams, audit queries."""

from __future__ import annotations

from typing import Any

import httpx

from tests.factories import API, unique
from tests.live import LiveServer, LiveUser


def register_user(server: LiveServer, admin: LiveUser, prefix: str = "member") -> LiveUser:
    """Register a user by e-mail through the API and give it a token through `for-user`."""
    email = f"{unique(prefix)}@example.com"
    with server.client(admin) as client:
        assert client.post(f"{API}/users/register", json={"email": email}).status_code == 200
        token = client.post(f"{API}/personal-access-tokens/for-user", json={"name": "main", "userEmail": email}).json()[
            "token"
        ]
        found = client.get(f"{API}/users", params={"query": email}).json()["data"]
    return LiveUser(slug=email, email=email, token=token, id=found[0]["id"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def apply_virtual_account(client: httpx.Client, name: str, permissions: list[dict[str, str]], **extra: Any) -> Any:
    body = {"manifest": {"type": "virtual-account", "name": name, "permissions": permissions, **extra}, "dryRun": False}
    return client.put(f"{API}/virtual-accounts", json=body)


def apply_team(client: httpx.Client, name: str, members: list[str], **extra: Any) -> httpx.Response:
    body = {"manifest": {"type": "team", "name": name, "members": members, **extra}, "dryRun": False}
    return client.put(f"{API}/teams", json=body)


def audit_events(client: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    response = client.get(f"{API}/audit-events", params={"limit": 1000, **params})
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data
