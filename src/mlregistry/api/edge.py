"""Input no database can store, refused for every route in one place (an app-wide dependency).

Postgres text cannot hold U+0000, so a NUL character in a path parameter, a query parameter (name or
value) or any string of a JSON body (key or value) is a 422 naming where it is, on both databases
alike. A JSON body with `NaN` or `Infinity` (which Python's parser accepts and no JSON standard
does) is a 422 as well, instead of a number silently stored as null. Integer bounds are in the wire
types (`schemas.limits`), so that the OpenAPI document states them.
"""

from __future__ import annotations

import math
from typing import Any

from fastapi import Request
from fastapi.routing import APIRoute

from mlregistry.services.errors import Invalid

NUL = "\x00"


def _unstorable(value: Any) -> tuple[list[str | int], str] | None:
    """The location of the first NUL string or non-finite number in a parsed JSON value, and why."""
    stack: list[tuple[Any, list[str | int]]] = [(value, [])]
    while stack:
        item, loc = stack.pop()
        if isinstance(item, dict):
            for key, child in item.items():
                if isinstance(key, str) and NUL in key:
                    return [*loc, key], "keys must not contain NUL characters"
                stack.append((child, [*loc, key]))
        elif isinstance(item, list):
            stack.extend((child, [*loc, index]) for index, child in enumerate(item))
        elif isinstance(item, str):
            if NUL in item:
                return loc, "must not contain NUL characters"
        elif isinstance(item, float) and not math.isfinite(item):
            return loc, "must be a finite number (NaN and Infinity are not JSON)"
    return None


async def refuse_unstorable_input(request: Request) -> None:
    for name, value in request.path_params.items():
        if isinstance(value, str) and NUL in value:
            raise Invalid.field(["path", name], "must not contain NUL characters")
    for name, value in request.query_params.multi_items():
        if NUL in name or NUL in value:
            raise Invalid.field(["query", name], "must not contain NUL characters")
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or route.body_field is None:
        return
    try:
        body = await request.json()  # parsed by FastAPI already: this reads its cached value
    except ValueError:
        return  # not JSON: the body's own validation answers
    found = _unstorable(body)
    if found is not None:
        loc, message = found
        raise Invalid.field(["body", *loc], message)
