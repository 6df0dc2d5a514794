"""The prefix gates on included routers change which router is asked, never what a path matches."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mlregistry.api.route_gates import PrefixGate, _route_paths, required_prefix
from mlregistry.app import create_app
from mlregistry.settings import Settings
from tests.factories import API
from tests.live import LiveServer, LiveUser


def test_the_required_prefix_is_the_fixed_part_every_path_shares_up_to_a_slash() -> None:
    assert required_prefix(["/api/ml/v1/models", "/api/ml/v1/model-versions/{id}"]) == "/api/ml/v1/"
    assert required_prefix(["/apis/models/v2/workspaces/{workspace}/models"]) == "/apis/models/v2/workspaces/"
    assert required_prefix(["/api/ml/v1", "/api/ml/v1/models"]) == "/api/ml/"
    assert required_prefix(["/{path:path}", "/api/ml/v1/models"]) == "/"
    assert required_prefix(["/ui", "/ui/models"]) == "/"
    assert required_prefix([]) == ""


def _concrete(template: str) -> list[str]:
    """Paths a template matches: each parameter filled in (a `:path` one with several segments)."""
    one = re.sub(r"\{[^}:]+:path\}", "a/b/c.txt", template)
    one = re.sub(r"\{[^}]+\}", "x-1", one)
    return [one, one.rstrip("/") + "/", one + "/extra"]


def test_every_path_matches_the_same_routes_with_and_without_the_gates(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path, secret_key="route-gates-secret-0123456789abcdef"))
    gates = [route.matches for route in app.router.routes if isinstance(route.matches, PrefixGate)]
    if not gates:
        pytest.skip("this FastAPI's included routers expose no route contexts: nothing is gated")
    assert {gate.prefix for gate in gates} >= {"/api/ml/v1/", "/api/svc/v1/", "/apis/models/v2/workspaces/", "/ui/"}
    templates: set[str] = set()
    for route in app.router.routes:
        paths = _route_paths(route)
        templates.update(paths if paths is not None else [getattr(route, "path", "/")])
    paths = {path for template in templates for path in _concrete(template)}
    paths |= {"/", "/api", "/api/ml", "/api/ml/v1", "/apis/models/v2", "/no/such/path", "/ui", "/storage"}
    assert len(paths) > 300
    compared = 0
    for path in sorted(paths):
        for method in ("GET", "PUT", "DELETE"):
            for root_path in ("", "/behind-a-proxy"):
                scope = {"type": "http", "method": method, "path": root_path + path, "root_path": root_path, "app": app}
                for route in app.router.routes:
                    gate = route.matches
                    if isinstance(gate, PrefixGate):
                        assert gate(dict(scope))[0] == gate.ungated(dict(scope))[0], (path, method, gate.prefix)
                        compared += 1
    assert compared > 10_000


def test_requests_reach_the_routes_behind_the_gates(server: LiveServer, user: LiveUser) -> None:
    with server.client(user) as client:
        for path in (f"{API}/ml-repos", "/api/svc/v1/ml-repos", "/apis/models/v2/workspaces/-/models", "/healthz"):
            assert client.get(path).status_code == 200, path
        assert client.get(f"{API}/no-such-route").status_code == 404
        assert client.get("/apis/models/v2/no-such-route").status_code == 404
