"""The README's curl examples run as written against a fresh server and give what the API promises."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.processes import cli_env, run_readme_block, serving

TOKEN = "tfy_readme_example_token_0123456789"


def test_readme_curl_examples(tmp_path: Path) -> None:
    env = cli_env(tmp_path, MLREGISTRY_BOOTSTRAP_TOKEN=TOKEN, MLREGISTRY_TENANT_NAME="mlregistry")
    with serving(env) as url:
        first = subprocess.run(
            ["curl", "-s", "-H", f"Authorization: Bearer {TOKEN}", f"{url}/api/ml/v1/models"],
            capture_output=True,
            text=True,
            check=True,
        )
        assert json.loads(first.stdout) == {"data": [], "pagination": {"total": 0, "offset": 0, "limit": 100}}
        repo, version, models, versions = run_readme_block("tested-examples", url, TOKEN)
    assert repo["data"]["manifest"]["name"] == "demo-repo"
    assert version["data"]["fqn"] == "model:mlregistry/demo-repo/churn-model:1"
    assert version["data"]["manifest"]["framework"]["base_model"] == "distilbert-base-uncased"
    assert [model["name"] for model in models["data"]] == ["churn-model"]
    assert models["data"][0]["latest_version"]["id"] == version["data"]["id"]
    assert [item["id"] for item in versions["data"]] == [version["data"]["id"]]
