"""Runs at scale against a live server: log_batch throughput, metric-history reads, search as runs grow.

    python benchmarks/runs_scale.py --start sqlite --points 100000 --search-sizes 1000,100000
    python benchmarks/runs_scale.py --start postgres --points 100000 --search-sizes 1000,100000 \
        --postgres-url postgresql://postgres@127.0.0.1:5432/postgres
    python benchmarks/runs_scale.py --url http://127.0.0.1:8000 --token $TOKEN

1. One run gets `--points` metric points through `POST /runs/{id}/batch` (1000 points a request, the
   library's batch size): points/s. Then `GET /runs/{id}/metrics/history` of that metric: read time.
2. One repo grows to each of `--search-sizes` runs (each with a metric, a param and a tag, one batch a
   run) and `POST /runs/search` with a metric filter and a metric order is timed: p50 and p99.
   With `--direct-fill` (Postgres started by the script), the runs after the first size are written
   straight into the database, rows of the same shape the routes write (a run, its latest metric and
   history point, param, tag and the repo's kept run count), so that 100,000 runs take seconds:

    python benchmarks/runs_scale.py --start postgres --points 0 --search-sizes 1000,10000,100000 --direct-fill
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import time
import uuid
from pathlib import Path

import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from registry_load import BOOTSTRAP, _postgres, percentile, run_concurrently, started_server  # noqa: E402

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


# Runs number `first` to `last - 1` of the repo, as `grow` below writes them through the routes.
DIRECT_FILL = [
    """INSERT INTO runs (id, ml_repo_id, name, status, lifecycle_stage, start_time, description,
                         created_by_subject, created_at)
       SELECT md5('bench-' || $1::int || '-' || n), $1, 'run-' || n, 'RUNNING', 'active', $4::bigint + n, NULL,
              $5::json, now()
       FROM generate_series($2::int, $3::int - 1) AS n""",
    """INSERT INTO run_latest_metrics (run_id, key, value, timestamp, step, ml_repo_id)
       SELECT md5('bench-' || $1::int || '-' || n), 'rmse', (n % 1000) / 1000.0, 1, 0, $1
       FROM generate_series($2::int, $3::int - 1) AS n""",
    """INSERT INTO run_metrics (run_id, key, value, timestamp, step)
       SELECT md5('bench-' || $1::int || '-' || n), 'rmse', (n % 1000) / 1000.0, 1, 0
       FROM generate_series($2::int, $3::int - 1) AS n""",
    """INSERT INTO run_params (run_id, key, value)
       SELECT md5('bench-' || $1::int || '-' || n), 'model_class', 'class-' || (n % 10)
       FROM generate_series($2::int, $3::int - 1) AS n""",
    """INSERT INTO run_tags (run_id, key, value)
       SELECT md5('bench-' || $1::int || '-' || n), 'team', 'team-' || (n % 5)
       FROM generate_series($2::int, $3::int - 1) AS n""",
    "UPDATE run_counts SET active = active + ($3::int - $2::int) WHERE ml_repo_id = $1",
]


async def direct_fill(database_dsn: str, repo_id: str, first: int, last: int) -> None:
    connection = await asyncpg.connect(database_dsn)
    try:
        subject = await connection.fetchval(
            "SELECT created_by_subject::text FROM runs WHERE ml_repo_id = $1 LIMIT 1", int(repo_id)
        )
        async with connection.transaction():
            arguments: list[object] = [int(repo_id), first, last, int(time.time() * 1000), subject]
            for statement in DIRECT_FILL:
                used = max(int(number) for number in re.findall(r"\$(\d)", statement))
                await connection.execute(statement, *arguments[:used])
        await connection.execute("VACUUM ANALYZE runs, run_latest_metrics, run_params, run_tags, run_counts")
    finally:
        await connection.close()


async def search_latency(
    client: httpx.AsyncClient, sizes: list[int], concurrency: int, database_dsn: str | None, direct: bool
) -> None:
    repo_id = await make_repo(client)
    total = 0
    for size in sizes:
        if direct and total and database_dsn:
            started = time.perf_counter()
            await direct_fill(database_dsn, repo_id, total, size)
            print(f"-- repo grown to {size} runs (written directly in {time.perf_counter() - started:.1f} s)")
            total = size
            await time_searches(client, repo_id)
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
        if database_dsn:
            await _postgres(database_dsn, "ANALYZE")
        await time_searches(client, repo_id)


async def time_searches(client: httpx.AsyncClient, repo_id: str) -> None:
    searches = {
        "metric filter + metric order": {
            "filter": "metrics.rmse < 0.01 and params.model_class = 'class-3'",
            "order_by": ["metrics.rmse DESC"],
        },
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
            f"   {label:<30} p50 {statistics.median(latencies) * 1000:>7.2f} ms  "
            f"p99 {percentile(latencies, 0.99) * 1000:>7.2f} ms"
        )


async def main_async(args: argparse.Namespace, url: str, token: str, database_dsn: str | None = None) -> None:
    limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=300, limits=limits) as client:
        if args.points:
            await metric_points(client, args.points)
        if args.search_sizes:
            sizes = [int(size) for size in args.search_sizes.split(",")]
            await search_latency(client, sizes, args.concurrency, database_dsn, args.direct_fill)


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
        help="Postgres with --start: write the runs after the first search size straight into the database",
    )
    args = parser.parse_args()
    if args.start:
        print(f"server: mlregistry serve --workers {args.workers} on {args.start}")
        with started_server(args.start, args.workers, args.postgres_url) as (url, database_dsn):
            asyncio.run(main_async(args, url, BOOTSTRAP, database_dsn))
    elif args.url and args.token:
        asyncio.run(main_async(args, args.url, args.token))
    else:
        parser.error("give --url and --token, or --start")


if __name__ == "__main__":
    main()
