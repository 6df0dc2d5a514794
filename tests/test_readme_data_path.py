"""The README's data-path curl examples (stage, upload, finalize, list, download) run as written
against a `mlregistry serve` process with the local store."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from pathlib import Path

from tests.processes import cli_env, serving

README = Path(__file__).resolve().parents[1] / "README.md"
TOKEN = "tfy_readme_data_path_token_0123456789"


def data_path_examples() -> str:
    text = README.read_text()
    block = text.split("<!-- tested-data-path-examples:start -->", 1)[1].split(
        "<!-- tested-data-path-examples:end -->", 1
    )[0]
    match = re.search(r"```bash\n(.*?)```", block, re.S)
    assert match, "the README lost its tested data-path examples"
    return match.group(1)


def test_readme_data_path_curl_examples(tmp_path: Path) -> None:
    env = cli_env(tmp_path, MLREGISTRY_BOOTSTRAP_TOKEN=TOKEN)
    with serving(env) as url:
        script = "set -euo pipefail\n" + data_path_examples().replace("\ncurl", "\necho\ncurl")
        result = subprocess.run(
            ["bash", "-c", script],
            env={**os.environ, "MLREGISTRY_URL": url, "TOKEN": TOKEN},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.split("\n") if line.strip()]
    repo, version, files = (json.loads(line) for line in lines[:3])
    assert repo["data"]["manifest"]["name"] == "files-demo"
    assert version["data"]["fqn"] == "artifact:acme/files-demo/docs:1"
    content = b"hello registry\n"
    assert files["data"] == [
        {
            "path": "notes/readme.txt",
            "is_dir": False,
            "file_size": len(content),
            "sha256": hashlib.sha256(content).hexdigest(),
        }
    ]
    assert lines[3:] == ["hello registry"]
