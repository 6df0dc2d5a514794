"""Each request's database session is closed once it is answered, however it ended; bearer headers as sent."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from mlregistry.api.deps import DbSession, bearer_scheme
from mlregistry.api.middleware import OPEN_SESSIONS
from mlregistry.app import create_app
from mlregistry.repositories.migrations import upgrade_to_head
from mlregistry.services.errors import Conflict
from mlregistry.settings import Settings
from tests.factories import API, apply_model_version, create_repo, model_manifest, unique
from tests.live import LiveServer, LiveUser


def _checked_out(server: LiveServer) -> int:
    return int(server.database.engine.sync_engine.pool.checkedout())


def _all_returned(server: LiveServer) -> bool:
    """The server closes a request's session right after sending its answer: wait for that moment."""
    deadline = time.monotonic() + 10
    while _checked_out(server) and time.monotonic() < deadline:
        time.sleep(0.01)
    return _checked_out(server) == 0


def test_every_request_gives_its_connection_back(server: LiveServer, user: LiveUser) -> None:
    with server.client(user) as client:
        repo = create_repo(client)["manifest"]["name"]
        name = unique("model")
        apply_model_version(client, repo, name, version_alias="v1-prod")
        answers = [
            client.get(f"{API}/model-versions", params={"limit": 5}).status_code,  # a read
            client.put(f"{API}/model-versions", json={"manifest": model_manifest(repo, name)}).status_code,  # a write
            # a write refused after its number was taken: the alias is held by the first version
            client.put(
                f"{API}/model-versions", json={"manifest": model_manifest(repo, name, version_alias="v1-prod")}
            ).status_code,
            client.get(f"{API}/model-versions/no-such-version").status_code,
            client.get(f"{API}/models", headers={"Authorization": "Bearer not-a-token"}).status_code,
        ]
        assert answers == [200, 200, 409, 404, 401]
        assert _all_returned(server)
        # The refused write left nothing behind: its number is the next write's.
        third = apply_model_version(client, repo, name)
    assert third["manifest"]["version"] == 3


def test_bearer_header_forms(server: LiveServer, user: LiveUser) -> None:
    with server.client() as client:
        for header in (f"Bearer {user.token}", f"bearer {user.token}", f"BEARER   {user.token}"):
            assert client.get(f"{API}/models", headers={"Authorization": header}).status_code == 200, header
        for header in ("Bearer", "Basic abc", user.token, f"Token {user.token}", ""):
            answer = client.get(f"{API}/models", headers={"Authorization": header})
            assert answer.status_code == 401, header
            assert "Missing bearer token" in answer.json()["message"], header


def test_the_session_is_closed_when_the_answer_is_out(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, secret_key="request-sessions-secret-0123456789abcdef")
    upgrade_to_head(settings)
    app = create_app(settings)
    # Strong references to each session and to the context that opened it: no garbage collection (which
    # finalizes an abandoned context, closing its session) can give a connection back in the middleware's place.
    held: list[tuple[AsyncSession, list[Any]]] = []

    async def answered(request: Request, session: DbSession) -> dict[str, int]:
        held.append((session, list(request.scope[OPEN_SESSIONS])))
        return {"one": (await session.execute(text("SELECT 1"))).scalar_one()}

    async def refused(request: Request, session: DbSession) -> None:
        held.append((session, list(request.scope[OPEN_SESSIONS])))
        await session.execute(text("SELECT 1"))
        raise Conflict("refused after a statement")

    async def failed(request: Request, session: DbSession) -> None:
        held.append((session, list(request.scope[OPEN_SESSIONS])))
        await session.execute(text("SELECT 1"))
        raise ZeroDivisionError

    for path, endpoint in (("/probe/answered", answered), ("/probe/refused", refused), ("/probe/failed", failed)):
        app.router.add_api_route(path, endpoint, methods=["POST"])
    pool = app.state.database.engine.sync_engine.pool
    with TestClient(app, raise_server_exceptions=False) as client:
        for path, status in (("/probe/answered", 200), ("/probe/refused", 409), ("/probe/failed", 500)):
            assert client.post(path).status_code == status, path
            deadline = time.monotonic() + 10  # the client has the answer a moment before the middleware closes
            while pool.checkedout() and time.monotonic() < deadline:
                time.sleep(0.01)
            assert pool.checkedout() == 0, path
            assert not held[-1][0].in_transaction(), path
    assert len(held) == 3


def test_a_session_without_the_request_middleware_is_refused() -> None:
    app = FastAPI()

    @app.get("/session")
    async def needs_session(session: DbSession) -> dict[str, str]:
        return {}

    @app.get("/token")
    async def token(value: str | None = Depends(bearer_scheme)) -> dict[str, str | None]:
        return {"token": value}

    with TestClient(app, raise_server_exceptions=True) as client:
        try:
            client.get("/session")
        except RuntimeError as error:
            assert "request middleware" in str(error)
        else:
            raise AssertionError("a session was opened that nothing would close")
        assert client.get("/token", headers={"Authorization": "Bearer abc "}).json() == {"token": "abc"}
        assert client.get("/token").json() == {"token": None}
