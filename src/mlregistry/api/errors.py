"""Errors mapped to HTTP in one place, in the body shape of the API the request was sent to.

The ML API answers an HttpError body: `{"statusCode", "message", "details"?}`. The NeMo-style entity
API under `/apis/` is FastAPI-native: `{"detail": "<message>"}`, and for invalid input (422)
`{"detail": [{"loc", "msg", "type"}]}`.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from mlregistry.services.errors import ServiceError, Unauthenticated

logger = logging.getLogger("mlregistry.errors")

ENTITY_API_PREFIX = "/apis/"


def error_response(
    status_code: int, message: str, details: list[dict[str, Any]] | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    body: dict[str, Any] = {"statusCode": status_code, "message": message}
    if details is not None:
        body["details"] = details
    return JSONResponse(body, status_code=status_code, headers=headers)


def detail_response(
    status_code: int, detail: str | list[dict[str, Any]], headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status_code, headers=headers)


def _is_entity_api(request: Request) -> bool:
    return request.url.path.startswith(ENTITY_API_PREFIX)


def respond_error(
    request: Request,
    status_code: int,
    message: str,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    if _is_entity_api(request):
        return detail_response(status_code, details if details else message, headers)
    return error_response(status_code, message, details, headers)


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    details = []
    for error in exc.errors():
        details.append({"loc": list(error.get("loc", ())), "msg": error.get("msg", ""), "type": error.get("type", "")})
    return details


def _describe(detail: dict[str, Any]) -> str:
    loc = [str(part) for part in detail["loc"] if part not in ("body",)]
    return f"{'.'.join(loc) or 'request'}: {detail['msg']}"


async def handle_service_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthenticated) else None
    return respond_error(request, exc.status_code, exc.message, exc.details, headers)


async def handle_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = _validation_details(exc)
    message = "; ".join(_describe(detail) for detail in details[:5]) or "Invalid request"
    return respond_error(request, 422, message, details)


async def handle_http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    message = exc.detail if isinstance(exc.detail, str) else "Request failed"
    return respond_error(request, exc.status_code, message, headers=getattr(exc, "headers", None))


async def handle_unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return respond_error(request, 500, "Internal server error")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ServiceError, handle_service_error)
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    app.add_exception_handler(StarletteHTTPException, handle_http_exception)
    app.add_exception_handler(Exception, handle_unexpected)
