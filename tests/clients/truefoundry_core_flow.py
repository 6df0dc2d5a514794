"""Runs in a subprocess with only TFY_HOST and TFY_API_KEY set: the truefoundry library's core calls.

Prints one JSON object with what the library read back, for the test to check.
"""

from __future__ import annotations

import json
import sys

from truefoundry.ml import BlobStorageDirectory, SklearnFramework, get_client


def main(repo: str) -> None:
    client = get_client()
    client.create_ml_repo(name=repo, storage_integration_fqn="default")
    client.create_ml_repo(name=repo, storage_integration_fqn="default")  # existing: nothing more is sent
    logged = [
        client.log_model(
            ml_repo=repo,
            name="churn-model",
            model_file_or_folder=BlobStorageDirectory(uri=f"s3://external-bucket/churn/{index}"),
            description=f"version {index}",
            metadata={"auc": 0.8 + index / 100},
            framework=SklearnFramework(),
        )
        for index in range(3)
    ]
    fetched = client.get_model_version_by_fqn(logged[1].fqn)
    latest = client.get_model_version(ml_repo=repo, name="churn-model")
    listed = list(client.list_model_versions(ml_repo=repo, name="churn-model"))
    fetched.description = "updated through the library"
    fetched.version_alias = "v2-prod"
    fetched.update()
    again = client.get_model_version_by_fqn(logged[1].fqn)
    print(
        json.dumps(
            {
                "logged": [version.fqn for version in logged],
                "fetched_fqn": fetched.fqn,
                "fetched_version": fetched.version,
                "fetched_metadata": fetched.metadata,
                "latest_version": latest.version,
                "listed": [version.version for version in listed],
                "updated_description": again.description,
                "updated_alias": again.version_alias,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1])
