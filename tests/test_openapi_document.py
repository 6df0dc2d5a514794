"""The OpenAPI document names and describes every operation and states the limits the server enforces."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mlregistry.schemas.limits import INT32_MAX
from tests.conftest import make_settings
from tests.factories import API
from tests.live import LiveServer

OPERATION_ID = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, item in document["paths"].items() for method, op in item.items()]


def _parameter(operation: dict[str, Any], name: str) -> dict[str, Any]:
    [parameter] = [p for p in operation["parameters"] if p["name"] == name]
    schema: dict[str, Any] = parameter["schema"]
    return schema


def _integer_bounds(schema: dict[str, Any]) -> tuple[Any, Any]:
    branches = [b for b in schema.get("anyOf", [schema]) if b.get("type") == "integer"]
    minimum = branches[0].get("minimum", schema.get("minimum"))
    maximum = branches[0].get("maximum", schema.get("maximum"))
    return minimum, maximum


def test_every_operation_has_a_readable_unique_id_and_a_description(server: LiveServer) -> None:
    with server.client() as client:
        document = client.get("/openapi.json").json()
    operations = _operations(document)
    ids = [operation["operationId"] for _, _, operation in operations]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    for path, method, operation in operations:
        where = f"{method.upper()} {path}"
        assert OPERATION_ID.match(operation["operationId"]), where
        assert "_api_" not in operation["operationId"] and "apis_" not in operation["operationId"], where
        assert operation.get("description"), where
    by_id = {operation["operationId"]: path for path, _, operation in operations}
    assert by_id["list_model_versions"] == f"{API}/model-versions"
    assert by_id["list_model_entities"] == "/apis/models/v2/workspaces/{workspace}/models"
    described = {tag["name"]: tag.get("description") for tag in document["tags"]}
    used = {tag for _, _, operation in operations for tag in operation["tags"]}
    assert used <= set(described) and all(described[tag] for tag in used), used - set(described)


def test_the_schema_states_the_limits_the_server_enforces(tmp_path: Path) -> None:
    settings = make_settings("sqlite", tmp_path, None, max_page_size=250)
    server = LiveServer(settings, "sqlite").start()
    try:
        with server.client() as client:
            document = client.get("/openapi.json").json()
    finally:
        server.stop()
    paths = document["paths"]
    versions = paths[f"{API}/model-versions"]["get"]
    assert _integer_bounds(_parameter(versions, "limit")) == (1, 250)  # the running server's setting
    assert _integer_bounds(_parameter(versions, "offset")) == (0, INT32_MAX)
    assert _integer_bounds(_parameter(versions, "version")) == (1, INT32_MAX)
    workspaces = paths["/apis/entities/v2/workspaces"]["get"]
    assert _integer_bounds(_parameter(workspaces, "page_size")) == (1, 250)
    assert _integer_bounds(_parameter(workspaces, "page")) == (1, INT32_MAX // 250 + 1)
    schemas = document["components"]["schemas"]
    assert _integer_bounds(schemas["MultipartRequest"]["properties"]["num_parts"]) == (1, 10_000)
    manifest = schemas["ModelManifest"]["properties"]
    assert _integer_bounds(manifest["step"]) == (0, INT32_MAX)
    assert manifest["name"]["pattern"] and manifest["ml_repo"]["pattern"]
    path = schemas["SignedUrlsRequest"]["properties"]["paths"]
    assert path["minItems"] == 1 and path["items"]["maxLength"] == 1024 and path["items"]["pattern"]
    tag = schemas["ApplyModelVersionTagsRequest"]["properties"]["tags"]["items"]
    assert (tag["minLength"], tag["maxLength"]) == (1, 256)
    assert "503" in versions["responses"] and "400" in versions["responses"]


def test_a_method_not_allowed_lists_every_method_of_the_path(server: LiveServer) -> None:
    with server.client() as client:
        for method, path, allowed in (
            ("OPTIONS", f"{API}/ml-repos", "GET, PUT"),
            ("POST", f"{API}/models/some-id", "GET, DELETE"),
            ("PATCH", "/apis/entities/v2/workspaces", "GET, POST"),
        ):
            response = client.request(method, path)
            assert response.status_code == 405, (method, path)
            assert response.headers["Allow"] == allowed, (method, path)
