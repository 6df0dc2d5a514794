"""Operations over HTTP on SQLite and Postgres: request ids, /metrics, request limits, OpenAPI, docs pages."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import PostgresDatabases, make_settings
from tests.factories import API, SVC, create_repo, unique
from tests.live import LiveServer, LiveUser


def metric(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample of the Prometheus text `text`, or None when it is absent."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(key) == value for key, value in labels.items()):
                return float(sample.value)
    return None


def scrape(client: httpx.Client) -> str:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


def test_request_id_is_echoed_or_generated(server: LiveServer, user: LiveUser) -> None:
    with server.client(user) as client:
        given = client.get(f"{API}/models", headers={"X-Request-ID": "trace-42.a:b"})
        assert given.headers["x-request-id"] == "trace-42.a:b"
        generated = client.get(f"{API}/models")
        assert re.fullmatch(r"[0-9a-f]{32}", generated.headers["x-request-id"])
        assert client.get(f"{API}/models").headers["x-request-id"] != generated.headers["x-request-id"]
        # Not a sane token (spaces, too long): replaced rather than echoed into logs and responses.
        for bad in ("has spaces in it", "x" * 200):
            assert re.fullmatch(
                r"[0-9a-f]{32}", client.get("/healthz", headers={"X-Request-ID": bad}).headers["x-request-id"]
            )
        # Errors carry it too.
        missing = client.get(f"{API}/models/does-not-exist", headers={"X-Request-ID": "err-1"})
        assert missing.status_code == 404 and missing.headers["x-request-id"] == "err-1"
        assert client.get("/no/such/route", headers={"X-Request-ID": "err-2"}).headers["x-request-id"] == "err-2"


def test_metrics_count_requests_per_route_template_and_status(server: LiveServer, user: LiveUser) -> None:
    template = f"{API}/models/{{id}}"
    with server.client(user) as client:
        before = scrape(client)
        for _ in range(3):
            assert client.get(f"{API}/models/{unique('missing')}").status_code == 404
        assert client.get(f"{SVC}/models/{unique('missing')}").status_code == 404
        assert client.get(f"{API}/models").status_code == 200
        after = scrape(client)

    def delta(name: str, **labels: str) -> float:
        return (metric(after, name, **labels) or 0.0) - (metric(before, name, **labels) or 0.0)

    labels = {"method": "GET", "route": template, "status": "404"}
    assert delta("mlregistry_http_requests_total", **labels) == 3
    assert delta("mlregistry_http_request_duration_seconds_count", **labels) == 3
    assert delta("mlregistry_http_request_duration_seconds_bucket", le="+Inf", **labels) == 3
    assert delta("mlregistry_http_requests_total", method="GET", route=f"{SVC}/models/{{id}}", status="404") == 1
    assert delta("mlregistry_http_requests_total", method="GET", route=f"{API}/models", status="200") == 1
    # No label carries a raw id: one series per template, not per URL.
    assert "missing-" not in after


def test_metrics_expose_pool_and_storage_counters(server: LiveServer) -> None:
    with server.client() as client:
        text = scrape(client)
        unmatched_before = metric(text, "mlregistry_http_requests_total", route="unmatched", status="404") or 0.0
        assert client.get(f"/nothing-here/{unique('x')}").status_code == 404
        text = scrape(client)
    assert metric(text, "mlregistry_http_requests_total", route="unmatched", status="404") == unmatched_before + 1
    size = metric(text, "mlregistry_db_pool_connections", state="size")
    assert size is not None and size >= 1
    if server.backend == "postgres":
        assert size == server.settings.db_pool_size
    in_use = metric(text, "mlregistry_db_pool_connections", state="in_use")
    assert in_use is not None and in_use >= 0
    for store in ("local", "s3"):
        for operation in ("read", "write"):
            issued = metric(text, "mlregistry_signed_urls_issued_total", store=store, operation=operation)
            assert issued is not None
    for direction in ("upload", "download"):
        assert metric(text, "mlregistry_local_store_bytes_total", direction=direction) is not None
    assert metric(text, "process_resident_memory_bytes") is not None


def test_json_body_above_the_limit_is_413(server: LiveServer, user: LiveUser) -> None:
    limit = server.settings.max_json_body_bytes
    name = unique("big")
    oversized = b'{"manifest": {"type": "ml-repo", "name": "' + name.encode() + b'", "description": "'
    oversized += b"x" * limit + b'"}}'
    with server.client(user) as client:
        declared = client.put(f"{API}/ml-repos", content=oversized, headers={"Content-Type": "application/json"})
        assert declared.status_code == 413
        assert declared.json() == {"statusCode": 413, "message": f"Request body is larger than {limit} bytes"}

        def chunks() -> Iterator[bytes]:  # no Content-Length: the limit is enforced while reading
            for start in range(0, len(oversized), 65536):
                yield oversized[start : start + 65536]

        streamed = client.put(f"{API}/ml-repos", content=chunks(), headers={"Content-Type": "application/json"})
        assert streamed.status_code == 413
        assert streamed.json()["statusCode"] == 413
        assert client.get(f"{API}/ml-repos", params={"name": name}).json()["pagination"]["total"] == 0
        # A body of exactly the limit is accepted.
        manifest = {"type": "ml-repo", "name": name, "storage_integration_fqn": "default"}
        document = json.dumps({"manifest": manifest}).encode()
        padded = document + b" " * (limit - len(document))
        assert len(padded) == limit
        accepted = client.put(f"{API}/ml-repos", content=padded, headers={"Content-Type": "application/json"})
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["data"]["manifest"]["name"] == name
        # The workspace entity API answers in its own (FastAPI-native) error shape.
        entity = client.post(
            "/apis/entities/v2/workspaces",
            content=b'{"name": "' + b"x" * limit + b'"}',
            headers={"Content-Type": "application/json"},
        )
        assert entity.status_code == 413
        assert entity.json() == {"detail": f"Request body is larger than {limit} bytes"}


def test_non_json_bodies_are_not_held_to_the_json_limit(server: LiveServer, user: LiveUser) -> None:
    body = b"\0" * (server.settings.max_json_body_bytes + 10)
    with server.client(user) as client:
        response = client.put(f"{API}/ml-repos", content=body, headers={"Content-Type": "application/octet-stream"})
    # Refused for what it is (not JSON), not for its size.
    assert response.status_code == 422


@pytest.fixture
def impatient_server(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_databases: PostgresDatabases | None
) -> Iterator[LiveServer]:
    settings = make_settings(request.param, tmp_path, postgres_databases, request_timeout=1.0)
    live = LiveServer(settings, request.param).start()
    try:
        yield live
    finally:
        live.stop()


def trickle(body: bytes, seconds: float, pieces: int = 10) -> Iterator[bytes]:
    step = max(1, len(body) // pieces)
    for start in range(0, len(body), step):
        time.sleep(seconds / pieces)
        yield body[start : start + step]


@pytest.mark.parametrize("impatient_server", ["sqlite", "postgres"], indirect=True)
def test_request_timeout_answers_504_but_spares_upload_bodies(impatient_server: LiveServer) -> None:
    live = impatient_server
    user = live.create_user()
    name = unique("slow")
    body = b'{"manifest": {"type": "ml-repo", "name": "%s", "storage_integration_fqn": "default"}}' % name.encode()
    with live.client(user) as client:
        timed_out = client.put(
            f"{API}/ml-repos", content=trickle(body, 2.5), headers={"Content-Type": "application/json"}
        )
        assert timed_out.status_code == 504
        assert timed_out.json() == {"statusCode": 504, "message": "Request timed out after 1 seconds"}
        assert client.get(f"{API}/ml-repos", params={"name": name}).json()["pagination"]["total"] == 0
        # An upload's clock starts once its body has arrived: a slow non-JSON body is answered for what it is.
        upload = client.put(
            f"{API}/ml-repos",
            content=trickle(b"\0" * 1000, 2.5),
            headers={"Content-Type": "application/octet-stream", "Content-Length": "1000"},
        )
        assert upload.status_code == 422
        # Fast requests are unaffected.
        assert create_repo(client, name)["manifest"]["name"] == name


def test_openapi_documents_security_errors_and_tags(server: LiveServer) -> None:
    with server.client() as client:
        document = client.get("/openapi.json").json()
    schemes = document["components"]["securitySchemes"]
    bearer = [name for name, scheme in schemes.items() if scheme == {**scheme, "type": "http", "scheme": "bearer"}]
    assert bearer, schemes
    assert "HttpError" in document["components"]["schemas"]
    operations = [
        (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if path.startswith(API)
    ]
    assert len(operations) >= 10
    assert not any(path.startswith(SVC) for path in document["paths"]), "the second prefix is served, not listed"
    for path, method, operation in operations:
        where = f"{method.upper()} {path}"
        assert operation.get("tags"), where
        assert operation.get("summary"), where
        if operation.get("security"):
            assert any(bearer[0] in requirement for requirement in operation["security"]), where
            errors = {code: body for code, body in operation["responses"].items() if code.startswith("4")}
            assert "401" in errors, where
            for body in errors.values():
                schema = body["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/HttpError"}, where
        if "requestBody" in operation:
            assert "422" in operation["responses"], where
    secured = [operation for _, _, operation in operations if operation.get("security")]
    assert len(secured) >= 8
    models = document["paths"][f"{API}/models"]["get"]
    assert models["tags"] == ["Models"] and models["security"]
    assert {"/healthz", "/readyz", "/metrics"} <= set(document["paths"])


def test_docs_pages_load_their_assets_from_the_server(server: LiveServer) -> None:
    with server.client() as client:
        for page, marker in (("/docs", "SwaggerUIBundle"), ("/redoc", "<redoc")):
            response = client.get(page)
            assert response.status_code == 200 and marker in response.text
            references = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", response.text)
            assert references, page
            for reference in references:
                assert reference.startswith("/static/"), f"{page} loads {reference} from elsewhere"
                asset = client.get(reference)
                assert asset.status_code == 200 and len(asset.content) > 0, reference
            assert "cdn.jsdelivr" not in response.text and "fonts.googleapis" not in response.text
        bundle = client.get("/static/swagger-ui/swagger-ui-bundle.js")
        assert bundle.headers["content-type"].startswith(("application/javascript", "text/javascript"))
        assert len(bundle.content) > 500_000
        assert len(client.get("/static/redoc/redoc.standalone.js").content) > 500_000
