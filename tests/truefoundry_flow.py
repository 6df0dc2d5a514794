"""Runs the official `truefoundry` library's ML flow against a live server (TFY_HOST / TFY_API_KEY come from
the environment). Executed in a subprocess by tests/test_truefoundry_library.py; prints one JSON report."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path


def digest_tree(root: Path) -> dict[str, str]:
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def main(work: Path, repo: str) -> None:
    from truefoundry.ml import get_client

    client = get_client()
    client.create_ml_repo(name=repo, storage_integration_fqn="default")
    client.create_ml_repo(name=repo, storage_integration_fqn="default")  # exists: nothing more is sent

    model_dir = work / "model"
    model_version = client.log_model(
        ml_repo=repo,
        name="my-model",
        model_file_or_folder=str(model_dir),
        framework="sklearn",
        description="first",
        metadata={"accuracy": 0.91},
    )
    fetched = client.get_model_version_by_fqn(model_version.fqn)
    listed = [version.fqn for version in client.list_model_versions(ml_repo=repo, name="my-model")]
    model_download = work / "model-download"
    model_download.mkdir()
    fetched.download(path=str(model_download))

    artifact_version = client.log_artifact(
        ml_repo=repo,
        name="my-docs",
        artifact_paths=[(str(work / "docs" / "readme.md"), "docs/"), (str(work / "docs" / "notes.txt"), None)],
        description="docs",
    )
    assert artifact_version is not None
    fetched_artifact = client.get_artifact_version_by_fqn(artifact_version.fqn)
    artifact_download = work / "artifact-download"
    artifact_download.mkdir()
    fetched_artifact.download(path=str(artifact_download))

    report = {
        "model_fqn": model_version.fqn,
        "model_version_id": fetched._model_version.id,
        "model_metadata": fetched.metadata,
        "listed": listed,
        "model_files": digest_tree(model_download),
        "artifact_fqn": artifact_version.fqn,
        "artifact_version_id": fetched_artifact._artifact_version.id,
        "artifact_files": digest_tree(artifact_download),
    }
    fetched_artifact.delete()
    fetched.delete()
    print(json.dumps(report))


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])
