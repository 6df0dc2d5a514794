"""Runs: experiment tracking of the official clients (`client.runs`, `truefoundry.ml` runs)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from mlregistry.api.deps import AppSettings, CurrentCaller, DbSession
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


@router.get("/runs/{id}/metrics/history", response_model=MetricHistoryResponse, summary="A metric's history")
async def get_metric_history(
    id: str,
    session: DbSession,
    caller: CurrentCaller,
    metric_key: Annotated[str, Query(min_length=1, max_length=KEY_MAX, description="The metric's key")],
) -> JSONResponse:
    return JSONResponse({"metrics": await runs.metric_history(session, caller, id, [metric_key], None)})


@router.post("/runs/{id}/metrics/list", response_model=ListMetricHistoryResponse, summary="Several metrics' history")
async def list_metric_history(
    id: str, body: ListMetricHistoryRequest, session: DbSession, caller: CurrentCaller
) -> JSONResponse:
    points = await runs.metric_history(session, caller, id, body.metric_keys, body.step)
    collections: dict[str, list[dict[str, object]]] = {key: [] for key in body.metric_keys or []}
    for point in points:
        collections.setdefault(str(point["key"]), []).append(point)
    return JSONResponse(
        {"metric_collections": [{"key": key, "metrics": metrics} for key, metrics in collections.items()]}
    )


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
