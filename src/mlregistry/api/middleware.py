"""The one request middleware (pure ASGI, no per-request tasks): request id, limits, metrics, access log.

For every HTTP request it
- takes the client's `X-Request-ID` (when it is a sane token) or makes one, and echoes it;
- refuses JSON bodies above `max_json_body_bytes` with 413;
- answers 504 when no response has started within `request_timeout` (an upload's clock starts when
  its body has arrived; a streamed response is never cut once started);
- turns an unhandled error into the HttpError 500 (logged with the request id by `api.errors`);
- records count and latency per route template and status, and writes one access log line;
- closes the request's database sessions once it has been answered (`deps.get_session` opens them).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mlregistry.api.errors import handle_unexpected, respond_error
from mlregistry.logs import ACCESS_LOGGER, REQUEST_ID
from mlregistry.metrics import UNMATCHED_ROUTE, RequestMetrics
from mlregistry.settings import Settings

REQUEST_ID_HEADER = b"x-request-id"
# The scope entry where `deps.get_session` leaves the session contexts it opened, for this middleware to exit.
OPEN_SESSIONS = "mlregistry.open_sessions"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")

access_logger = logging.getLogger(ACCESS_LOGGER)
logger = logging.getLogger(__name__)


class BodyTooLarge(HTTPException):
    """Raised from `receive` when a JSON body grows past the limit: the error handlers answer 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"Request body is larger than {limit} bytes")


def _is_json(content_type: bytes) -> bool:
    media_type = content_type.split(b";", 1)[0].strip().lower()
    return media_type == b"application/json" or (
        media_type.startswith(b"application/") and media_type.endswith(b"+json")
    )


def route_template(scope: Scope) -> str:
    """The matched route's path template (`/api/ml/v1/models/{id}`), whatever router or prefix served it.

    Bounded label values for metrics and logs: an unmatched path is `unmatched`, a mount `/static/{path}`.
    """
    route = scope.get("route")
    template = getattr(route, "path", None)
    if isinstance(template, str):
        path: str = scope["path"]
        regex = getattr(route, "path_regex", None)
        if regex is None or regex.match(path):
            return template
        # A route of an included router may keep its own path: find the prefix it was served under.
        index = path.find("/", 1)
        while index > 0:
            if regex.match(path[index:]):
                return path[:index] + template
            index = path.find("/", index + 1)
        return template
    endpoint = scope.get("endpoint")
    app_root = scope.get("app_root_path")
    if app_root is not None and endpoint is not None:
        mount = scope.get("root_path", "")[len(app_root) :]
        if mount:
            return f"{mount}/{{path}}"
    if endpoint is not None:
        # A plain Starlette route (`/openapi.json`) names its endpoint but not itself.
        return _plain_route_path(scope.get("app"), endpoint) or UNMATCHED_ROUTE
    return UNMATCHED_ROUTE


_PLAIN_ROUTE_PATHS: dict[Any, str | None] = {}


def _plain_route_path(app: Any, endpoint: Any) -> str | None:
    if endpoint not in _PLAIN_ROUTE_PATHS:
        routes = getattr(getattr(app, "router", None), "routes", ())
        paths = [route.path for route in routes if getattr(route, "endpoint", None) is endpoint]
        _PLAIN_ROUTE_PATHS[endpoint] = paths[0] if paths else None
    return _PLAIN_ROUTE_PATHS[endpoint]


class RequestMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings, metrics: RequestMetrics) -> None:
        self.app = app
        self.metrics = metrics
        self.max_json_body = settings.max_json_body_bytes
        self.timeout = settings.request_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started_at = time.perf_counter()
        request_id = ""
        content_type = b""
        content_length = -1
        chunked = False
        for name, value in scope["headers"]:
            if name == REQUEST_ID_HEADER:
                request_id = value.decode("latin-1")
            elif name == b"content-type":
                content_type = value
            elif name == b"content-length" and value.isdigit():
                content_length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
        if not _VALID_REQUEST_ID.match(request_id):
            request_id = os.urandom(16).hex()  # as unique as a uuid4's hex, without building a UUID
        context_token = REQUEST_ID.set(request_id)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        opened: list[Any] = []
        scope[OPEN_SESSIONS] = opened
        echo_header = (REQUEST_ID_HEADER, request_id.encode("latin-1"))
        status = 0
        loop = asyncio.get_running_loop()
        limit = self.max_json_body if _is_json(content_type) else None
        # An upload (a body that is not JSON) may take as long as its bytes take: its clock starts at its end.
        upload = limit is None and (content_length > 0 or chunked)
        deadline = asyncio.timeout(None if upload else self.timeout)
        deadline_armed = False
        received = 0

        async def receive_limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                if limit is not None:
                    received += len(message.get("body", b""))
                    if received > limit:
                        raise BodyTooLarge(limit)
                elif upload and deadline_armed and not message.get("more_body", False):
                    deadline.reschedule(loop.time() + self.timeout)
            return message

        # The access line of a request, measured but not yet written (None once written).
        pending: dict[str, Any] | None = None
        recorded = False

        def record() -> None:
            nonlocal recorded, pending
            recorded = True
            duration = time.perf_counter() - started_at
            route = route_template(scope)
            final_status = status or 500
            self.metrics.observe(scope["method"], route, final_status, duration)
            if access_logger.isEnabledFor(logging.INFO):
                pending = _access_fields(scope, route, final_status, duration)

        def write_access_line() -> None:
            nonlocal pending
            if pending is not None:
                access_logger.info("request", extra=pending)
                pending = None

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), echo_header]
                if deadline_armed:
                    deadline.reschedule(None)
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                # Counted before the last byte leaves (the client's next request sees this one counted), and
                # its log line written after it: formatting and writing the line is not part of the answer's
                # latency.
                record()
                try:
                    await send(message)
                finally:
                    write_access_line()
                return
            await send(message)

        try:
            if limit is not None and content_length > limit:
                raise BodyTooLarge(limit)
            async with deadline:
                deadline_armed = True
                try:
                    await self.app(scope, receive_limited, send_with_id)
                finally:
                    deadline_armed = False
        except BodyTooLarge as exc:
            if status:
                raise
            await respond_error(Request(scope), exc.status_code, exc.detail)(scope, receive, send_with_id)
        except Exception as exc:
            if status:
                raise  # the response has started: the server closes the connection
            if isinstance(exc, TimeoutError) and deadline.expired():
                response = respond_error(Request(scope), 504, f"Request timed out after {self.timeout:g} seconds")
            else:
                response = await handle_unexpected(Request(scope), exc)
            await response(scope, receive, send_with_id)
        finally:
            await _close_sessions(opened)
            if not recorded:
                record()
            write_access_line()
            REQUEST_ID.reset(context_token)


async def _close_sessions(opened: list[Any]) -> None:
    """Close the request's sessions, newest first; what they did not commit is rolled back."""
    while opened:
        try:
            await opened.pop().__aexit__(None, None, None)
        except Exception:  # the answer is out already: a failed close is logged, the other sessions still closed
            logger.exception("closing a request's database session failed")


def _access_fields(scope: Scope, route: str, status: int, duration: float) -> dict[str, Any]:
    return {
        "method": scope["method"],
        "route": route,
        # The path as sent where no route matched (the route label stays bounded for metrics).
        "path": scope["path"] if route == UNMATCHED_ROUTE else route,
        "status": status,
        "duration_ms": round(duration * 1000, 3),
        "subject_id": scope["state"].get("subject_id"),
    }
