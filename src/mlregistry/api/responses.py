"""JSON responses encoded with orjson: several times cheaper than the standard library on list pages."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse as StarletteJSONResponse

from mlregistry.encoded import encode_item


class JSONResponse(StarletteJSONResponse):
    """Same compact bytes as Starlette's encoder (insertion order, no spaces, UTF-8). Integers beyond 64 bits,
    which orjson cannot encode, fall back to the standard library. List items may come encoded already
    (`orjson.Fragment`, encoded.py), each by the same rules."""

    def render(self, content: Any) -> bytes:
        return encode_item(content)
