"""The README's workspace and model entity curl examples run as written against a `mlregistry serve` process."""

from __future__ import annotations

from pathlib import Path

from tests.processes import cli_env, run_readme_block, serving

TOKEN = "tfy_readme_workspace_token_0123456789"


def test_readme_workspace_curl_examples(tmp_path: Path) -> None:
    env = cli_env(tmp_path, MLREGISTRY_BOOTSTRAP_TOKEN=TOKEN)
    with serving(env) as url:
        workspace, created, updated, listed = run_readme_block("tested-workspace-examples", url, TOKEN)
    assert workspace["name"] == "team-nlp" and workspace["created_by"]["subjectSlug"] == "admin"
    assert created["workspace"] == "team-nlp" and created["name"] == "llama-ft.v1"
    assert created["trust_remote_code"] is False and created["backend_format"] == "OPENAI_CHAT"
    assert updated["description"] == "updated" and updated["finetuning_type"] == "lora"
    assert updated["base_model"] == "meta/llama-3.2-1b" and updated["spec"] == created["spec"]
    assert updated["updated_at"] > created["updated_at"]
    assert [item["name"] for item in listed["data"]] == ["llama-ft.v1"]
    assert listed["filter"] == {"base_model": "meta/llama-3.2-1b"}
