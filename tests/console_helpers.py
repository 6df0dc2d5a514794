"""A registry to browse in the console tests: one ML repo with an editor and a viewer, a model version with
files and a run, a second run to compare, and a prompt; plus signing in to the console over plain HTTP."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from tests.data_path import put_files, stage
from tests.factories import API, apply_prompt_version, create_repo, model_manifest, unique
from tests.live import LiveServer, LiveUser

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class ConsoleWorld:
    repo: dict[str, Any]
    owner: LiveUser
    editor: LiveUser
    viewer: LiveUser
    outsider: LiveUser
    model_version: dict[str, Any]
    files: dict[str, bytes]
    runs: list[dict[str, Any]]
    prompt_version: dict[str, Any]

    @property
    def repo_name(self) -> str:
        return str(self.repo["manifest"]["name"])


def _run(client: httpx.Client, repo_id: str, name: str, lr: str, losses: list[float]) -> dict[str, Any]:
    response = client.post(
        f"{API}/runs", json={"experiment_id": repo_id, "name": name, "start_time": 1_700_000_000_000}
    )
    assert response.status_code == 200, response.text
    run = response.json()["run"]
    body = {
        "params": [{"key": "lr", "value": lr}, {"key": "optimizer", "value": "adam"}],
        "metrics": [
            {"key": "loss", "value": value, "timestamp": 1_700_000_000_000 + step, "step": step}
            for step, value in enumerate(losses)
        ],
    }
    assert client.post(f"{API}/runs/{run['info']['run_id']}/batch", json=body).status_code == 200
    return run


def build_world(server: LiveServer) -> ConsoleWorld:
    owner, editor, viewer, outsider = (server.create_user(prefix=role) for role in ("owner", "editor", "viewer", "out"))
    files = {"config.json": b'{"layers": 3}', "weights/model.bin": os.urandom(4096)}
    with server.client(owner) as client:
        repo = create_repo(
            client,
            unique("console"),
            description="Fraud models",
            collaborators=[
                {"subject": f"user:{editor.email}", "role_id": "mlf-project-editor"},
                {"subject": f"user:{viewer.email}", "role_id": "mlf-project-viewer"},
            ],
        )
        name = repo["manifest"]["name"]
        runs = [
            _run(client, repo["id"], "baseline", "0.1", [0.9, 0.7, 0.6]),
            _run(client, repo["id"], "tuned", "0.01", [0.8, 0.5, 0.3, 0.2]),
        ]
        manifest = model_manifest(
            name, "fraud-clf", source={"type": "truefoundry"}, run_id=runs[1]["info"]["run_id"], step=2
        )
        staged = stage(client, manifest)
        put_files(client, staged["id"], files)
        response = client.put(
            f"{API}/model-versions",
            json={"manifest": {**manifest, "source": {"type": "truefoundry", "uri": staged["storage_root"]}}},
        )
        assert response.status_code == 200, response.text
        model_version = response.json()["data"]
        prompt_version = apply_prompt_version(client, name, "support-bot")
    return ConsoleWorld(
        repo=repo,
        owner=owner,
        editor=editor,
        viewer=viewer,
        outsider=outsider,
        model_version=model_version,
        files=files,
        runs=runs,
        prompt_version=prompt_version,
    )


def csrf_of(html: str) -> str:
    found = CSRF_FIELD.search(html)
    assert found, "the page has no CSRF field"
    return found.group(1)


@contextmanager
def signed_in(server: LiveServer, user: LiveUser) -> Iterator[httpx.Client]:
    """An HTTP client holding a console session of `user` (no bearer header)."""
    with httpx.Client(base_url=server.url, timeout=60) as client:
        form = client.get("/ui/login")
        response = client.post(
            "/ui/login", data={"csrf_token": csrf_of(form.text), "token": user.token, "next": "/ui/"}
        )
        assert response.status_code == 303, response.text
        yield client
