"""Server time of the web console's main pages as a model's versions grow.

    python benchmarks/console_pages.py --start sqlite --versions 2000
    python benchmarks/console_pages.py --start postgres --versions 100000 \
        --postgres-url postgresql://postgres@127.0.0.1:5432/postgres
    python benchmarks/console_pages.py --url http://127.0.0.1:8000 --token $TOKEN --versions 1000

One ML repo gets one model with `--versions` versions (each naming one of 100 runs, as logged models
do), a second model, two runs with metric histories and a prompt. The script signs in to the console
with the token and requests each page `--samples` times, reading the server's own time from the
`Server-Timing` header that console pages carry (session check, queries and template, no network):
p50 and p99 per page, and the wall time seen by the client.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from registry_load import BOOTSTRAP, create_repo, manifest, percentile, run_concurrently, started_server  # noqa: E402

API = "/api/svc/v1"
SERVER_TIMING = re.compile(r"app;dur=([0-9.]+)")


async def seed(client: httpx.AsyncClient, versions: int, concurrency: int) -> dict[str, str]:
    repo_name, repo_id = await create_repo(client)
    runs = []
    for name in ("baseline", "tuned"):
        response = await client.post(f"{API}/runs", json={"experiment_id": repo_id, "name": name})
        response.raise_for_status()
        run_id = response.json()["run"]["info"]["run_id"]
        points = [{"key": "loss", "value": 1 / (step + 1), "timestamp": step, "step": step} for step in range(200)]
        (await client.post(f"{API}/runs/{run_id}/batch", json={"metrics": points})).raise_for_status()
        runs.append(run_id)
    first: dict[str, str] = {}

    async def apply(index: int) -> None:
        response = await client.put(f"{API}/model-versions", json={"manifest": manifest(repo_name, "big", index)})
        response.raise_for_status()
        first.setdefault("version", response.json()["data"]["id"])
        first.setdefault("model", response.json()["data"]["model_id"])

    elapsed, _ = await run_concurrently(versions, concurrency, apply)
    print(f"seeded {versions} versions of one model in {elapsed:.1f} s")
    prompt = {
        "name": "helper",
        "metadata": {},
        "ml_repo": repo_name,
        "type": "chat_prompt",
        "messages": [{"role": "user", "content": "Tell me about {{topic}}."}],
        "variables": {"topic": "cats"},
        "model_configuration": {"provider": "openai-main", "model": "gpt-4o", "parameters": {"max_tokens": 64}},
    }
    response = await client.put(f"{API}/prompt-versions", json={"manifest": prompt})
    if response.status_code != 200:
        raise SystemExit(f"prompt apply failed: {response.text}")
    return {
        "repo list": "/ui/",
        "repo models tab": f"/ui/repos/{repo_id}/models",
        "versions page 1": f"/ui/models/{first['model']}",
        "versions last page": f"/ui/models/{first['model']}?page_number={max(1, -(-versions // 25))}",
        "versions by tag": f"/ui/models/{first['model']}?tag=none",
        "version page": f"/ui/model-versions/{first['version']}",
        "runs tab": f"/ui/repos/{repo_id}/runs",
        "compare 2 runs": f"/ui/runs/compare?ids={runs[0]}&ids={runs[1]}",
        "prompt preview": f"/ui/prompt-versions/{response.json()['data']['id']}?preview=1&var.topic=dogs",
    }


async def sign_in(client: httpx.AsyncClient, token: str) -> None:
    form = await client.get("/ui/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert csrf is not None
    response = await client.post("/ui/login", data={"csrf_token": csrf.group(1), "token": token, "next": "/ui/"})
    if response.status_code != 303:
        raise SystemExit(f"console sign-in failed: {response.status_code}")


async def measure(url: str, token: str, args: argparse.Namespace) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=args.concurrency)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=120, limits=limits) as api:
        pages = await seed(api, args.versions, args.concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=120) as browser:
        await sign_in(browser, token)
        print(f"{'page':<22} {'server p50':>11} {'server p99':>11} {'wall p50':>9}")
        for label, path in pages.items():
            server: list[float] = []
            wall: list[float] = []
            for _ in range(args.samples):
                started = time.perf_counter()
                response = await browser.get(path)
                wall.append(time.perf_counter() - started)
                if response.status_code != 200:
                    raise SystemExit(f"{path}: {response.status_code}")
                found = SERVER_TIMING.search(response.headers.get("server-timing", ""))
                assert found is not None, "console pages carry Server-Timing"
                server.append(float(found.group(1)))
            print(
                f"{label:<22} {percentile(server, 0.5):>8.1f} ms {percentile(server, 0.99):>8.1f} ms "
                f"{percentile(wall, 0.5) * 1000:>6.1f} ms"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="Base URL of a running server")
    parser.add_argument("--token", help="Token for --url (a tenant admin's, to seed and browse)")
    parser.add_argument("--start", choices=["sqlite", "postgres"], help="Start a server on a fresh database")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--versions", type=int, default=2000, help="Versions of the one big model")
    parser.add_argument("--samples", type=int, default=30, help="Requests per page")
    parser.add_argument("--concurrency", type=int, default=8, help="Concurrent writers while seeding")
    args = parser.parse_args()
    if args.start:
        with started_server(args.start, args.workers, args.postgres_url) as (url, _):
            asyncio.run(measure(url, BOOTSTRAP, args))
    elif args.url and args.token:
        asyncio.run(measure(args.url, args.token, args))
    else:
        parser.error("give --url and --token, or --start")


if __name__ == "__main__":
    main()
