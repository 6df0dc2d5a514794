"""The README's curl examples run as written against a fresh server and give what the API promises."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

from tests.processes import cli_env, serving

README = Path(__file__).resolve().parents[1] / "README.md"
TOKEN = "tfy_readme_example_token_0123456789"


def readme_examples() -> str:
    text = README.read_text()
    block = text.split("<!-- tested-examples:start -->", 1)[1].split("<!-- tested-examples:end -->", 1)[0]
    match = re.search(r"```bash\n(.*?)```", block, re.S)
    assert match, "the README lost its tested examples"
    return match.group(1)


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
        script = "set -euo pipefail\n" + readme_examples().replace("\ncurl", "\necho\ncurl")
        result = subprocess.run(
            ["bash", "-c", script],
            env={**os.environ, "MLREGISTRY_URL": url, "TOKEN": TOKEN},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        repo, version, models, versions = (json.loads(line) for line in result.stdout.split("\n") if line.strip())
    assert repo["data"]["manifest"]["name"] == "demo-repo"
    assert version["data"]["fqn"] == "model:mlregistry/demo-repo/churn-model:1"
    assert version["data"]["manifest"]["framework"]["base_model"] == "distilbert-base-uncased"
    assert [model["name"] for model in models["data"]] == ["churn-model"]
    assert models["data"][0]["latest_version"]["id"] == version["data"]["id"]
    assert [item["id"] for item in versions["data"]] == [version["data"]["id"]]
