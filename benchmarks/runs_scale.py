"""Runs at scale against a live server: log_batch throughput, metric-history reads, search as runs grow.

    python benchmarks/runs_scale.py --start sqlite --points 100000 --search-sizes 1000,100000
    python benchmarks/runs_scale.py --start postgres --points 100000 --search-sizes 1000,100000 \
        --postgres-url postgresql://postgres@127.0.0.1:5432/postgres
    python benchmarks/runs_scale.py --url http://127.0.0.1:8000 --token $TOKEN

1. One run gets `--points` metric points through `POST /runs/{id}/batch` (1000 points a request, the
   library's batch size): points/s. Then `GET /runs/{id}/metrics/history` of that metric: read time.
2. One repo grows to each of `--search-sizes` runs (each with a metric, a param and a tag, one batch a
   run) and `POST /runs/search` with a metric filter and a metric order is timed: p50 and p99.
   With `--direct-fill` (a server started by the script, SQLite or Postgres), the runs after the first
   size are written straight into the database, rows of the same shape the routes write (a run, its
   latest metric and history point, param, tag, and the repo's kept run and tag counts recounted), so
   that 100,000 runs take seconds:

    python benchmarks/runs_scale.py --start postgres --points 0 --search-sizes 1000,10000,100000 --direct-fill
    python benchmarks/runs_scale.py --start sqlite --points 0 --search-sizes 1000,10000,100000 --direct-fill
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from registry_load import BOOTSTRAP, percentile, run_concurrently, started_server  # noqa: E402

from mlregistry.orm import Run, RunCount, RunLatestMetric, RunMetric, RunParam, RunTag, RunTagCount  # noqa: E402
from mlregistry.repositories import runs as run_queries  # noqa: E402
from mlregistry.repositories.database import create_database  # noqa: E402
from mlregistry.repositories.portability import refresh_statistics  # noqa: E402
from mlregistry.settings import Settings  # noqa: E402

API = "/api/svc/v1"
BATCH = 1000


async def make_repo(client: httpx.AsyncClient) -> str:
    name = f"runs-bench-{uuid.uuid4().hex[:8]}"
    manifest = {"type": "ml-repo", "name": name, "storage_integration_fqn": "default"}
    response = await client.put(f"{API}/ml-repos", json={"manifest": manifest})
    response.raise_for_status()
    return str(response.json()["data"]["id"])


async def make_run(client: httpx.AsyncClient, repo_id: str, name: str) -> str:
    response = await client.post(f"{API}/runs", json={"experiment_id": repo_id, "name": name})
    response.raise_for_status()
    return str(response.json()["run"]["info"]["run_id"])


async def metric_points(client: httpx.AsyncClient, points: int) -> None:
    repo_id = await make_repo(client)
    run_id = await make_run(client, repo_id, "history")
    started = time.perf_counter()
    for first in range(0, points, BATCH):
        metrics = [
            {"key": "loss", "value": 1.0 / (step + 1), "timestamp": 1_700_000_000_000 + step, "step": step}
            for step in range(first, min(points, first + BATCH))
        ]
        (await client.post(f"{API}/runs/{run_id}/batch", json={"metrics": metrics})).raise_for_status()
    elapsed = time.perf_counter() - started
    print(f"log_batch: {points} points in {elapsed:.1f} s = {points / elapsed:,.0f} points/s ({BATCH} a request)")
    latencies = []
    for _ in range(5):
        started = time.perf_counter()
        response = await client.get(f"{API}/runs/{run_id}/metrics/history", params={"metric_key": "loss"})
        response.raise_for_status()
        latencies.append(time.perf_counter() - started)
        assert len(response.json()["metrics"]) == points
    print(f"metric history of {points} points: median {statistics.median(latencies) * 1000:.0f} ms")


FILL_BATCH = 10_000


def _filled(repo_id: int, numbers: range, now: int, subject: Any) -> dict[Any, list[dict[str, Any]]]:
    """Rows of runs number `numbers` of the repo, shaped as `grow` below writes them through the routes."""
    ids = {number: hashlib.md5(f"bench-{repo_id}-{number}".encode()).hexdigest() for number in numbers}
    created = datetime.now(UTC)
    return {
        Run: [
            {
                "id": run_id,
                "ml_repo_id": repo_id,
                "name": f"run-{number}",
                "status": "RUNNING",
                "lifecycle_stage": "active",
                "start_time": now + number,
                "description": None,
                "created_by_subject": subject,
                "created_at": created,
            }
            for number, run_id in ids.items()
        ],
        RunLatestMetric: [
            {
                "run_id": run_id,
                "ml_repo_id": repo_id,
                "key": "rmse",
                "value": (n % 1000) / 1000,
                "timestamp": 1,
                "step": 0,
            }
            for n, run_id in ids.items()
        ],
        RunMetric: [
            {"run_id": run_id, "key": "rmse", "value": (n % 1000) / 1000, "timestamp": 1, "step": 0}
            for n, run_id in ids.items()
        ],
        RunParam: [
            {"run_id": run_id, "ml_repo_id": repo_id, "key": "model_class", "value": f"class-{n % 10}"}
            for n, run_id in ids.items()
        ],
        RunTag: [
            {"run_id": run_id, "ml_repo_id": repo_id, "key": "team", "value": f"team-{n % 5}"}
            for n, run_id in ids.items()
        ],
    }


async def direct_fill(settings: Settings, repo_id: str, first: int, last: int) -> None:
    """Runs `first` to `last - 1` written straight into the database in one transaction, with the repo's kept
    run and tag counts recounted and the planner's statistics refreshed, as an import leaves them."""
    database = create_database(settings)
    repo = int(repo_id)
    try:
        async with database.session(write=True) as session:
            subject = await session.scalar(select(Run.created_by_subject).where(Run.ml_repo_id == repo).limit(1))
            now = int(time.time() * 1000)
            for start in range(first, last, FILL_BATCH):
                for table, rows in _filled(repo, range(start, min(last, start + FILL_BATCH)), now, subject).items():
                    await session.execute(insert(table), rows)
            await run_queries.recount_runs(session, repo)
            await run_queries.recount_tags(session, repo)
            await session.commit()
            tables = [Run.__table__, RunLatestMetric.__table__, RunMetric.__table__, RunParam.__table__]
            await refresh_statistics(session, [*tables, RunTag.__table__, RunCount.__table__, RunTagCount.__table__])
            await session.commit()
    finally:
        await database.dispose()


async def search_latency(
    client: httpx.AsyncClient, sizes: list[int], concurrency: int, settings: Settings | None, direct: bool
) -> None:
    repo_id = await make_repo(client)
    total = 0
    for size in sizes:
        if direct and total and settings:
            started = time.perf_counter()
            await direct_fill(settings, repo_id, total, size)
            print(f"-- repo grown to {size} runs (written directly in {time.perf_counter() - started:.1f} s)")
            total = size
            await time_searches(client, repo_id, size)
            continue

        async def grow(index: int, offset: int = total) -> None:
            number = offset + index
            run_id = await make_run(client, repo_id, f"run-{number}")
            batch = {
                "metrics": [{"key": "rmse", "value": (number % 1000) / 1000, "timestamp": 1, "step": 0}],
                "params": [{"key": "model_class", "value": f"class-{number % 10}"}],
                "tags": [{"key": "team", "value": f"team-{number % 5}"}],
            }
            (await client.post(f"{API}/runs/{run_id}/batch", json=batch)).raise_for_status()

        elapsed, _ = await run_concurrently(size - total, concurrency, grow)
        print(f"-- repo grown to {size} runs ({(size - total) / max(elapsed, 1e-9):.0f} runs/s)")
        total = size
        if settings:
            await analyze(settings)
        await time_searches(client, repo_id, size)


async def time_searches(client: httpx.AsyncClient, repo_id: str, size: int) -> None:
    # rmse takes 1000 values, each on size / 1000 runs: below 100 / size it holds 100 runs at every size
    admitting_100 = f"metrics.rmse < {100 / size}"
    searches = {
        "metric filter + metric order": {
            "filter": "metrics.rmse < 0.01 and params.model_class = 'class-3'",
            "order_by": ["metrics.rmse DESC"],
        },
        "metric filter of 100 runs + order": {"filter": admitting_100, "order_by": ["metrics.rmse DESC"]},
        "metric order, first page": {"order_by": ["metrics.rmse ASC"], "max_results": 100},
        "tag filter + metric filter": {"filter": "tags.team = 'team-4' and metrics.rmse > 0.998"},
        "tag filter (a fifth of runs)": {"filter": "tags.team = 'team-1'"},
        "no filter, newest first": {},
    }
    for label, body in searches.items():
        latencies = []
        for _ in range(30):
            started = time.perf_counter()
            response = await client.post(
                f"{API}/runs/search",
                json={"experiment_ids": [repo_id], "run_view_type": "ACTIVE_ONLY", "max_results": 100, **body},
            )
            response.raise_for_status()
            latencies.append(time.perf_counter() - started)
        print(
            f"   {label:<34} p50 {statistics.median(latencies) * 1000:>7.2f} ms  "
            f"p99 {percentile(latencies, 0.99) * 1000:>7.2f} ms"
        )


async def analyze(settings: Settings) -> None:
    database = create_database(settings)
    try:
        async with database.session(write=True) as session:
            await session.execute(text("ANALYZE"))
            await session.commit()
    finally:
        await database.dispose()


async def main_async(args: argparse.Namespace, url: str, token: str, settings: Settings | None = None) -> None:
    limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=300, limits=limits) as client:
        if args.points:
            await metric_points(client, args.points)
        if args.search_sizes:
            sizes = [int(size) for size in args.search_sizes.split(",")]
            await search_latency(client, sizes, args.concurrency, settings, args.direct_fill)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="Base URL of a running server")
    parser.add_argument("--token", help="Bearer token for --url")
    parser.add_argument("--start", choices=["sqlite", "postgres"], help="Start a server on a fresh database")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--points", type=int, default=100_000, help="Metric points logged to one run")
    parser.add_argument("--search-sizes", default="1000,100000", help="Comma-separated run counts for search")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--direct-fill",
        action="store_true",
        help="With --start: write the runs after the first search size straight into the database",
    )
    args = parser.parse_args()
    if args.start:
        print(f"server: mlregistry serve --workers {args.workers} on {args.start}")
        env: dict[str, str] = {}
        with started_server(args.start, args.workers, args.postgres_url, env) as (url, _):
            database_url = env.get("MLREGISTRY_DATABASE_URL")
            settings = Settings(data_dir=Path(env["MLREGISTRY_DATA_DIR"]), database_url=database_url)
            asyncio.run(main_async(args, url, BOOTSTRAP, settings))
    elif args.url and args.token:
        asyncio.run(main_async(args, args.url, args.token))
    else:
        parser.error("give --url and --token, or --start")


if __name__ == "__main__":
    main()
