"""Health, readiness and the OpenAPI document."""

from __future__ import annotations

from tests.live import LiveServer


def test_health_and_readiness_need_no_token(server: LiveServer) -> None:
    with server.client() as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get("/readyz").json() == {"status": "ok"}


def test_openapi_describes_the_registry_routes(server: LiveServer) -> None:
    with server.client() as client:
        document = client.get("/openapi.json").json()
        assert client.get("/docs").status_code == 200
    paths = document["paths"]
    for path in (
        "/api/ml/v1/ml-repos",
        "/api/ml/v1/models",
        "/api/ml/v1/model-versions",
        "/api/ml/v1/model-versions/tags",
    ):
        assert path in paths
    apply = paths["/api/ml/v1/model-versions"]["put"]
    assert "422" in apply["responses"] and "401" in apply["responses"]
    assert "HttpError" in document["components"]["schemas"]
