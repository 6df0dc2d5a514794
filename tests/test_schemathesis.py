"""Schemathesis over every operation of the OpenAPI document, on each database, with a fixed budget.

Deterministic (`tests/schemathesis.toml`), so each run sends the same requests. Checks: no 5xx,
every status, header and body as documented, and no request the schema calls valid refused.
Operations that revoke the caller's own tokens are left out: they would end the run's credentials
(they have their own tests). NUL characters are not generated: the API refuses them in every string
(documented once, tested in `test_edge_validation_http.py`).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from mlregistry import metrics
from tests.live import LiveServer

CASES_PER_OPERATION = 10
CONFIG = Path(__file__).with_name("schemathesis.toml")  # deterministic, no NUL, per-operation budgets
# Not checked: `negative_data_rejection` (the server is deliberately lenient where the official clients
# need it: `0`/`1` for booleans, `3.0` for integers, repeated or comma-separated list parameters) and
# `allow_header_conformance` (a 405 lists every method served at the path, including those of a
# parametrized route that also matches it, e.g. GET on `/artifact-versions/files` is `/artifact-versions/{id}`).
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "positive_data_acceptance",
)
# The caller's own credentials: revoking them would turn the rest of the run into 401s.
EXCLUDED_OPERATIONS = ("revoke_all", "revoke_token")


def requests_by_status() -> dict[str, float]:
    counts: dict[str, float] = {}
    for family in metrics.HTTP_REQUESTS.collect():
        for sample in family.samples:
            if sample.name.endswith("_total"):
                status = sample.labels["status"]
                counts[status] = counts.get(status, 0) + sample.value
    return counts


def test_schemathesis_finds_no_failure(server: LiveServer, tmp_path: Path) -> None:
    admin = server.create_user(admin=True, prefix="fuzz")
    report = tmp_path / "schemathesis.json"
    command = [
        str(Path(sys.executable).parent / "st"),
        "--config-file",
        str(CONFIG),
        "run",
        f"{server.url}/openapi.json",
        "--header",
        f"Authorization: Bearer {admin.token}",
        "--checks",
        ",".join(CHECKS),
        "--max-examples",
        str(CASES_PER_OPERATION),
        "--generation-database",
        "none",
        "--workers",
        "1",
        "--phases",
        "examples,coverage,fuzzing",
        "--suppress-health-check",
        "all",
        "--report",
        "json",
        "--report-json-path",
        str(report),
        "--no-color",
    ]
    for operation in EXCLUDED_OPERATIONS:
        command += ["--exclude-operation-id", operation]
    before = requests_by_status()
    # In the test's own folder: schemathesis keeps its replay data in the working directory.
    run = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    (tmp_path / "schemathesis.txt").write_text(run.stdout)
    after = requests_by_status()
    sent = {status: after.get(status, 0) - before.get(status, 0) for status in after}
    server_errors = sum(count for status, count in sent.items() if status.startswith("5"))
    result = json.loads(report.read_text())
    print(
        f"schemathesis on {server.backend}: {result['test_cases']['generated']} cases, "
        f"{sum(sent.values()):.0f} requests, {server_errors:.0f} answered 5xx; statuses {sorted(sent.items())}"
    )
    assert result["operations"]["tested"] >= 80, run.stdout[-5000:]
    assert server_errors == 0, run.stdout[-20000:]
    assert result["failures"] == [], run.stdout[-20000:]
    assert run.returncode == 0, run.stdout[-20000:]
