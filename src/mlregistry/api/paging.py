"""Pagination and the response envelopes: the one place that builds them.

The ML API pages by `offset`/`limit` and answers `{"data", "pagination": {"total", "offset", "limit"}}`.
The NeMo-style entity API under `/apis/` pages by `page`/`page_size` and answers its own list envelope.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query, Request

from mlregistry.api.deps import AppSettings
from mlregistry.api.responses import JSONResponse
from mlregistry.schemas.limits import (
    MAX_PAGE_NUMBER,
    MAX_PAGE_SIZE,
    Offset,
    PageLimit,
    PageNumber,
    max_page_number,
    setting_maximum,
)
from mlregistry.schemas.workspace_models import EntitySort
from mlregistry.services.errors import Invalid


@dataclass(frozen=True)
class Page:
    offset: int
    limit: int


async def page_params(
    settings: AppSettings,
    limit: Annotated[
        PageLimit | None,
        Query(
            description="Maximum number of items to return (default: MLREGISTRY_DEFAULT_PAGE_SIZE)",
            json_schema_extra=setting_maximum(MAX_PAGE_SIZE),
        ),
    ] = None,
    offset: Annotated[Offset, Query(description="Number of items to skip")] = 0,
) -> Page:
    if limit is None:
        limit = settings.default_page_size
    if limit > settings.max_page_size:
        raise Invalid.field(["query", "limit"], f"must be between 1 and {settings.max_page_size}")
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


# --- the entity API (`/apis/`): page numbers, sort and filter -------------------------------------

FILTER_BRACKET_KEY = re.compile(r"^filter\[([^\[\]]+)\]$")


@dataclass(frozen=True)
class EntityPage:
    page: int
    page_size: int
    sort: str

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size


async def entity_page_params(
    settings: AppSettings,
    page: Annotated[
        PageNumber, Query(description="Page number, from 1", json_schema_extra=setting_maximum(MAX_PAGE_NUMBER))
    ] = 1,
    page_size: Annotated[
        PageLimit | None,
        Query(
            description="Items per page (default: MLREGISTRY_DEFAULT_PAGE_SIZE)",
            json_schema_extra=setting_maximum(MAX_PAGE_SIZE),
        ),
    ] = None,
    sort: Annotated[
        EntitySort, Query(description="Sort field; `-` in front sorts in decreasing order")
    ] = "-created_at",
) -> EntityPage:
    if page_size is None:
        page_size = settings.default_page_size
    if page_size > settings.max_page_size:
        raise Invalid.field(["query", "page_size"], f"must be between 1 and {settings.max_page_size}")
    last_page = max_page_number(settings.max_page_size)
    if page > last_page:
        raise Invalid.field(["query", "page"], f"must be between 1 and {last_page}")
    return EntityPage(page=page, page_size=page_size, sort=sort)


EntityPageParams = Annotated[EntityPage, Depends(entity_page_params)]


async def entity_filter(request: Request) -> dict[str, Any]:
    """Field equalities from `filter={"field": value}` (JSON) and `filter[field]=value` (bracket form)."""
    filters: dict[str, Any] = {}
    for key, value in request.query_params.multi_items():
        if key == "filter":
            try:
                parsed = json.loads(value)
            except ValueError:
                raise Invalid.field(["query", "filter"], "must be a JSON object of field equalities") from None
            if not isinstance(parsed, dict):
                raise Invalid.field(["query", "filter"], "must be a JSON object of field equalities")
            filters.update(parsed)
        elif match := FILTER_BRACKET_KEY.match(key):
            filters[match.group(1)] = value
    return filters


EntityFilter = Annotated[dict[str, Any], Depends(entity_filter)]


def entity_list_response(items: list[Any], total: int, page: EntityPage, filters: dict[str, Any]) -> JSONResponse:
    return JSONResponse(
        {
            "object": "list",
            "data": items,
            "pagination": {
                "page": page.page,
                "page_size": page.page_size,
                "current_page_size": len(items),
                "total_pages": math.ceil(total / page.page_size),
                "total_results": total,
            },
            "sort": page.sort,
            "filter": filters,
        }
    )
