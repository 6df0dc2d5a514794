"""The README's workspace and model entity curl examples run as written against a `mlregistry serve` process."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

from tests.processes import cli_env, serving

README = Path(__file__).resolve().parents[1] / "README.md"
TOKEN = "tfy_readme_workspace_token_0123456789"


def workspace_examples() -> str:
    text = README.read_text()
    block = text.split("<!-- tested-workspace-examples:start -->", 1)[1].split(
        "<!-- tested-workspace-examples:end -->", 1
    )[0]
    match = re.search(r"```bash\n(.*?)```", block, re.S)
    assert match, "the README lost its tested workspace examples"
    return match.group(1)


def test_readme_workspace_curl_examples(tmp_path: Path) -> None:
    env = cli_env(tmp_path, MLREGISTRY_BOOTSTRAP_TOKEN=TOKEN)
    with serving(env) as url:
        script = "set -euo pipefail\n" + workspace_examples().replace("\ncurl", "\necho\ncurl")
        result = subprocess.run(
            ["bash", "-c", script],
            env={**os.environ, "MLREGISTRY_URL": url, "TOKEN": TOKEN},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 0, result.stderr
    workspace, created, updated, listed = (json.loads(line) for line in result.stdout.split("\n") if line.strip())
    assert workspace["name"] == "team-nlp" and workspace["created_by"]["subjectSlug"] == "admin"
    assert created["workspace"] == "team-nlp" and created["name"] == "llama-ft.v1"
    assert created["trust_remote_code"] is False and created["backend_format"] == "OPENAI_CHAT"
    assert updated["description"] == "updated" and updated["finetuning_type"] == "lora"
    assert updated["base_model"] == "meta/llama-3.2-1b" and updated["spec"] == created["spec"]
    assert updated["updated_at"] > created["updated_at"]
    assert [item["name"] for item in listed["data"]] == ["llama-ft.v1"]
    assert listed["filter"] == {"base_model": "meta/llama-3.2-1b"}
