"""Process logging: one JSON object per line, the request id on every line logged during a request,
and tokens and secrets scrubbed from every message and traceback."""

from __future__ import annotations

import json
import logging
import re
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import orjson

from mlregistry.settings import Settings

REQUEST_ID: ContextVar[str | None] = ContextVar("mlregistry_request_id", default=None)
ACCESS_LOGGER = "mlregistry.access"
REDACTED = "[redacted]"

_TOKEN_PATTERNS = (
    re.compile(r"(?i)(bearer\s+)[^\s\"',;]+"),
    # Any JWT (ours start with the base64 of `{"`).
    re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"),
    re.compile(r"(?i)((?:password|secret|token|api[_-]?key)[\"']?\s*[=:]\s*[\"']?)[^\s\"',;&]+"),
)
# What every match of the patterns above contains: text without any of it has nothing they would change.
_TOKEN_HINT = re.compile(r"(?i)bearer|eyJ|password|secret|token|api[_-]?key")
# Attributes every LogRecord has (and uvicorn's terminal-colour duplicate): not extra fields.
_RESERVED_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "color_message",
    "taskName",
}


class Redactor:
    """Removes bearer tokens, JWTs, `password=...`-style values and the configured secrets from text."""

    def __init__(self, secrets: list[str] | None = None) -> None:
        self.secrets = [secret for secret in (secrets or []) if len(secret) >= 8]

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        if _TOKEN_HINT.search(text) is None:  # one scan instead of three for the usual line
            return text
        for pattern in _TOKEN_PATTERNS:
            text = pattern.sub(lambda match: (match.group(1) if match.groups() else "") + REDACTED, text)
        return text


class JsonFormatter(logging.Formatter):
    """`{"time", "level", "logger", "message", "request_id"?, ...extra fields, "exception"?}` on one line."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": self.redact(record.getMessage()),
        }
        request_id = REQUEST_ID.get()
        if request_id is not None:
            entry["request_id"] = request_id
        for key, value in record.__dict__.items():
            if key not in _RESERVED_ATTRIBUTES and not key.startswith("_"):
                entry[key] = self.redact(value) if isinstance(value, str) else value
        if record.exc_info:
            entry["exception"] = self.redact(self.formatException(record.exc_info))
        try:
            return orjson.dumps(entry, default=str).decode()
        except TypeError:  # what orjson refuses (an int beyond 64 bits, keys that are not strings)
            return json.dumps(entry, default=str, separators=(",", ":"))


class TextFormatter(logging.Formatter):
    def __init__(self, redact: Redactor) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        if record.name == ACCESS_LOGGER:
            line = f"{line} {_access_summary(record)}"
        exception = getattr(record, "exception", None)
        if isinstance(exception, str) and not record.exc_info:
            line = f"{line}\n{exception}"
        request_id = REQUEST_ID.get()
        return self.redact(f"{line} request_id={request_id}" if request_id else line)


def _access_summary(record: logging.LogRecord) -> str:
    """`GET /api/ml/v1/models/{id} 200 3.1ms subject=...` from an access line's fields."""
    fields = record.__dict__
    subject = fields.get("subject_id") or "-"
    return (
        f"{fields.get('method')} {fields.get('path') or fields.get('route')} {fields.get('status')} "
        f"{fields.get('duration_ms')}ms subject={subject}"
    )


def settings_secrets(settings: Settings) -> list[str]:
    values = [settings.secret_key, settings.bootstrap_token]
    secrets = [value.get_secret_value() for value in values if value is not None]
    if settings.database_url:
        from sqlalchemy.engine import make_url

        password = make_url(settings.database_url).password
        if password:
            secrets.append(str(password))
    return secrets


def configure_logging(settings: Settings) -> None:
    """Send every logger (uvicorn's included) to stderr in the configured format. Idempotent."""
    redact = Redactor(settings_secrets(settings))
    formatter: logging.Formatter = JsonFormatter(redact) if settings.log_format == "json" else TextFormatter(redact)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    # Neither format shows the caller's file and line, thread or process: the records need not look them up
    # (the logging HOWTO's "Optimization"); an access line is written for every request.
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(settings.log_level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers = []
        logger.propagate = True
    # The request middleware writes the access log; uvicorn's own would repeat it without the details.
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger(ACCESS_LOGGER).disabled = not settings.access_log
