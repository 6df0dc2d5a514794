"""The README's runs examples run as written against a fresh server."""

from __future__ import annotations

from pathlib import Path

from tests.processes import cli_env, run_readme_block, serving

TOKEN = "tfy_readme_runs_token_0123456789"


def test_readme_runs_examples(tmp_path: Path) -> None:
    env = cli_env(tmp_path, MLREGISTRY_BOOTSTRAP_TOKEN=TOKEN, MLREGISTRY_TENANT_NAME="mlregistry")
    with serving(env) as url:
        logged, finished, found, history, malformed = run_readme_block("tested-runs-examples", url, TOKEN)
    assert logged == {}
    assert finished["run_info"]["status"] == "FINISHED" and finished["run_info"]["end_time"] is not None
    [run] = found["runs"]
    assert run["info"]["fqn"] == "mlregistry/runs-demo/xgb-1" and found["total"] == 1
    assert run["data"]["metrics"] == [{"key": "auc", "value": 0.91, "timestamp": 1700000060000, "step": 2}]
    assert run["data"]["params"] == [{"key": "max_depth", "value": "6"}]
    assert [point["value"] for point in history["metrics"]] == [0.88, 0.91]
    assert malformed["statusCode"] == 422 and "position 13" in malformed["message"]
