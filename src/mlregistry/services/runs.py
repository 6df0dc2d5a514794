"""Runs (experiment tracking): create, read, update, delete and search runs of an ML repo; log their
params (immutable once logged), tags (mutable) and metrics (whole history kept, latest per key indexed).

Viewers of the ML repo read its runs; editors create and log. `experiment_id` is the ML repo's id.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from mlregistry.auth.subject import Caller
from mlregistry.orm import Run
from mlregistry.orm.base import utcnow
from mlregistry.repositories import runs as queries
from mlregistry.repositories.runs import RunDetails, RunRow, RunSearch
from mlregistry.schemas.runs import (
    TERMINAL_STATUSES,
    CreateRunRequest,
    LogBatchRequest,
    MetricInput,
    RunParamInput,
    RunTagInput,
    SearchRunsRequest,
    UpdateRunRequest,
)
from mlregistry.services import audit, events
from mlregistry.services.access import Role, authorize, repo_scope
from mlregistry.services.errors import Conflict, Invalid, NotFound
from mlregistry.services.ml_repos import parse_repo_id, readable_repo
from mlregistry.services.run_filters import parse_filter, parse_order_by
from mlregistry.settings import Settings

LIFECYCLE_ACTIVE = "active"
LIFECYCLE_DELETED = "deleted"
VIEW_STAGES = {
    "ACTIVE_ONLY": [LIFECYCLE_ACTIVE],
    "DELETED_ONLY": [LIFECYCLE_DELETED],
    "ALL": [LIFECYCLE_ACTIVE, LIFECYCLE_DELETED],
}


def _not_found(run_id: str) -> NotFound:
    return NotFound(f"Run '{run_id}' not found")


def now_ms() -> int:
    return int(time.time() * 1000)


def run_fqn(tenant: str, repo_name: str, run_name: str) -> str:
    return f"{tenant}/{repo_name}/{run_name}"


def run_info(settings: Settings, row: RunRow) -> dict[str, Any]:
    run = row.run
    subject = run.created_by_subject or {}
    return {
        "run_uuid": run.id,
        "run_id": run.id,
        "experiment_id": str(run.ml_repo_id),
        "name": run.name,
        "fqn": run_fqn(settings.tenant_name, row.access.resource.name, run.name),
        "status": run.status,
        "created_by_subject": subject,
        "user_id": subject.get("subjectSlug") or subject.get("subjectId"),
        "start_time": run.start_time,
        "end_time": run.end_time,
        "lifecycle_stage": run.lifecycle_stage,
        "description": run.description,
    }


def metric_to_wire(metric: Any) -> dict[str, Any]:
    return {"key": metric.key, "value": metric.value, "timestamp": metric.timestamp, "step": metric.step}


def run_to_wire(settings: Settings, row: RunRow, details: RunDetails) -> dict[str, Any]:
    return {
        "info": run_info(settings, row),
        "data": {
            "metrics": [metric_to_wire(metric) for metric in details.metrics],
            "params": [{"key": key, "value": value} for key, value in details.params],
            "tags": [{"key": key, "value": value} for key, value in details.tags],
        },
    }


async def _present(session: AsyncSession, settings: Settings, row: RunRow) -> dict[str, Any]:
    found = await queries.details(session, [row.run.id])
    return run_to_wire(settings, row, found[row.run.id])


async def _authorized(session: AsyncSession, caller: Caller, run_id: str, needed: Role) -> RunRow:
    row = await queries.get_row(session, repo_scope(caller), run_id)
    if row is None:
        raise _not_found(run_id)
    authorize(caller, row.access, needed, not_found=_not_found(run_id).message)
    return row


async def _locked(session: AsyncSession, caller: Caller, run_id: str) -> RunRow:
    """The run for an editor, with its row lock held until commit (tag writes and deletes take turns)."""
    row = await _authorized(session, caller, run_id, Role.EDITOR)
    if not await queries.lock_run(session, run_id):
        raise _not_found(run_id)  # deleted while this request waited for it
    return row


async def create_run(
    session: AsyncSession, settings: Settings, caller: Caller, body: CreateRunRequest
) -> dict[str, Any]:
    repo = await readable_repo(session, caller, body.experiment_id, Role.EDITOR)
    name = body.name or f"run-{uuid.uuid4().hex[:12]}"
    if await queries.find_by_name(session, repo.id, name) is not None:
        raise Conflict(f"Run '{name}' already exists in ML repo '{repo.name}'")
    run = Run(
        id=uuid.uuid4().hex,
        ml_repo_id=repo.id,
        name=name,
        status="RUNNING",
        lifecycle_stage=LIFECYCLE_ACTIVE,
        start_time=body.start_time if body.start_time is not None else now_ms(),
        end_time=None,
        description=body.description,
        created_by_subject=caller.as_subject(),
        created_at=utcnow(),
    )
    try:
        await queries.add(session, run)
    except IntegrityError as exc:
        raise Conflict(f"Run '{name}' was created concurrently, try again") from exc
    await queries.set_tags(session, run, _last_values(body.tags or []))
    audit.note(session, caller, "create", "run", run.id, ml_repo=repo.name, name=name)
    row = await _authorized(session, caller, run.id, Role.VIEWER)
    return {"run": await _present(session, settings, row)}


async def get_run(session: AsyncSession, settings: Settings, caller: Caller, run_id: str) -> dict[str, Any]:
    row = await _authorized(session, caller, run_id, Role.VIEWER)
    return {"run": await _present(session, settings, row)}


async def update_run(
    session: AsyncSession, settings: Settings, caller: Caller, run_id: str, body: UpdateRunRequest
) -> dict[str, Any]:
    row = await _authorized(session, caller, run_id, Role.EDITOR)
    run = row.run
    previous = run.status
    if body.status is not None:
        run.status = body.status
    if body.end_time is not None:
        if body.end_time < run.start_time:
            raise Invalid.field(["end_time"], "is before the run's start_time")
        run.end_time = body.end_time
    elif body.status in TERMINAL_STATUSES and run.end_time is None:
        run.end_time = max(now_ms(), run.start_time)
    if body.description is not None:
        run.description = body.description
    await session.flush()
    audit.note(session, caller, "update", "run", run.id, ml_repo=row.access.resource.name, name=run.name)
    if run.status in TERMINAL_STATUSES and previous not in TERMINAL_STATUSES:
        await events.emit(
            session,
            caller,
            events.RUN_FINISHED,
            row.access.resource,
            {
                "id": run.id,
                "name": run.name,
                "status": run.status,
                "previous_status": previous,
                "start_time": run.start_time,
                "end_time": run.end_time,
            },
        )
    return {"run_info": run_info(settings, row)}


async def delete_run(session: AsyncSession, caller: Caller, run_id: str) -> None:
    """Removes the run with its params, tags and metrics; versions that name it keep their run_id."""
    row = await _locked(session, caller, run_id)
    await queries.delete_run(session, row.run)
    audit.note(session, caller, "delete", "run", run_id, ml_repo=row.access.resource.name, name=row.run.name)


def _last_values(items: list[RunTagInput] | list[RunParamInput]) -> dict[str, str]:
    return {item.key: item.value for item in items}


async def _log_params(session: AsyncSession, run: Run, params: list[RunParamInput]) -> None:
    wanted: dict[str, str] = {}
    for index, param in enumerate(params):
        if wanted.get(param.key, param.value) != param.value:
            raise Invalid.field(["params", index, "value"], f"param '{param.key}' is given two different values")
        wanted[param.key] = param.value
    if not wanted:
        return
    logged = await queries.params_of(session, run.id, list(wanted))
    for key, value in wanted.items():
        if key in logged and logged[key] != value:
            raise Invalid.field(
                ["params"], f"param '{key}' was already logged with value '{logged[key]}'; params cannot change"
            )
    news = {key: value for key, value in wanted.items() if key not in logged}
    await queries.add_params(session, run.id, run.ml_repo_id, news)


async def _log_metrics(session: AsyncSession, run: Run, metrics: list[MetricInput]) -> None:
    stamp = now_ms()
    await queries.log_metrics(
        session,
        run.id,
        run.ml_repo_id,
        [
            {
                "key": metric.key,
                "value": metric.value,
                "timestamp": metric.timestamp if metric.timestamp is not None else stamp,
                "step": metric.step,
            }
            for metric in metrics
        ],
    )


async def log_batch(session: AsyncSession, caller: Caller, run_id: str, body: LogBatchRequest) -> None:
    """Metrics, params and tags in one transaction: all are written, or none."""
    if body.tags:
        row = await _locked(session, caller, run_id)
    else:
        row = await _authorized(session, caller, run_id, Role.EDITOR)
    await _log_params(session, row.run, body.params or [])
    await queries.set_tags(session, row.run, _last_values(body.tags or []))
    await _log_metrics(session, row.run, body.metrics or [])


async def delete_tag(session: AsyncSession, caller: Caller, run_id: str, key: str) -> None:
    row = await _locked(session, caller, run_id)
    if not await queries.delete_tag(session, row.run, key):
        raise NotFound(f"Run '{run_id}' has no tag '{key}'")


HISTORY_PAGE_POINTS = 10_000


async def authorize_history_read(session: AsyncSession, caller: Caller, run_id: str) -> None:
    await _authorized(session, caller, run_id, Role.VIEWER)


async def history_keys(session: AsyncSession, run_id: str, keys: list[str] | None) -> list[str]:
    """The requested keys once each, in the order given; absent, every key the run logged, in key order."""
    return list(dict.fromkeys(keys)) if keys is not None else await queries.metric_keys(session, run_id)


async def metric_history_pages(
    session: AsyncSession, run_id: str, key: str, step: int | None, page_points: int = HISTORY_PAGE_POINTS
) -> AsyncIterator[list[dict[str, Any]]]:
    """A metric's points ordered by (step, timestamp), in keyset pages: memory stays bounded by one page
    and each page is one index range, however many points the run holds."""
    after: tuple[int, int, int] | None = None
    while True:
        page = await queries.metric_history_page(session, run_id, key, step, after, page_points)
        if page:
            yield [{"key": key, "value": p.value, "timestamp": p.timestamp, "step": p.step} for p in page]
        if len(page) < page_points:
            return
        last = page[-1]
        after = (last.step, last.timestamp, last.id)


def _encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def _decode_token(token: str) -> int:
    try:
        offset = json.loads(base64.urlsafe_b64decode(token.encode()))["offset"]
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise Invalid.field(["page_token"], "is not a token this server issued") from exc
    if not isinstance(offset, int) or offset < 0:
        raise Invalid.field(["page_token"], "is not a token this server issued")
    return offset


async def search_runs(
    session: AsyncSession, settings: Settings, caller: Caller, body: SearchRunsRequest
) -> dict[str, Any]:
    comparisons = parse_filter(body.filter)
    orderings = parse_order_by(body.order_by)
    repo_ids: list[int] | None = None
    name = body.name

    def narrow(ids: list[int]) -> None:
        nonlocal repo_ids
        repo_ids = ids if repo_ids is None else [repo_id for repo_id in repo_ids if repo_id in ids]

    if body.experiment_ids is not None:
        narrow([parsed for parsed in map(parse_repo_id, body.experiment_ids) if parsed is not None])
    if body.experiment_id is not None:
        parsed = parse_repo_id(body.experiment_id)
        narrow([parsed] if parsed is not None else [])
    if body.ml_repo_name is not None:
        narrow(await queries.repo_ids_named(session, [body.ml_repo_name]))
    if body.fqn is not None:
        parts = body.fqn.split("/")
        if len(parts) != 3 or parts[0] != settings.tenant_name or (name is not None and name != parts[2]):
            return {"runs": [], "total": 0}
        narrow(await queries.repo_ids_named(session, [parts[1]]))
        name = parts[2]
    offset = body.offset or 0
    if body.page_token:
        offset = _decode_token(body.page_token)
    limit = body.max_results or 1000
    query = RunSearch(
        repo_ids=repo_ids,
        comparisons=comparisons,
        orderings=orderings,
        lifecycle_stages=VIEW_STAGES[body.run_view_type or "ACTIVE_ONLY"],
        name=name,
        offset=offset,
        limit=limit,
    )
    rows, total = await queries.search(session, repo_scope(caller), query)
    found = await queries.details(session, [row.run.id for row in rows])
    answer: dict[str, Any] = {
        "runs": [run_to_wire(settings, row, found[row.run.id]) for row in rows],
        "total": total,
    }
    if rows and offset + len(rows) < total:
        answer["next_page_token"] = _encode_token(offset + len(rows))
    return answer


async def log_metric(session: AsyncSession, caller: Caller, run_id: str, metric: MetricInput) -> None:
    row = await _authorized(session, caller, run_id, Role.EDITOR)
    await _log_metrics(session, row.run, [metric])


async def log_parameter(session: AsyncSession, caller: Caller, run_id: str, param: RunParamInput) -> None:
    row = await _authorized(session, caller, run_id, Role.EDITOR)
    await _log_params(session, row.run, [param])


async def set_tag(session: AsyncSession, caller: Caller, run_id: str, tag: RunTagInput) -> None:
    row = await _locked(session, caller, run_id)
    await queries.set_tags(session, row.run, {tag.key: tag.value})
