"""Errors mapped to HTTP in one place, in the body shape of the API the request was sent to.

The ML API answers an HttpError body: `{"statusCode", "message", "details"?}`. The NeMo-style entity
API under `/apis/` is FastAPI-native: `{"detail": "<message>"}`, and for invalid input (422)
`{"detail": [{"loc", "msg", "type"}]}`.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from mlregistry import metrics
from mlregistry.api.responses import JSONResponse
from mlregistry.services.errors import ServiceError, Unauthenticated

logger = logging.getLogger("mlregistry.errors")

ENTITY_API_PREFIX = "/apis/"
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
# Seconds a client should wait before retrying a 503: the pool replaces a lost connection at once.
DATABASE_RETRY_AFTER_SECONDS = 1
LOGGED_TEXT_LIMIT = 500  # characters of a failed statement (and of the driver's message) that are logged
# A database connection that is gone or cannot be had (the driver's errors as SQLAlchemy wraps them).
_CONNECTION_ERRORS = (
    ConnectionError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,  # pg_terminate_backend, admin or crash shutdown
    asyncpg.exceptions.TooManyConnectionsError,
)


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


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at the request's path (a path has one route per method)."""
    allowed = []
    for method in HTTP_METHODS:
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] == Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return allowed


async def handle_http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    message = exc.detail if isinstance(exc.detail, str) else "Request failed"
    headers = dict(getattr(exc, "headers", None) or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(allowed_methods(request))
    return respond_error(request, exc.status_code, message, headers=headers or None)


def database_unavailable_reason(exc: BaseException) -> str | None:
    """`connection` or `pool_timeout` when the database could not serve the request; None for anything else."""
    if isinstance(exc, PoolTimeoutError):
        return "pool_timeout"
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return "connection"
    if not isinstance(exc, DBAPIError | ConnectionError):
        return None
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, _CONNECTION_ERRORS):
            return "connection"
        cause = cause.__cause__ or cause.__context__
    return None


async def handle_unexpected(request: Request, exc: Exception) -> JSONResponse:
    reason = database_unavailable_reason(exc)
    if reason is not None:
        # Not a bug but an outage or overload: the client (the SDK does) retries after a moment.
        # The error's type only: its text would carry the whole SQL statement.
        logger.warning(
            "database unavailable (%s: %s) on %s %s", reason, type(exc).__name__, request.method, request.url.path
        )
        metrics.DATABASE_UNAVAILABLE.labels(reason=reason).inc()
        return respond_error(
            request,
            503,
            "The database is unavailable; retry shortly",
            headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
        )
    if isinstance(exc, StatementError):
        # Never the whole statement: its text can be megabytes (thousands of bound rows). The frames,
        # the driver's error and the statement's start say where it failed.
        driver_error = f"{type(exc.orig).__name__}: {str(exc.orig)[:LOGGED_TEXT_LIMIT]}"
        logger.error(
            "unhandled database error on %s %s: %s; statement: %s",
            request.method,
            request.url.path,
            driver_error,
            (exc.statement or "")[:LOGGED_TEXT_LIMIT],
            extra={
                "exception": "Traceback (most recent call last):\n"
                + "".join(traceback.format_tb(exc.__traceback__))
                + driver_error
            },
        )
        return respond_error(request, 500, "Internal server error")
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return respond_error(request, 500, "Internal server error")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ServiceError, handle_service_error)
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    app.add_exception_handler(StarletteHTTPException, handle_http_exception)
    app.add_exception_handler(Exception, handle_unexpected)
