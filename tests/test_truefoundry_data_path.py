"""The official `truefoundry==0.17.5` library, unmodified, against the live server: log_model (with a
file above its multipart threshold), log_artifact, read back, download byte-identical, delete."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from tests.data_path import version_objects
from tests.factories import API, unique
from tests.live import LiveServer, LiveUser

MULTIPART_THRESHOLD = 100 * 1024 * 1024  # the library uploads files of this size or more in parts


def _write(path: Path, content: bytes) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return hashlib.sha256(content).hexdigest()


def test_log_model_and_artifact_then_download_byte_identical(
    server: LiveServer, user: LiveUser, tmp_path: Path
) -> None:
    model_files = {
        "config.json": _write(tmp_path / "model" / "config.json", b'{"n": 1}'),
        "empty.txt": _write(tmp_path / "model" / "empty.txt", b""),
        "sub/weights.txt": _write(tmp_path / "model" / "sub" / "weights.txt", os.urandom(4096)),
        "sub/deeper/x.bin": _write(tmp_path / "model" / "sub" / "deeper" / "x.bin", os.urandom(100_000)),
        "big.bin": _write(tmp_path / "model" / "big.bin", os.urandom(MULTIPART_THRESHOLD + 5 * 1024 * 1024)),
    }
    artifact_files = {
        "docs/readme.md": _write(tmp_path / "docs" / "readme.md", b"# read me\n"),
        "notes.txt": _write(tmp_path / "docs" / "notes.txt", b"notes"),
    }
    repo = unique("lib-repo")
    environment = {
        **os.environ,
        "TFY_HOST": server.url,
        "TFY_API_KEY": user.token,
        "TFY_ARTIFACTS_UPLOAD_MAX_WORKERS": "8",
    }
    completed = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("truefoundry_flow.py")), str(tmp_path), repo],
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    report = json.loads(completed.stdout.strip().splitlines()[-1])

    assert report["model_fqn"] == f"model:acme/{repo}/my-model:1"
    assert report["listed"] == [report["model_fqn"]]
    assert report["model_metadata"]["accuracy"] == 0.91
    assert report["model_files"] == model_files
    assert report["artifact_fqn"] == f"artifact:acme/{repo}/my-docs:1"
    assert report["artifact_files"] == artifact_files

    with server.client(user) as client:
        repos = client.get(f"{API}/ml-repos", params={"name": repo}).json()["data"]
        repo_id = repos[0]["id"]
        # The library deleted both versions: they, and their objects, are gone.
        assert client.get(f"{API}/model-versions/{report['model_version_id']}").status_code == 404
        assert client.get(f"{API}/artifact-versions/{report['artifact_version_id']}").status_code == 404
    assert version_objects(server, repo_id, report["model_version_id"]) == []
    assert version_objects(server, repo_id, report["artifact_version_id"]) == []
