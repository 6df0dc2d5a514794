"""FastAPI's own OpenTelemetry instrumentation runs only with MLREGISTRY_OPENTELEMETRY=true."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from fastapi import FastAPI

# In a process of its own: OpenTelemetry's global tracer provider can be set once per process.
SCRIPT = textwrap.dedent(
    """
    import json, sys, tempfile
    from pathlib import Path
    from fastapi.testclient import TestClient
    from opentelemetry import trace
    from mlregistry.app import create_app
    from mlregistry.settings import Settings

    asked = []

    class RecordingProvider(trace.TracerProvider):
        def get_tracer(self, name, *args, **kwargs):
            asked.append(name)
            return trace.NoOpTracer()

    trace.set_tracer_provider(RecordingProvider())
    settings = Settings(
        data_dir=Path(tempfile.mkdtemp()),
        secret_key="opentelemetry-option-0123456789abcdef",
        opentelemetry=sys.argv[1] == "on",
    )
    with TestClient(create_app(settings)) as client:
        assert client.get("/healthz").status_code == 200
    print(json.dumps(asked))
    """
)


@pytest.mark.parametrize("option", ["off", "on"])
def test_instrumentation_follows_the_setting(option: str, tmp_path: Path) -> None:
    if "telemetry" not in inspect.signature(FastAPI).parameters:
        pytest.skip("this FastAPI has no instrumentation of its own")
    pytest.importorskip("opentelemetry.trace")
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, option], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    asked = json.loads(done.stdout.strip().splitlines()[-1])
    if option == "on":
        assert asked, "the instrumentation asked the configured provider for no tracer"
    else:
        assert asked == []
