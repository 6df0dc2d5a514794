"""OpenAPI helpers: the error bodies every route documents."""

from __future__ import annotations

from typing import Any

from mlregistry.schemas.common import HttpError
from mlregistry.schemas.workspace_models import DetailError

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": HttpError, "description": "Missing, invalid, expired or revoked token"},
    403: {"model": HttpError, "description": "The caller's role does not allow this"},
    404: {"model": HttpError, "description": "Not found (or not visible to the caller)"},
    409: {"model": HttpError, "description": "Conflicts with the current state"},
    422: {"model": HttpError, "description": "Invalid request; `details` name the fields"},
}

ENTITY_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": DetailError, "description": "Missing, invalid, expired or revoked token"},
    403: {"model": DetailError, "description": "The caller's role (or the trust_remote_code rule) does not allow this"},
    404: {"model": DetailError, "description": "Not found (or not visible to the caller)"},
    409: {"model": DetailError, "description": "Conflicts with the current state"},
    422: {"model": DetailError, "description": "Invalid request; `detail` lists `{loc, msg, type}` per field"},
}
