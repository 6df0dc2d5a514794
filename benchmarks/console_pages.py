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

With `--start`, the first `--api-versions` versions (1000) are applied through the API, one of them tagged
`stable`; the repo is then exported with `mlregistry export`, the archive's big model grows to `--versions`
with versions shaped like the applied ones, and `mlregistry import` brings it back as a second repo, which is
the one measured (the import writes every row a version has in one transaction: 100,000 versions take about a
minute, where applying them one by one runs at tens a second on a small machine).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from registry_load import BOOTSTRAP, create_repo, manifest, percentile, run_concurrently, started_server  # noqa: E402

from mlregistry.services.archive import encode_record  # noqa: E402

API = "/api/svc/v1"
SERVER_TIMING = re.compile(r"app;dur=([0-9.]+)")


async def seed(
    client: httpx.AsyncClient, versions: int, concurrency: int, env: dict[str, str] | None = None, api_versions: int = 0
) -> dict[str, str]:
    """The data set; with `env` (the server's) and `api_versions` < `versions`, the rest arrives by import."""
    through_api = min(versions, api_versions) if env is not None and api_versions else versions
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

    elapsed, _ = await run_concurrently(through_api, concurrency, apply)
    print(f"seeded {through_api} versions of one model through the API in {elapsed:.1f} s")
    tagged = {"model_version_id": first["version"], "tags": ["stable"], "force": True}
    (await client.put(f"{API}/model-versions/tags", json=tagged)).raise_for_status()
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
    prompt_version = response.json()["data"]["id"]
    if through_api < versions:
        assert env is not None
        repo_name, repo_id = await grown_copy(client, env, repo_name, first["model"], versions)
        listed = await client.get(f"{API}/models", params={"ml_repo_id": repo_id, "name": "big"})
        first["model"] = listed.raise_for_status().json()["data"][0]["id"]
        oldest = await client.get(f"{API}/model-versions", params={"model_id": first["model"], "tag": "stable"})
        first["version"] = oldest.raise_for_status().json()["data"][0]["id"]
        page = await client.get(f"{API}/model-versions", params={"model_id": first["model"], "limit": 1})
        newest = page.raise_for_status().json()
        assert newest["pagination"]["total"] == versions and newest["data"][0]["fqn"].endswith(f":{versions}"), newest
        runs = [run["info"]["run_id"] for run in await search_runs(client, repo_id)]
        prompts = await client.get(f"{API}/prompt-versions", params={"ml_repo_id": repo_id})
        prompt_version = prompts.raise_for_status().json()["data"][0]["id"]
    return {
        "repo list": "/ui/",
        "repo models tab": f"/ui/repos/{repo_id}/models",
        "versions page 1": f"/ui/models/{first['model']}",
        "versions last page": f"/ui/models/{first['model']}?page_number={max(1, -(-versions // 25))}",
        "versions by tag": f"/ui/models/{first['model']}?tag=stable",
        "version page": f"/ui/model-versions/{first['version']}",
        "runs tab": f"/ui/repos/{repo_id}/runs",
        "compare 2 runs": f"/ui/runs/compare?ids={runs[0]}&ids={runs[1]}",
        "prompt preview": f"/ui/prompt-versions/{prompt_version}?preview=1&var.topic=dogs",
    }


async def search_runs(client: httpx.AsyncClient, repo_id: str) -> list[dict[str, object]]:
    response = await client.post(f"{API}/runs/search", json={"experiment_ids": [repo_id], "order_by": ["name"]})
    return list(response.raise_for_status().json()["runs"])


async def grown_copy(
    client: httpx.AsyncClient, env: dict[str, str], repo_name: str, model_id: str, versions: int
) -> tuple[str, str]:
    """Export the repo, add versions to its big model in the archive up to `versions`, import it as a new repo.

    The import writes every row the registry keeps for a version (tag copies, counts, label intervals) in one
    transaction, thousands of versions a second, where applying them one by one runs at tens a second here.
    """
    work = Path(tempfile.mkdtemp(prefix="console-pages-"))
    started = time.perf_counter()
    await mlregistry(env, "export", "--ml-repo", repo_name, "--out", str(work / "a"), "--quiet")
    added = grow_archive(work / "a", model_id, versions)
    copy = f"{repo_name}-grown"
    await mlregistry(env, "import", str(work / "a"), "--ml-repo", copy, "--quiet")
    print(f"added {added} versions by export, archive edit and import in {time.perf_counter() - started:.1f} s")
    response = await client.get(f"{API}/ml-repos", params={"name": copy})
    return copy, str(response.raise_for_status().json()["data"][0]["id"])


async def mlregistry(env: dict[str, str], *arguments: str) -> None:
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "mlregistry.cli", *arguments, env=env)
    if await process.wait() != 0:
        raise SystemExit(f"mlregistry {arguments[0]} failed")


def grow_archive(archive: Path, model_id: str, versions: int) -> int:
    """Append versions numbered after the model's last one (new ids, later times), as applies would write them."""
    source = archive / "records.jsonl"
    records = [json.loads(line) for line in source.read_text().splitlines()]
    entity = next(r["data"] for r in records if r["kind"] == "entity" and r["data"]["id"] == model_id)
    template = max(
        (r["data"] for r in records if r["kind"] == "version" and r["data"]["entity_id"] == model_id),
        key=lambda data: data["version"],
    )
    last, added = entity["last_version_number"], versions - entity["version_count"]
    created = datetime.fromisoformat(template["created_at"])
    clones = []
    for number in range(last + 1, last + added + 1):
        index = number - 1
        moment = (created + timedelta(milliseconds=number - last)).isoformat()
        manifest = {**template["manifest"], "version": number, "step": index, "run_id": f"run-{index % 100}"}
        manifest["metadata"] = {**manifest["metadata"], "index": index}
        manifest["source"] = {**manifest["source"], "uri": f"s3://bench/big/{index}"}
        clones.append(
            {
                **template,
                "id": str(uuid.uuid4()),
                "version": number,
                "manifest": manifest,
                "step": index,
                "run_id": f"run-{index % 100}",
                "storage_root": manifest["source"]["uri"],
                "tags": [],
                "version_alias": None,
                "created_at": moment,
                "updated_at": moment,
            }
        )
    entity.update(
        last_version_number=last + added,
        version_count=versions,
        latest_version_id=clones[-1]["id"],
        updated_at=clones[-1]["created_at"],
    )
    last_version_line = max(i for i, r in enumerate(records) if r["kind"] == "version")
    with (archive / "records.new").open("w") as out:
        for i, record in enumerate(records):
            out.write(encode_record(record["kind"], record["data"]))
            if i == last_version_line:
                out.writelines(encode_record("version", clone) for clone in clones)
    os.replace(archive / "records.new", source)
    header = json.loads((archive / "header.json").read_text())
    header.update(records=header["records"] + added)
    (archive / "header.json").write_text(json.dumps(header))
    return added


async def sign_in(client: httpx.AsyncClient, token: str) -> None:
    form = await client.get("/ui/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert csrf is not None
    response = await client.post("/ui/login", data={"csrf_token": csrf.group(1), "token": token, "next": "/ui/"})
    if response.status_code != 303:
        raise SystemExit(f"console sign-in failed: {response.status_code}")


async def measure(url: str, token: str, args: argparse.Namespace, env: dict[str, str] | None = None) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=args.concurrency)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=120, limits=limits) as api:
        pages = await seed(api, args.versions, args.concurrency, env, args.api_versions)
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
    parser.add_argument(
        "--api-versions",
        type=int,
        default=1000,
        help="With --start: versions applied through the API; the rest to --versions arrive by export and import",
    )
    parser.add_argument("--samples", type=int, default=30, help="Requests per page")
    parser.add_argument("--concurrency", type=int, default=8, help="Concurrent writers while seeding")
    args = parser.parse_args()
    if args.start:
        env: dict[str, str] = {}
        with started_server(args.start, args.workers, args.postgres_url, env) as (url, _):
            asyncio.run(measure(url, BOOTSTRAP, args, env))
    elif args.url and args.token:
        asyncio.run(measure(args.url, args.token, args))
    else:
        parser.error("give --url and --token, or --start")


if __name__ == "__main__":
    main()
