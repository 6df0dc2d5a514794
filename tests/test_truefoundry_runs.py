"""The `truefoundry` library's runs flow, unmodified, against a live server on SQLite and Postgres."""

from __future__ import annotations

from tests.factories import unique
from tests.live import LiveServer, LiveUser
from tests.test_truefoundry_library import run_library


def test_runs_flow_through_the_truefoundry_library(server: LiveServer, user: LiveUser) -> None:
    repo = unique("lib-runs")
    result = run_library(server, user, "truefoundry_runs_flow", repo)
    assert result["fqn"] == f"acme/{repo}/xgb-1"
    assert result["tags"] == {"team": "a"}
    assert result["run_models"] == [result["model"]] == [f"model:acme/{repo}/churn-model:1"]
    assert result["run_artifacts"] == [result["artifact"]] == [f"artifact:acme/{repo}/notes:1"]
    assert result["model_metrics"] == {"auc": 0.81, "loss": 0.9}, "the run's metrics at the version's step"
    assert result["metrics"] == {"auc": [[0, 0.8], [1, 0.81], [2, 0.82]], "loss": [[0, 1.0], [1, 0.9], [2, 0.8]]}
    assert result["params"] == {"max_depth": "6", "model_class": "LogisticRegression"}
    assert result["status"] == "FINISHED"
    assert result["by_fqn"] and result["by_name"]
    assert result["searched"] == ["xgb-1"]
    assert result["ordered"] == ["xgb-1", "xgb-2"]
    assert result["remaining"] == ["xgb-1"]
