"""Load and latency benchmark of the registry API against a live server.

Creates model versions through `PUT /model-versions` from C concurrent clients, reads them back
with `GET /model-versions/{id}`, and times list requests. Reports throughput and p50/p99.

    # against a running server
    python benchmarks/registry_load.py --url http://127.0.0.1:8000 --token $TOKEN --versions 2000
    # or let the script start `mlregistry serve --workers 2` on a fresh database
    python benchmarks/registry_load.py --start sqlite --workers 2 --versions 2000
    python benchmarks/registry_load.py --start postgres --workers 2 --versions 2000 \
        --postgres-url postgresql://postgres@127.0.0.1:5432/postgres
    # list latency as the registry grows (1k, then 100k versions in one model repo)
    python benchmarks/registry_load.py --start postgres --list-sizes 1000,100000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import httpx

API = "/api/ml/v1"
BOOTSTRAP = "tfy_benchmark_bootstrap_token_0123456789"


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def report(label: str, count: int, elapsed: float, latencies: list[float]) -> None:
    print(
        f"{label:<28} {count:>7} requests  {count / elapsed:>8.1f}/s  "
        f"p50 {percentile(latencies, 0.50) * 1000:>7.2f} ms  p99 {percentile(latencies, 0.99) * 1000:>7.2f} ms"
    )


async def run_concurrently(
    count: int, concurrency: int, make_request: Callable[[int], Awaitable[None]]
) -> tuple[float, list[float]]:
    latencies: list[float] = []
    counter = iter(range(count))

    async def worker() -> None:
        for index in counter:
            started = time.perf_counter()
            await make_request(index)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, latencies


def manifest(repo: str, model: str, index: int) -> dict[str, object]:
    return {
        "name": model,
        "ml_repo": repo,
        "type": "model-version",
        "metadata": {"index": index, "auc": 0.9},
        "source": {"type": "external", "uri": f"s3://bench/{model}/{index}"},
        "framework": {"type": "sklearn", "serialization_format": "joblib"},
        "environment": {"python_version": "3.11", "pip_packages": ["scikit-learn==1.5.0"]},
        "step": index,
        "run_id": f"run-{index % 100}",
    }


async def create_repo(client: httpx.AsyncClient) -> tuple[str, str]:
    name = f"bench-{uuid.uuid4().hex[:8]}"
    response = await client.put(
        f"{API}/ml-repos", json={"manifest": {"type": "ml-repo", "name": name, "storage_integration_fqn": "default"}}
    )
    response.raise_for_status()
    return name, response.json()["data"]["id"]


async def write_read(client: httpx.AsyncClient, versions: int, models: int, concurrency: int) -> None:
    repo, repo_id = await create_repo(client)
    ids: list[str] = [""] * versions

    async def create(index: int) -> None:
        response = await client.put(
            f"{API}/model-versions", json={"manifest": manifest(repo, f"model-{index % models}", index)}
        )
        response.raise_for_status()
        ids[index] = response.json()["data"]["id"]

    elapsed, latencies = await run_concurrently(versions, concurrency, create)
    report(f"create version (c={concurrency})", versions, elapsed, latencies)

    async def read(index: int) -> None:
        (await client.get(f"{API}/model-versions/{ids[index % versions]}")).raise_for_status()

    elapsed, latencies = await run_concurrently(versions * 2, concurrency, read)
    report(f"get version (c={concurrency})", versions * 2, elapsed, latencies)

    async def list_page(index: int) -> None:
        params: dict[str, str | int] = {"ml_repo_id": repo_id, "name": f"model-{index % models}", "limit": 20}
        (await client.get(f"{API}/model-versions", params=params)).raise_for_status()

    elapsed, latencies = await run_concurrently(versions, concurrency, list_page)
    report(f"list 20 versions (c={concurrency})", versions, elapsed, latencies)


async def list_latency(
    client: httpx.AsyncClient, sizes: list[int], concurrency: int, database_dsn: str | None = None
) -> None:
    """Grow one repo to each size (through the API) and time first/deep pages and filtered lists.

    With a Postgres database the script owns, statistics are refreshed after each growth step (what
    autovacuum does within a minute or two in steady state), so that the figures are not those of a
    planner that still believes the table is small."""
    repo, repo_id = await create_repo(client)
    total = 0
    for size in sizes:

        async def create(index: int, offset: int = total) -> None:
            number = offset + index
            response = await client.put(
                f"{API}/model-versions", json={"manifest": manifest(repo, f"model-{number % 100}", number)}
            )
            response.raise_for_status()

        elapsed, _ = await run_concurrently(size - total, concurrency, create)
        print(f"-- registry grown to {size} versions ({(size - total) / max(elapsed, 1e-9):.0f} writes/s)")
        total = size
        if database_dsn:
            await _postgres(database_dsn, "ANALYZE")
        queries: dict[str, dict[str, str | int]] = {
            "first page, whole repo": {"ml_repo_id": repo_id, "limit": 100},
            "deep page, whole repo": {"ml_repo_id": repo_id, "limit": 100, "offset": size // 2},
            "one model's versions": {"ml_repo_id": repo_id, "name": "model-7", "limit": 100},
            "run_ids filter": {"run_ids": "nope-run", "ml_repo_id": repo_id, "limit": 100},
            "models list": {"ml_repo_id": repo_id, "limit": 100},
        }
        for label, params in queries.items():
            path = f"{API}/models" if label == "models list" else f"{API}/model-versions"
            latencies = []
            for _ in range(30):
                started = time.perf_counter()
                (await client.get(path, params=params)).raise_for_status()
                latencies.append(time.perf_counter() - started)
            print(
                f"   {label:<26} p50 {statistics.median(latencies) * 1000:>7.2f} ms  "
                f"p99 {percentile(latencies, 0.99) * 1000:>7.2f} ms"
            )


@contextmanager
def started_server(
    backend: str,
    workers: int,
    postgres_url: str,
    server_env: dict[str, str] | None = None,
    settings: dict[str, str] | None = None,
) -> Iterator[tuple[str, str | None]]:
    """`mlregistry serve` on a fresh database; yields its URL and, for Postgres, the database's DSN.

    `server_env`, when given, receives the server's environment (for `mlregistry` commands on the same registry);
    `settings` are `MLREGISTRY_*` variables for the server (the caller's own are not passed on).
    """
    data_dir = Path(tempfile.mkdtemp(prefix="mlregistry-bench-"))
    env = {key: value for key, value in os.environ.items() if not key.startswith("MLREGISTRY_")}
    env.update(MLREGISTRY_DATA_DIR=str(data_dir), MLREGISTRY_BOOTSTRAP_TOKEN=BOOTSTRAP, **(settings or {}))
    database = None
    if backend == "postgres":
        database = f"mlregistry_bench_{uuid.uuid4().hex[:8]}"
        asyncio.run(_postgres(postgres_url, f'CREATE DATABASE "{database}"'))
        base = postgres_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
        env["MLREGISTRY_DATABASE_URL"] = f"{base}/{database}"
    if server_env is not None:
        server_env.update(env)
    port = 18000 + os.getpid() % 1000
    process = subprocess.Popen(
        [sys.executable, "-m", "mlregistry.cli", "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield url, (f"{postgres_url.rsplit('/', 1)[0]}/{database}" if database else None)
    finally:
        process.terminate()
        process.wait(timeout=30)
        if database:
            asyncio.run(_postgres(postgres_url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))


async def _postgres(url: str, statement: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def main_async(args: argparse.Namespace, url: str, token: str, database_dsn: str | None = None) -> None:
    limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=120, limits=limits) as client:
        if args.versions:
            await write_read(client, args.versions, args.models, args.concurrency)
        if args.list_sizes:
            sizes = [int(size) for size in args.list_sizes.split(",")]
            await list_latency(client, sizes, args.concurrency, database_dsn)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="Base URL of a running server")
    parser.add_argument("--token", help="Bearer token for --url")
    parser.add_argument("--start", choices=["sqlite", "postgres"], help="Start a server on a fresh database")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--versions", type=int, default=2000, help="Versions to create for the write/read run")
    parser.add_argument("--models", type=int, default=20, help="Models the versions are spread over")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--list-sizes", default="", help="Comma-separated registry sizes for list latency")
    parser.add_argument(
        "--server-setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="With --start: an MLREGISTRY_* variable for the server, e.g. MLREGISTRY_TOKEN_CACHE_SECONDS=0",
    )
    args = parser.parse_args()
    if args.start:
        settings = dict(setting.split("=", 1) for setting in args.server_setting)
        print(f"server: mlregistry serve --workers {args.workers} on {args.start} {settings or ''}")
        with started_server(args.start, args.workers, args.postgres_url, None, settings) as (url, database_dsn):
            asyncio.run(main_async(args, url, BOOTSTRAP, database_dsn))
    elif args.url and args.token:
        asyncio.run(main_async(args, args.url, args.token))
    else:
        parser.error("give --url and --token, or --start")


if __name__ == "__main__":
    main()
