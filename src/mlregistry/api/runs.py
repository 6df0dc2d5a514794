"""Runs: experiment tracking of the official clients (`client.runs`, `truefoundry.ml` runs)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession

from mlregistry.api.deps import AppSettings, CurrentCaller, DbSession, get_database, reads_only
from mlregistry.api.docs import ERROR_RESPONSES
from mlregistry.api.paging import empty_response
from mlregistry.api.responses import JSONResponse
from mlregistry.schemas.common import EmptyResponse
from mlregistry.schemas.runs import (
    KEY_MAX,
    CreateRunRequest,
    DeleteTagRequest,
    ListMetricHistoryRequest,
    ListMetricHistoryResponse,
    LogBatchRequest,
    LogParameterRequest,
    MetricHistoryResponse,
    MetricInput,
    RunResponse,
    SearchRunsRequest,
    SearchRunsResponse,
    SetTagRequest,
    UpdateRunRequest,
    UpdateRunResponse,
)
from mlregistry.services import runs

router = APIRouter(tags=["Runs"], responses=ERROR_RESPONSES)


@router.post("/runs", response_model=RunResponse, summary="Create a run")
async def create_run(
    body: CreateRunRequest, session: DbSession, settings: AppSettings, caller: CurrentCaller
) -> JSONResponse:
    result = await runs.create_run(session, settings, caller, body)
    await session.commit()
    return JSONResponse(result)


# Registered before `/runs/{id}` routes so that the literal path wins.
@router.post("/runs/search", response_model=SearchRunsResponse, summary="Search runs")
@reads_only
async def search_runs(
    body: SearchRunsRequest, session: DbSession, settings: AppSettings, caller: CurrentCaller
) -> JSONResponse:
    return JSONResponse(await runs.search_runs(session, settings, caller, body))


@router.get("/runs/{id}", response_model=RunResponse, summary="Get a run")
async def get_run(id: str, session: DbSession, settings: AppSettings, caller: CurrentCaller) -> JSONResponse:
    return JSONResponse(await runs.get_run(session, settings, caller, id))


@router.put("/runs/{id}", response_model=UpdateRunResponse, summary="Update a run")
async def update_run(
    id: str, body: UpdateRunRequest, session: DbSession, settings: AppSettings, caller: CurrentCaller
) -> JSONResponse:
    result = await runs.update_run(session, settings, caller, id, body)
    await session.commit()
    return JSONResponse(result)


@router.delete("/runs/{id}", response_model=EmptyResponse, summary="Delete a run")
async def delete_run(id: str, session: DbSession, caller: CurrentCaller) -> JSONResponse:
    await runs.delete_run(session, caller, id)
    await session.commit()
    return empty_response()


async def _history_array(session: AsyncSession, run_id: str, key: str, step: int | None) -> AsyncIterator[bytes]:
    """The JSON array of a metric's points, one keyset page of the history at a time."""
    yield b"["
    separator = b""
    async for page in runs.metric_history_pages(session, run_id, key, step):
        yield separator + orjson.dumps(page)[1:-1]
        separator = b","
    yield b"]"


def _streamed_history(
    request: Request, run_id: str, *, key: str | None = None, keys: list[str] | None = None, step: int | None = None
) -> StreamingResponse:
    """Streams the history from its own read session: a run with 100,000 points answers in bounded memory.

    With `key`, the `{metrics}` of one key; else the `{metric_collections}` of `keys` (None: all of them).
    The caller was authorized before the response starts; the points are read page by page as they are sent."""
    database = get_database(request)

    async def body() -> AsyncIterator[bytes]:
        async with database.session(write=False) as session:
            if key is not None:
                yield b'{"metrics":'
                async for chunk in _history_array(session, run_id, key, step):
                    yield chunk
                yield b"}"
                return
            yield b'{"metric_collections":['
            for index, each in enumerate(await runs.history_keys(session, run_id, keys)):
                yield (b"," if index else b"") + b'{"key":' + orjson.dumps(each) + b',"metrics":'
                async for chunk in _history_array(session, run_id, each, step):
                    yield chunk
                yield b"}"
            yield b"]}"

    return StreamingResponse(body(), media_type="application/json")


@router.get("/runs/{id}/metrics/history", response_model=MetricHistoryResponse, summary="A metric's history")
async def get_metric_history(
    id: str,
    request: Request,
    session: DbSession,
    caller: CurrentCaller,
    metric_key: Annotated[str, Query(min_length=1, max_length=KEY_MAX, description="The metric's key")],
) -> StreamingResponse:
    """All points of the metric, ordered by step then timestamp, streamed as they are read."""
    await runs.authorize_history_read(session, caller, id)
    return _streamed_history(request, id, key=metric_key)


@router.post("/runs/{id}/metrics/list", response_model=ListMetricHistoryResponse, summary="Several metrics' history")
@reads_only
async def list_metric_history(
    id: str, body: ListMetricHistoryRequest, request: Request, session: DbSession, caller: CurrentCaller
) -> StreamingResponse:
    """The points of each of `metric_keys` (absent: every key the run logged), at `step` if given, streamed."""
    await runs.authorize_history_read(session, caller, id)
    return _streamed_history(request, id, keys=body.metric_keys, step=body.step)


@router.post("/runs/{id}/metrics", response_model=EmptyResponse, summary="Log a metric")
async def log_metric(id: str, body: MetricInput, session: DbSession, caller: CurrentCaller) -> JSONResponse:
    await runs.log_metric(session, caller, id, body)
    await session.commit()
    return empty_response()


@router.post("/runs/{id}/parameters", response_model=EmptyResponse, summary="Log a parameter")
async def log_parameter(id: str, body: LogParameterRequest, session: DbSession, caller: CurrentCaller) -> JSONResponse:
    await runs.log_parameter(session, caller, id, body)
    await session.commit()
    return empty_response()


@router.put("/runs/{id}/tags", response_model=EmptyResponse, summary="Set a tag")
async def set_tag(id: str, body: SetTagRequest, session: DbSession, caller: CurrentCaller) -> JSONResponse:
    await runs.set_tag(session, caller, id, body)
    await session.commit()
    return empty_response()


@router.post("/runs/{id}/tags/delete", response_model=EmptyResponse, summary="Delete a tag")
async def delete_tag(id: str, body: DeleteTagRequest, session: DbSession, caller: CurrentCaller) -> JSONResponse:
    await runs.delete_tag(session, caller, id, body.key)
    await session.commit()
    return empty_response()


@router.post("/runs/{id}/batch", response_model=EmptyResponse, summary="Log metrics, params and tags at once")
async def log_batch(id: str, body: LogBatchRequest, session: DbSession, caller: CurrentCaller) -> JSONResponse:
    await runs.log_batch(session, caller, id, body)
    await session.commit()
    return empty_response()
