"""Offset pagination and the response envelopes: the one place that builds them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query
from fastapi.responses import JSONResponse

from mlregistry.api.deps import AppSettings
from mlregistry.schemas.common import LenientInt
from mlregistry.services.errors import Invalid


@dataclass(frozen=True)
class Page:
    offset: int
    limit: int


def page_params(
    settings: AppSettings,
    limit: Annotated[LenientInt | None, Query(description="Maximum number of items to return")] = None,
    offset: Annotated[LenientInt, Query(description="Number of items to skip")] = 0,
) -> Page:
    if limit is None:
        limit = settings.default_page_size
    if limit < 1 or limit > settings.max_page_size:
        raise Invalid.field(["query", "limit"], f"must be between 1 and {settings.max_page_size}")
    if offset < 0:
        raise Invalid.field(["query", "offset"], "must be 0 or more")
    return Page(offset=offset, limit=limit)


PageParams = Annotated[Page, Depends(page_params)]


def data_response(data: Any) -> JSONResponse:
    return JSONResponse({"data": data})


def list_response(items: list[Any], total: int, page: Page) -> JSONResponse:
    return JSONResponse({"data": items, "pagination": {"total": total, "offset": page.offset, "limit": page.limit}})


def empty_response() -> JSONResponse:
    return JSONResponse({})


def split_repeated(values: list[str] | None) -> list[str]:
    """Repeated keys (`a=1&a=2`) and comma-separated values (`a=1,2`) both give ['1', '2']."""
    result: list[str] = []
    for value in values or []:
        result.extend(part.strip() for part in value.split(",") if part.strip())
    return result


def token_page_response(items: list[Any], next_token: str | None, limit: int | None) -> JSONResponse:
    """The page-token form (file listings): `pagination.nextPageToken` while more pages follow."""
    pagination: dict[str, Any] = {}
    if limit is not None:
        pagination["limit"] = limit
    if next_token is not None:
        pagination["nextPageToken"] = next_token
    return JSONResponse({"data": items, "pagination": pagination})
