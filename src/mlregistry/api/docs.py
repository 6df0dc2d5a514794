"""OpenAPI helpers and the docs pages.

`/docs` (Swagger UI) and `/redoc` load their scripts from `mlregistry/static/`, shipped inside the
package (`scripts/vendor-docs-assets.sh` refreshes them), so they work without internet access.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from mlregistry.schemas.common import HttpError
from mlregistry.schemas.workspace_models import DetailError

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": HttpError, "description": "The body could not be read (not UTF-8 or not JSON)"},
    401: {"model": HttpError, "description": "Missing, invalid, expired or revoked token"},
    403: {"model": HttpError, "description": "The caller's role does not allow this"},
    404: {"model": HttpError, "description": "Not found (or not visible to the caller)"},
    409: {"model": HttpError, "description": "Conflicts with the current state"},
    422: {"model": HttpError, "description": "Invalid request; `details` name the fields"},
    413: {"model": HttpError, "description": "JSON body larger than MLREGISTRY_MAX_JSON_BODY_BYTES"},
    503: {
        "model": HttpError,
        "description": "The database is unavailable (connection lost, pool exhausted); "
        "retry after `Retry-After` seconds",
    },
    504: {"model": HttpError, "description": "No response within MLREGISTRY_REQUEST_TIMEOUT"},
}

# The answer of an operation this server has no such thing for (services.errors.Unsupported).
UNSUPPORTED_RESPONSE: dict[int | str, dict[str, Any]] = {
    400: {
        "model": HttpError,
        "description": "Always, for a valid request: this server does not offer this; the message says what to "
        "do instead (also when the body could not be read)",
    }
}

ENTITY_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": DetailError, "description": "The body could not be read (not UTF-8 or not JSON)"},
    401: {"model": DetailError, "description": "Missing, invalid, expired or revoked token"},
    403: {"model": DetailError, "description": "The caller's role (or the trust_remote_code rule) does not allow this"},
    404: {"model": DetailError, "description": "Not found (or not visible to the caller)"},
    409: {"model": DetailError, "description": "Conflicts with the current state"},
    422: {"model": DetailError, "description": "Invalid request; `detail` lists `{loc, msg, type}` per field"},
    413: {"model": DetailError, "description": "JSON body larger than MLREGISTRY_MAX_JSON_BODY_BYTES"},
    503: {
        "model": DetailError,
        "description": "The database is unavailable (connection lost, pool exhausted); "
        "retry after `Retry-After` seconds",
    },
    504: {"model": DetailError, "description": "No response within MLREGISTRY_REQUEST_TIMEOUT"},
}

STATIC_PATH = "/static"
router = APIRouter(include_in_schema=False)


def static_files() -> StaticFiles:
    return StaticFiles(packages=[("mlregistry", "static")])


def _urls(request: Request) -> tuple[str, str]:
    root = request.scope.get("root_path", "").rstrip("/")
    return f"{root}{request.app.openapi_url}", f"{root}{STATIC_PATH}"


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    openapi_url, static = _urls(request)
    return get_swagger_ui_html(
        openapi_url=openapi_url,
        title=f"{request.app.title} - API docs",
        swagger_js_url=f"{static}/swagger-ui/swagger-ui-bundle.js",
        swagger_css_url=f"{static}/swagger-ui/swagger-ui.css",
        swagger_favicon_url=f"{static}/swagger-ui/favicon-32x32.png",
        oauth2_redirect_url=None,
        # No call to the public validator: the page must work offline.
        swagger_ui_parameters={"persistAuthorization": True, "validatorUrl": None, "displayRequestDuration": True},
    )


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    openapi_url, static = _urls(request)
    return get_redoc_html(
        openapi_url=openapi_url,
        title=f"{request.app.title} - API reference",
        redoc_js_url=f"{static}/redoc/redoc.standalone.js",
        redoc_favicon_url=f"{static}/swagger-ui/favicon-32x32.png",
        with_google_fonts=False,
    )
