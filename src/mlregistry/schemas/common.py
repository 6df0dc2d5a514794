"""Types shared by every resource: subjects, errors, envelopes, pagination."""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

T = TypeVar("T")


def integral(value: Any) -> Any:
    """Accept `3`, `3.0` and `"3.0"` where an int is meant (the SDK types some ints as floats)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            number = float(text)
        except ValueError:
            return value
        if number.is_integer() and "." in text:
            return int(number)
    return value


LenientInt = Annotated[int, BeforeValidator(integral)]


def json_nesting(value: Any, limit: int) -> int:
    """How deeply objects and arrays nest in `value`, counted without recursion; stops once past `limit`."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack and deepest <= limit:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is not None:
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in children)
    return deepest


class Subject(BaseModel):
    """Who did something. Every key is camelCase on the wire."""

    model_config = ConfigDict(extra="allow")

    subjectId: str
    subjectType: str
    subjectSlug: str | None = None
    subjectDisplayName: str | None = None
    subjectPatName: str | None = None
    subjectControllerName: str | None = None
    subjectExternalIdentitySlug: str | None = None


class HttpError(BaseModel):
    """The body of every error response of the ML API."""

    statusCode: int
    message: str
    code: int | str | None = None
    details: list[dict[str, Any]] | None = None


class Pagination(BaseModel):
    total: int
    offset: int | None = None
    limit: int | None = None


class TokenPagination(BaseModel):
    limit: int | None = None
    nextPageToken: str | None = None
    previousPageToken: str | None = None


class DataEnvelope(BaseModel, Generic[T]):
    data: T


class ListEnvelope(BaseModel, Generic[T]):
    data: list[T]
    pagination: Pagination


class EmptyResponse(BaseModel):
    model_config = ConfigDict(extra="allow")


class PageRequest(BaseModel):
    offset: int = Field(0, ge=0)
    limit: int = Field(100, ge=1)
