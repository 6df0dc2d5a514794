"""OpenAPI helpers: the error bodies every route documents."""

from __future__ import annotations

from typing import Any

from mlregistry.schemas.common import HttpError

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": HttpError, "description": "Missing, invalid, expired or revoked token"},
    403: {"model": HttpError, "description": "The caller's role does not allow this"},
    404: {"model": HttpError, "description": "Not found (or not visible to the caller)"},
    409: {"model": HttpError, "description": "Conflicts with the current state"},
    422: {"model": HttpError, "description": "Invalid request; `details` name the fields"},
}
