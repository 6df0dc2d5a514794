"""Database round trips per request on the hot paths, counted in-process (deterministic, unlike timings).

Counts the SQL statements each request sends and the connection pings, against a fresh Postgres
database (or SQLite without --postgres-url). Useful to compare two checkouts on a loaded machine:

    python benchmarks/round_trips.py --postgres-url postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import uuid
from pathlib import Path
from typing import Any

import asyncpg
from fastapi.testclient import TestClient

from mlregistry.app import create_app
from mlregistry.cli import _in_transaction, upgrade_to_head
from mlregistry.services import identity
from mlregistry.settings import Settings

API = "/api/ml/v1"
TOKEN = "regbench-round-trips-bootstrap-token-0123456789"


def _create_database(url: str) -> str:
    name = f"round_trips_{uuid.uuid4().hex[:8]}"

    async def run() -> None:
        connection = await asyncpg.connect(url)
        try:
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()

    asyncio.run(run())
    return f"{url.rsplit('/', 1)[0].replace('postgresql://', 'postgresql+asyncpg://')}/{name}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres-url", help="admin DSN; a fresh database is created on it")
    parser.add_argument("--requests", type=int, default=20)
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="round-trips-"))
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "secret_key": "round-trips-secret-key-that-is-long-enough-0123",
        "bootstrap_token": TOKEN,
    }
    if args.postgres_url:
        values["database_url"] = _create_database(args.postgres_url)
    settings = Settings(**values)
    upgrade_to_head(settings)
    _in_transaction(settings, lambda session: identity.bootstrap_admin(session, settings))
    app = create_app(settings)
    counts = {"statements": 0, "pings": 0, "transactions": 0}
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with TestClient(app) as client:
        engine = app.state.database.engine.sync_engine
        from sqlalchemy import event

        @event.listens_for(engine, "before_cursor_execute")
        def _count(*_: Any) -> None:
            counts["statements"] += 1

        ping = engine.dialect.do_ping

        def counted_ping(connection: Any) -> bool:
            counts["pings"] += 1
            return bool(ping(connection))

        engine.dialect.do_ping = counted_ping  # type: ignore[method-assign]
        if args.postgres_url:
            # BEGIN and COMMIT are sent by asyncpg's Transaction, not as cursor statements: count its starts.
            import asyncpg.transaction

            start = asyncpg.transaction.Transaction.start

            async def counted_start(transaction: Any) -> None:
                counts["transactions"] += 1
                await start(transaction)

            asyncpg.transaction.Transaction.start = counted_start  # type: ignore[method-assign]
        repo = client.put(
            f"{API}/ml-repos",
            headers=headers,
            json={
                "manifest": {
                    "type": "ml-repo",
                    "name": "rt-bench",
                    "storage_integration_fqn": "local",
                    "collaborators": [],
                }
            },
        )
        assert repo.status_code < 300, repo.text
        version_ids = []

        def measure(label: str, send: Any) -> None:
            counts.update(statements=0, pings=0, transactions=0)
            for i in range(args.requests):
                response = send(i)
                assert response.status_code < 300, response.text
            print(
                f"{label:38} {counts['statements'] / args.requests:5.1f} statements"
                f" {counts['pings'] / args.requests:4.1f} pings"
                f" {counts['transactions'] / args.requests:4.1f} BEGIN/COMMIT pairs per request"
            )

        def apply(i: int) -> Any:
            manifest = {
                "type": "model-version",
                "ml_repo": "rt-bench",
                "name": f"model-{i % 4}",
                "source": {"type": "external", "uri": f"s3://bucket/rt/{uuid.uuid4().hex}"},
                "metadata": {"accuracy": 0.9},
                "framework": {"type": "sklearn"},
                "step": 0,
            }
            response = client.put(f"{API}/model-versions", headers=headers, json={"manifest": manifest})
            body = response.json()
            version_ids.append((body.get("data") or body)["id"])
            return response

        measure("apply model version (existing model)", apply)
        measure(
            "get model version by id", lambda i: client.get(f"{API}/model-versions/{version_ids[i]}", headers=headers)
        )
        measure(
            "list versions of a model",
            lambda i: client.get(
                f"{API}/model-versions",
                headers=headers,
                params={"ml_repo_id": repo.json()["data"]["id"], "name": "model-0"},
            ),
        )


if __name__ == "__main__":
    main()
