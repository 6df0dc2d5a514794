"""The README's retry and history curl examples run as written against a `mlregistry serve` process."""

from __future__ import annotations

from pathlib import Path

from tests.processes import cli_env, run_readme_block, serving

TOKEN = "tfy_readme_history_token_0123456789"


def test_readme_history_curl_examples(tmp_path: Path) -> None:
    env = cli_env(tmp_path, MLREGISTRY_BOOTSTRAP_TOKEN=TOKEN)
    with serving(env) as url:
        repo, retried, tagged, moved, history, then, aliases, events = run_readme_block(
            "tested-history-examples", url, TOKEN
        )
    assert repo["data"]["manifest"]["name"] == "history-demo"
    v1 = retried["data"]
    assert v1["manifest"]["version"] == 1 and v1["version_alias"] == "v-prod"
    assert tagged == {} and moved == {}
    assert [(item["version"], item["set_reason"], item["end_reason"]) for item in history["data"]] == [
        (1, "set", "moved"),
        (2, "moved", None),
    ]
    assert [item["id"] for item in then["data"]] == [v1["id"]] and then["data"][0]["tags"] == ["prod"]
    assert [(item["name"], item["version"]) for item in aliases["data"]] == [("v-prod", 1)]
    assert [(event["kind"], event["event"]) for event in events["data"]] == [
        ("alias", "set"),
        ("tag", "set"),
        ("tag", "moved"),
    ]
    assert events["data"][2]["to_version"]["version"] == 2
