"""The repo cache across `mlregistry serve` processes on one database (SQLite file or Postgres): each process
keeps an ML repo and a caller's collaborator role on it for two minutes here, so only the commit signal can
make one process see a role taken away, given back, or a repo deleted through the other one in time."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.factories import API, model_manifest, unique
from tests.live import ServeProcess
from tests.processes import cli_env

TOKEN = "tfy_repo_cache_process_token_0123456789"


def serve(tmp_path: Path, database_url: str, name: str, *, migrate: bool = True) -> ServeProcess:
    env = cli_env(
        tmp_path,
        database_url,
        MLREGISTRY_BOOTSTRAP_TOKEN=TOKEN,
        MLREGISTRY_BOOTSTRAP_ADMIN_EMAIL="admin@example.com",
        MLREGISTRY_REPO_CACHE_SECONDS="120",
        MLREGISTRY_WEBHOOK_POLL_INTERVAL_SECONDS="0",
        MLREGISTRY_REAPER_INTERVAL_SECONDS="0",
        MLREGISTRY_ACCESS_LOG="false",
    )
    return ServeProcess(env, tmp_path / f"{name}.log", () if migrate else ("--no-migrate",)).start()


def _repo_cache_hits(url: str) -> float:
    found = re.search(
        r'^mlregistry_repo_cache_lookups_total\{result="hit"\} (\S+)$', httpx.get(f"{url}/metrics").text, re.M
    )
    return float(found.group(1)) if found else 0.0


def _member_token(admin: httpx.Client, email: str) -> str:
    assert admin.post(f"{API}/users/register", json={"email": email}).status_code == 200
    issued = admin.post(f"{API}/personal-access-tokens/for-user", json={"name": "main", "userEmail": email})
    assert issued.status_code == 200, issued.text
    token: str = issued.json()["token"]
    return token


def _within(seconds: float, check: Callable[[], bool], what: str) -> None:
    """NOTIFY reaches the other process a moment after the commit."""
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_a_role_change_or_a_deleted_repo_through_one_process_is_seen_by_the_other(
    tmp_path: Path, database_url: str
) -> None:
    first = serve(tmp_path, database_url, "first")
    second = serve(tmp_path, database_url, "second", migrate=False)
    try:
        with first.client(TOKEN) as admin:
            email = f"{unique('member')}@example.com"
            member_token = _member_token(admin, email)
            repo_name = unique("cached")
            manifest = {"type": "ml-repo", "name": repo_name, "storage_integration_fqn": "default"}
            editor = [{"subject": f"user:{email}", "role_id": "mlf-project-editor"}]
            created = admin.put(f"{API}/ml-repos", json={"manifest": {**manifest, "collaborators": editor}})
            assert created.status_code == 200, created.text
            repo_id = created.json()["data"]["id"]

            with second.client(member_token) as member:

                def apply() -> int:
                    body = {"manifest": model_manifest(repo_name, "clf")}
                    return member.put(f"{API}/model-versions", json=body).status_code

                before = _repo_cache_hits(second.url)
                assert apply() == 200
                assert apply() == 200  # the repo and the member's role, now from the second process's cache
                assert _repo_cache_hits(second.url) > before, "the cache did not answer: this test proves nothing"

                viewer = [{"subject": f"user:{email}", "role_id": "mlf-project-viewer"}]
                changed = admin.put(f"{API}/ml-repos", json={"manifest": {**manifest, "collaborators": viewer}})
                assert changed.status_code == 200, changed.text
                _within(2.0, lambda: apply() == 403, "the second process still let a viewer write")

                changed = admin.put(f"{API}/ml-repos", json={"manifest": {**manifest, "collaborators": editor}})
                assert changed.status_code == 200, changed.text
                _within(2.0, lambda: apply() == 200, "the second process did not see the editor role given back")

                assert admin.delete(f"{API}/ml-repos/{repo_id}").status_code == 200
                _within(2.0, lambda: apply() == 404, "the second process still wrote into a deleted repo")
    finally:
        first.stop()
        second.stop()
