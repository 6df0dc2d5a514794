"""The one exception hierarchy of the services; mapped to HTTP in one place (api/errors.py)."""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    status_code = 500

    def __init__(self, message: str, *, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class Invalid(ServiceError):
    """The request is well-formed but breaks a rule; `details` name the fields."""

    status_code = 422

    @classmethod
    def field(cls, loc: list[str | int], message: str, kind: str = "value_error") -> Invalid:
        path = ".".join(str(part) for part in loc)
        return cls(f"{path}: {message}", details=[{"loc": loc, "msg": message, "type": kind}])


class Unauthenticated(ServiceError):
    status_code = 401


class Forbidden(ServiceError):
    status_code = 403


class NotFound(ServiceError):
    status_code = 404


class Conflict(ServiceError):
    status_code = 409


class Unsupported(ServiceError):
    """The route exists but this server has no such thing (passwords, an external secret store).

    400, the refusal the official SDK declares for these calls: the request is understood and will never
    succeed on this server, so neither 404/405 (they would look like a missing route), nor 422 (nothing
    in the body is wrong), nor 5xx (no fault of the server). The message says what to do instead.
    """

    status_code = 400
