"""The README's prompt examples run as written against a fresh server and answer what the README says."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

from tests.processes import cli_env, serving

README = Path(__file__).resolve().parents[1] / "README.md"
TOKEN = "tfy_readme_prompt_token_0123456789"


def prompt_examples() -> str:
    text = README.read_text()
    block = text.split("<!-- tested-prompt-examples:start -->", 1)[1].split("<!-- tested-prompt-examples:end -->")[0]
    match = re.search(r"```bash\n(.*?)```", block, re.S)
    assert match, "the README lost its prompt examples"
    return match.group(1)


def test_readme_prompt_examples(tmp_path: Path) -> None:
    env = cli_env(tmp_path, MLREGISTRY_BOOTSTRAP_TOKEN=TOKEN, MLREGISTRY_TENANT_NAME="mlregistry")
    with serving(env) as url:
        script = "set -euo pipefail\n" + prompt_examples().replace("\ncurl", "\necho\ncurl")
        result = subprocess.run(
            ["bash", "-c", script],
            env={**os.environ, "MLREGISTRY_URL": url, "TOKEN": TOKEN},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 0, result.stderr
    repo, version, by_fqn, rendered, refused = (json.loads(line) for line in result.stdout.split("\n") if line.strip())
    assert repo["data"]["manifest"]["name"] == "prompt-demo"
    assert version["data"]["fqn"] == "chat_prompt:mlregistry/prompt-demo/greeter:1"
    assert [item["id"] for item in by_fqn["data"]] == [version["data"]["id"]]
    assert rendered["data"] == {
        "id": version["data"]["id"],
        "fqn": "chat_prompt:mlregistry/prompt-demo/greeter:1",
        "variables": {"persona": "a friendly assistant", "name": "Ada"},
        "messages": [
            {"role": "system", "content": "You are a friendly assistant."},
            {"role": "user", "content": "Say hello to Ada."},
        ],
    }
    assert refused["statusCode"] == 422
    assert refused["message"] == (
        "manifest.messages: undeclared variables: nickname; declare them in manifest.variables"
    )
    readme = README.read_text()
    assert refused["message"] in readme and json.dumps(rendered["data"]["messages"]) in readme
