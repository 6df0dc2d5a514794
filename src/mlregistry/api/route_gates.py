"""Skip whole included routers whose routes cannot match a request's path.

FastAPI resolves a request by asking each router included in the app, in order, to match it, and an
included router tries every one of its routes' patterns, whatever its prefix. The ML API is included
under two prefixes (`/api/ml/v1`, `/api/svc/v1`) in a dozen routers, so a request under the second
prefix, or for the workspace API or the console included after them, first failed several hundred
patterns: about 0.1 ms per ML API request and 1 ms per workspace API request on the development VM.

Each included router here gets a gate: the longest path prefix that all of its routes' paths share up
to a `/` (their fixed part, before any `{parameter}`). A path without it cannot match any of them, so
the router answers "no match" at once; a path with it is matched exactly as before. FastAPI versions
whose included routers expose no route contexts (older ones keep flat routes) are left as they are.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from fastapi import FastAPI
from starlette.routing import BaseRoute, Match, get_route_path
from starlette.types import Scope

Matches = Callable[[Scope], tuple[Match, Scope]]


class PrefixGate:
    """A router's `matches` that first checks the path starts with what every one of its routes needs."""

    def __init__(self, ungated: Matches, prefix: str) -> None:
        self.ungated = ungated
        self.prefix = prefix

    def __call__(self, scope: Scope) -> tuple[Match, Scope]:
        if scope.get("type") in ("http", "websocket") and not get_route_path(scope).startswith(self.prefix):
            return Match.NONE, {}
        return self.ungated(scope)


def _route_paths(route: BaseRoute) -> Iterable[str] | None:
    """The full path templates an included router's routes answer, or None when they cannot all be known."""
    contexts = getattr(route, "effective_route_contexts", None)
    if contexts is None:
        return None
    paths: list[str] = []
    for context in contexts():
        inner = getattr(context, "starlette_route", None) or context
        path = getattr(inner, "path_format", None) or getattr(inner, "path", None)
        if not isinstance(path, str) or getattr(inner, "host", None) is not None:
            return None  # a host route (or one without a path) matches on more than the path
        paths.append(path)
    return paths


def required_prefix(paths: Iterable[str]) -> str:
    """The longest prefix ending in `/` of every path's fixed part (the text before its first parameter)."""
    fixed = [path.split("{", 1)[0] for path in paths]
    if not fixed:
        return ""
    common = os.path.commonprefix(fixed)
    return common[: common.rfind("/") + 1]


def gate_included_routers(app: FastAPI) -> int:
    """Put a prefix gate on each of the app's included routers that has one longer than `/`; how many."""
    gated = 0
    for route in app.router.routes:
        paths = _route_paths(route)
        if paths is None or isinstance(getattr(route, "matches", None), PrefixGate):
            continue
        prefix = required_prefix(paths)
        if len(prefix) > 1:
            gate: Any = PrefixGate(route.matches, prefix)
            route.matches = gate  # type: ignore[method-assign]
            gated += 1
    return gated
