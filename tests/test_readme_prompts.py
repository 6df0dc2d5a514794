"""The README's prompt examples run as written against a fresh server and answer what the README says."""

from __future__ import annotations

import json
from pathlib import Path

from tests.processes import README, cli_env, run_readme_block, serving

TOKEN = "tfy_readme_prompt_token_0123456789"


def test_readme_prompt_examples(tmp_path: Path) -> None:
    env = cli_env(tmp_path, MLREGISTRY_BOOTSTRAP_TOKEN=TOKEN, MLREGISTRY_TENANT_NAME="mlregistry")
    with serving(env) as url:
        repo, version, by_fqn, rendered, refused = run_readme_block("tested-prompt-examples", url, TOKEN)
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
