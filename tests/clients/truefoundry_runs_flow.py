"""Runs in a subprocess with only TFY_HOST and TFY_API_KEY set: the truefoundry library's runs flow.

Prints one JSON object with what the library read back, for the test to check.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from truefoundry import client as sdk
from truefoundry.ml import BlobStorageDirectory, SklearnFramework, get_client


def main(repo: str) -> None:
    client = get_client()
    client.create_ml_repo(name=repo, storage_integration_fqn="default")
    run = client.create_run(ml_repo=repo, run_name="xgb-1")
    run.log_params({"max_depth": 6, "model_class": "LogisticRegression"})
    for step in range(3):
        run.log_metrics({"auc": [0.8, 0.81, 0.82][step], "loss": [1.0, 0.9, 0.8][step]}, step=step)
    run.set_tags({"team": "a"})
    other = client.create_run(ml_repo=repo, run_name="xgb-2")
    other.log_params({"max_depth": 3, "model_class": "Tree"})
    other.log_metrics({"auc": 0.7})
    other.end()
    model = run.log_model(
        name="churn-model",
        model_file_or_folder=BlobStorageDirectory(uri="s3://external-bucket/churn/1"),
        framework=SklearnFramework(),
        step=1,
    )
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "notes.txt").write_text("trained with depth 6")
        artifact = run.log_artifact(name="notes", artifact_paths=[(str(Path(folder) / "notes.txt"),)], step=2)
    run_models = [version.fqn for version in run.list_model_versions()]
    run_artifacts = [version.fqn for version in run.list_artifact_versions()]
    # The library does not expose a version's metrics; the SDK client it wraps reads them.
    read = sdk.model_versions.get(id=model._model_version.id).data
    model_metrics = {metric.key: metric.value for metric in read.metrics or []}
    tags = run.get_tags()
    metrics = run.get_metrics()
    params = run.get_params()
    run.end()
    by_id = client.get_run_by_id(run.run_id)
    by_fqn = client.get_run_by_fqn(run.fqn)
    by_name = client.get_run_by_name(ml_repo=repo, run_name="xgb-1")
    searched = list(
        client.search_runs(
            ml_repo=repo, filter_string="metrics.auc > 0.5 and params.max_depth = '6'", order_by=["metrics.auc DESC"]
        )
    )
    ordered = list(client.search_runs(ml_repo=repo, order_by=["metrics.auc DESC"]))
    other.delete()
    remaining = list(client.search_runs(ml_repo=repo))
    print(
        json.dumps(
            {
                "fqn": run.fqn,
                "model": model.fqn,
                "artifact": artifact.fqn,
                "run_models": run_models,
                "run_artifacts": run_artifacts,
                "model_metrics": model_metrics,
                "tags": {key: value for key, value in tags.items() if not key.startswith("mlf")},
                "metrics": {key: [(m.step, m.value) for m in points] for key, points in metrics.items()},
                "params": params,
                "status": by_id.status,
                "by_fqn": by_fqn.run_id == run.run_id,
                "by_name": by_name.run_id == run.run_id,
                "searched": [found.run_name for found in searched],
                "ordered": [found.run_name for found in ordered],
                "remaining": [found.run_name for found in remaining],
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1])
