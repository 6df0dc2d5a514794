"""Small builders for requests the tests send over and over."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

API = "/api/ml/v1"
SVC = "/api/svc/v1"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def create_repo(client: httpx.Client, name: str | None = None, **manifest: Any) -> dict[str, Any]:
    body = {
        "manifest": {
            "type": "ml-repo",
            "name": name or unique("repo"),
            "storage_integration_fqn": "default",
            **manifest,
        },
        "dryRun": False,
    }
    response = client.put(f"{API}/ml-repos", json=body)
    assert response.status_code == 200, response.text
    return response.json()["data"]


def model_manifest(repo: str, name: str, **fields: Any) -> dict[str, Any]:
    manifest: dict[str, Any] = {
        "name": name,
        "metadata": {"accuracy": 0.9},
        "ml_repo": repo,
        "type": "model-version",
        "source": {"type": "external", "uri": f"s3://bucket/{name}/{uuid.uuid4().hex[:6]}"},
        "framework": {"type": "sklearn"},
        "step": 0,
    }
    manifest.update(fields)
    return manifest


def apply_model_version(client: httpx.Client, repo: str, name: str, **fields: Any) -> dict[str, Any]:
    response = client.put(f"{API}/model-versions", json={"manifest": model_manifest(repo, name, **fields)})
    assert response.status_code == 200, response.text
    return response.json()["data"]


WORKSPACES = "/apis/entities/v2/workspaces"


def models_path(workspace: str) -> str:
    return f"/apis/models/v2/workspaces/{workspace}/models"


def unique_workspace(prefix: str = "ws") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def create_workspace(client: httpx.Client, name: str | None = None, **fields: Any) -> dict[str, Any]:
    response = client.post(WORKSPACES, json={"name": name or unique_workspace(), **fields})
    assert response.status_code == 201, response.text
    return response.json()


def create_model_entity(client: httpx.Client, workspace: str, name: str | None = None, **fields: Any) -> dict[str, Any]:
    response = client.post(models_path(workspace), json={"name": name or unique("model"), **fields})
    assert response.status_code == 201, response.text
    return response.json()
