"""The CLI and server processes as operators run them: bootstrap, tokens, several processes on one database."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from tests.factories import API, model_manifest
from tests.processes import cli_env, run_cli, serving

BOOTSTRAP = "tfy_bootstrap_token_for_tests_0123456789"


def test_bootstrap_token_and_cli_users(tmp_path: Path, database_url: str) -> None:
    env = cli_env(tmp_path, database_url, MLREGISTRY_BOOTSTRAP_TOKEN=BOOTSTRAP)
    assert run_cli(["db", "upgrade"], env).returncode == 0
    with serving(env) as url:  # first start on an empty user table: `admin` gets the bootstrap token
        created = run_cli(["admin", "create-user", "alice", "--email", "Alice@Example.com", "--display-name", "A"], env)
        assert created.returncode == 0, created.stderr
        duplicate = run_cli(["admin", "create-user", "alice", "--email", "other@example.com"], env)
        assert duplicate.returncode == 1 and "already exists" in duplicate.stderr
        issued = run_cli(
            ["admin", "create-token", "--user", "alice", "--name", "laptop", "--expires-in-days", "30"], env
        )
        assert issued.returncode == 0, issued.stderr
        token = issued.stdout.strip().splitlines()[-1]
        assert token.count(".") == 2
        assert run_cli(["admin", "create-token", "--user", "nobody", "--name", "x"], env).returncode == 1

        with httpx.Client(base_url=url) as client:
            assert client.get("/healthz").json() == {"status": "ok"}
            admin = client.get(f"{API}/session", headers={"Authorization": f"Bearer {BOOTSTRAP}"}).json()["user"]
            assert admin["username"] == "admin" and "tenant-admin" in admin["roles"]
            alice = client.get(f"{API}/session", headers={"Authorization": f"Bearer {token}"}).json()["user"]
            assert alice["email"] == "alice@example.com"
            assert alice["subject"]["subjectPatName"] == "laptop"
            models = client.get(f"{API}/models", headers={"Authorization": f"Bearer {token}"})
            assert models.json() == {"data": [], "pagination": {"total": 0, "offset": 0, "limit": 100}}


def test_production_refuses_to_start_without_a_strong_key(tmp_path: Path) -> None:
    env = cli_env(tmp_path, MLREGISTRY_ENV="production")
    env.pop("MLREGISTRY_SECRET_KEY")
    result = run_cli(["serve", "--port", "1"], env)
    assert result.returncode != 0 and "MLREGISTRY_SECRET_KEY" in (result.stderr + result.stdout)
    env["MLREGISTRY_SECRET_KEY"] = "too-short"
    assert run_cli(["serve", "--port", "1"], env).returncode != 0


def test_concurrent_applies_on_two_processes_get_consecutive_numbers(tmp_path: Path, database_url: str) -> None:
    env = cli_env(tmp_path, database_url, MLREGISTRY_BOOTSTRAP_TOKEN=BOOTSTRAP)
    headers = {"Authorization": f"Bearer {BOOTSTRAP}"}
    with serving(env) as first, serving(env, "--no-migrate") as second:
        with httpx.Client(base_url=first, headers=headers, timeout=60) as client:
            repo = {"type": "ml-repo", "name": "race-repo", "storage_integration_fqn": "default"}
            assert client.put(f"{API}/ml-repos", json={"manifest": repo}).status_code == 200

        def apply(index: int) -> tuple[int, int]:
            url = first if index % 2 else second
            with httpx.Client(base_url=url, headers=headers, timeout=120) as client:
                response = client.put(
                    f"{API}/model-versions", json={"manifest": model_manifest("race-repo", "contended", step=index)}
                )
            return response.status_code, response.json().get("data", {}).get("manifest", {}).get("version", -1)

        with ThreadPoolExecutor(max_workers=16) as pool:
            results = list(pool.map(apply, range(50)))
        assert {status for status, _ in results} == {200}
        assert sorted(number for _, number in results) == list(range(1, 51))
        with httpx.Client(base_url=second, headers=headers) as client:
            listed = client.get(f"{API}/model-versions", params={"name": "contended", "ml_repo_id": "1"}).json()
            assert listed["pagination"]["total"] == 50
