"""JSON responses encoded with orjson: several times cheaper than the standard library on list pages."""

from __future__ import annotations

import json
from typing import Any

import orjson
from starlette.responses import JSONResponse as StarletteJSONResponse

# Same compact bytes as Starlette's encoder (insertion order, no spaces, UTF-8). Integers beyond 64 bits,
# which orjson cannot encode, fall back to the standard library.
_ORJSON_OPTIONS = orjson.OPT_NON_STR_KEYS


class JSONResponse(StarletteJSONResponse):
    def render(self, content: Any) -> bytes:
        try:
            return orjson.dumps(content, option=_ORJSON_OPTIONS)
        except (orjson.JSONEncodeError, TypeError):
            return json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
