"""The console's plumbing: the signed-in visit, templates, HTML error pages, security headers.

Every page builds its `Visit` from the session cookie with the same token-to-Caller function the API's
bearer dependency uses, then calls the services; what a visitor may see or do is decided there only.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.exceptions import HTTPException as StarletteHTTPException

from mlregistry.api.deps import AppSettings, DbSession, authenticate_token
from mlregistry.auth.subject import Caller
from mlregistry.services.errors import ServiceError, Unauthenticated
from mlregistry.services.families import ARTIFACT, CHAT_PROMPT, MODEL, Family
from mlregistry.settings import Settings
from mlregistry.ui import session as console_session
from mlregistry.ui.session import ConsoleSession

UI_PREFIX = "/ui"
STATIC_PREFIX = "/ui/static"
STATIC_DIR = Path(__file__).parent / "static"
PAGE_SIZE = 25
# Pages answer only with what this server serves: the browser refuses any other host.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

# A family's entities live under /ui/{segment}/{id}, its versions under /ui/{family}-versions/{id}.
FAMILY_BY_SEGMENT: dict[str, Family] = {"models": MODEL, "artifacts": ARTIFACT, "prompts": CHAT_PROMPT}
SEGMENT_BY_FAMILY = {family.name: segment for segment, family in FAMILY_BY_SEGMENT.items()}

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


def _pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def _subject_name(subject: Any) -> str:
    if not isinstance(subject, dict):
        return ""
    return str(subject.get("subjectDisplayName") or subject.get("subjectSlug") or subject.get("subjectId") or "")


def _human_size(size: Any) -> str:
    if not isinstance(size, int):
        return ""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def _moment(value: Any) -> str:
    """ISO text (`2026-01-02T03:04:05.123Z`) or epoch milliseconds, shown to the second in UTC."""
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    if isinstance(value, str) and "T" in value:
        return value.replace("T", " ")[:19] + " UTC"
    return str(value or "")


templates.env.filters["pretty_json"] = _pretty_json
templates.env.filters["subject"] = _subject_name
templates.env.filters["size"] = _human_size
templates.env.filters["moment"] = _moment
templates.env.globals["quote"] = quote
templates.env.globals["entity_segment"] = lambda family_name: SEGMENT_BY_FAMILY[family_name]
templates.env.globals["version_segment"] = lambda family_name: f"{family_name}-versions"


class SignInRequired(Exception):
    """No valid session: the visitor is sent to the sign-in page, then back."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or "")
        self.message = message


@dataclass
class Visit:
    """One signed-in page view: who asks, their session, and the request's database session."""

    request: Request
    db: AsyncSession
    settings: Settings
    caller: Caller
    console: ConsoleSession

    @property
    def csrf(self) -> str:
        return self.console.csrf

    async def form(self) -> dict[str, list[str]]:
        """The POSTed form, after its CSRF token matched the session's."""
        form = await console_session.read_form(self.request)
        console_session.check_csrf(form, self.console.csrf)
        return form


async def console_visit(request: Request, db: DbSession, settings: AppSettings) -> Visit:
    stored = console_session.read_session(request, settings)
    if stored is None:
        raise SignInRequired()
    try:
        caller = await authenticate_token(request, db, settings, stored.token)
    except Unauthenticated as exc:
        raise SignInRequired(f"Your session ended: {exc.message}. Sign in again.") from exc
    return Visit(request=request, db=db, settings=settings, caller=caller, console=stored)


ConsoleVisit = Annotated[Visit, Depends(console_visit)]


def secured(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def render(
    request: Request, template: str, context: dict[str, Any], *, visit: Visit | None = None, status_code: int = 200
) -> HTMLResponse:
    full = {"visit": visit, "caller": visit.caller if visit else None, "csrf": visit.csrf if visit else None}
    full.update(context)
    response = templates.TemplateResponse(request, template, full, status_code=status_code)
    secured(response)
    return response


def page(visit: Visit, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    return render(visit.request, template, context, visit=visit, status_code=status_code)


def redirect(url: str) -> RedirectResponse:
    response = RedirectResponse(url, status_code=303)
    secured(response)
    return response


def with_query(path: str, **params: Any) -> str:
    kept = {key: value for key, value in params.items() if value not in (None, "", [])}
    return f"{path}?{urlencode(kept, doseq=True)}" if kept else path


ERROR_TITLES = {
    400: "Bad request",
    401: "Sign-in needed",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Too large",
    422: "Invalid input",
}


def error_page(request: Request, status_code: int, message: str) -> HTMLResponse:
    title = ERROR_TITLES.get(status_code, "Something went wrong")
    return render(
        request, "error.html", {"status": status_code, "title": title, "message": message}, status_code=status_code
    )


def sign_in_redirect(request: Request, message: str | None) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    params: dict[str, str] = {"next": target} if request.method == "GET" else {}
    if message:
        params["message"] = message
    response = redirect(with_query(f"{UI_PREFIX}/login", **params))
    if message:
        console_session.clear_session(response, request)
    return response


class ConsoleRoute(APIRoute):
    """Console routes answer HTML, errors included: a service's refusal is a page, never a JSON body."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def console_handler(request: Request) -> Response:
            started = time.perf_counter()
            response = await answer(request)
            # The page's server time (session, queries, template), for browsers' dev tools and benchmarks/.
            response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.2f}"
            return response

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInRequired as exc:
                return sign_in_redirect(request, exc.message)
            except ServiceError as exc:
                return error_page(request, exc.status_code, exc.message)
            except (RequestValidationError, ValidationError) as exc:
                # A query the page could not read, or form values a manifest refuses.
                problems = "; ".join(
                    f"{'.'.join(str(part) for part in error.get('loc', ()))}: {error.get('msg', '')}"
                    for error in exc.errors()[:5]
                )
                return error_page(request, 422, problems or "Invalid request")
            except StarletteHTTPException as exc:
                return error_page(request, exc.status_code, str(exc.detail))

        return console_handler


def prefers_html(accept: str) -> bool:
    """True when the Accept header ranks text/html above JSON (what a browser's navigation sends)."""
    best_html = best_json = 0.0
    for part in accept.split(","):
        media, *options = (piece.strip() for piece in part.split(";"))
        quality = 1.0
        for option in options:
            key, _, value = option.partition("=")
            if key.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        media = media.lower()
        if media in ("text/html", "application/xhtml+xml"):
            best_html = max(best_html, quality)
        elif media in ("application/json", "*/*"):
            best_json = max(best_json, quality if media == "application/json" else quality - 0.01)
    return best_html > 0 and best_html >= best_json
