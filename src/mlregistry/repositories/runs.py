"""Runs: rows of a run with its params, tags, metric history and latest metric per key; the search query."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, delete, exists, func, not_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from mlregistry.orm import MlRepo, Run, RunLatestMetric, RunMetric, RunParam, RunTag
from mlregistry.repositories.access import Access, AccessScope
from mlregistry.repositories.versions import _insert
from mlregistry.services.run_filters import Comparison, Ordering


@dataclass
class RunRow:
    run: Run
    access: Access[MlRepo]


@dataclass
class RunDetails:
    params: list[tuple[str, str]]
    tags: list[tuple[str, str]]
    metrics: list[RunLatestMetric]


@dataclass
class RunSearch:
    repo_ids: list[int] | None
    comparisons: list[Comparison]
    orderings: list[Ordering]
    lifecycle_stages: list[str]
    name: str | None = None
    offset: int = 0
    limit: int = 1000


def _select(scope: AccessScope) -> Select[Any]:
    return select(Run, MlRepo, scope.rank_column(MlRepo.id)).join(MlRepo, MlRepo.id == Run.ml_repo_id)


def _rows(scope: AccessScope, result: Any) -> list[RunRow]:
    return [RunRow(run=row[0], access=scope.access(row[1], row[2])) for row in result.all()]


async def get_row(session: AsyncSession, scope: AccessScope, run_id: str) -> RunRow | None:
    rows = _rows(scope, await session.execute(_select(scope).where(Run.id == run_id)))
    return rows[0] if rows else None


async def find_by_name(session: AsyncSession, ml_repo_id: int, name: str) -> Run | None:
    return await session.scalar(select(Run).where(Run.ml_repo_id == ml_repo_id, Run.name == name))


async def add(session: AsyncSession, run: Run) -> None:
    session.add(run)
    await session.flush()


async def delete_run(session: AsyncSession, run_id: str) -> None:
    for table in (RunLatestMetric, RunMetric, RunParam, RunTag):
        await session.execute(delete(table).where(table.run_id == run_id))
    await session.execute(delete(Run).where(Run.id == run_id))


async def details(session: AsyncSession, run_ids: Sequence[str]) -> dict[str, RunDetails]:
    """Params, tags and latest metrics of several runs: one query per kind, whatever the count."""
    found = {run_id: RunDetails([], [], []) for run_id in run_ids}
    if not found:
        return found
    ids = list(found)
    for param in await session.execute(
        select(RunParam.run_id, RunParam.key, RunParam.value).where(RunParam.run_id.in_(ids)).order_by(RunParam.key)
    ):
        found[param[0]].params.append((param[1], param[2]))
    for tag in await session.execute(
        select(RunTag.run_id, RunTag.key, RunTag.value).where(RunTag.run_id.in_(ids)).order_by(RunTag.key)
    ):
        found[tag[0]].tags.append((tag[1], tag[2]))
    for metric in await session.scalars(
        select(RunLatestMetric).where(RunLatestMetric.run_id.in_(ids)).order_by(RunLatestMetric.key)
    ):
        found[metric.run_id].metrics.append(metric)
    return found


async def params_of(session: AsyncSession, run_id: str, keys: Sequence[str]) -> dict[str, str]:
    rows = await session.execute(
        select(RunParam.key, RunParam.value).where(RunParam.run_id == run_id, RunParam.key.in_(list(keys)))
    )
    return {row[0]: row[1] for row in rows}


async def add_params(session: AsyncSession, run_id: str, params: dict[str, str]) -> None:
    if params:
        statement = _insert(session)(RunParam).values(
            [{"run_id": run_id, "key": key, "value": value} for key, value in params.items()]
        )
        await session.execute(statement.on_conflict_do_nothing(index_elements=["run_id", "key"]))


async def set_tags(session: AsyncSession, run_id: str, tags: dict[str, str]) -> None:
    if tags:
        statement = _insert(session)(RunTag).values(
            [{"run_id": run_id, "key": key, "value": value} for key, value in tags.items()]
        )
        await session.execute(
            statement.on_conflict_do_update(index_elements=["run_id", "key"], set_={"value": statement.excluded.value})
        )


async def delete_tag(session: AsyncSession, run_id: str, key: str) -> int:
    result = await session.execute(delete(RunTag).where(RunTag.run_id == run_id, RunTag.key == key))
    return int(getattr(result, "rowcount", 0) or 0)


async def log_metrics(session: AsyncSession, run_id: str, points: list[dict[str, Any]]) -> None:
    """Append the points to the history, and keep the point of highest (step, timestamp) per key as latest."""
    if not points:
        return
    rows = [{"run_id": run_id, **point} for point in points]
    await session.execute(_insert(session)(RunMetric).values(rows))
    newest: dict[str, dict[str, Any]] = {}
    for point in points:
        held = newest.get(point["key"])
        if held is None or (point["step"], point["timestamp"]) >= (held["step"], held["timestamp"]):
            newest[point["key"]] = point
    statement = _insert(session)(RunLatestMetric).values([{"run_id": run_id, **point} for point in newest.values()])
    excluded = statement.excluded
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["run_id", "key"],
            set_={"value": excluded.value, "timestamp": excluded.timestamp, "step": excluded.step},
            where=tuple_(excluded.step, excluded.timestamp) >= tuple_(RunLatestMetric.step, RunLatestMetric.timestamp),
        )
    )


async def metric_history(
    session: AsyncSession, run_id: str, keys: Sequence[str] | None, step: int | None
) -> list[RunMetric]:
    conditions: list[Any] = [RunMetric.run_id == run_id]
    if keys is not None:
        conditions.append(RunMetric.key.in_(list(keys)))
    if step is not None:
        conditions.append(RunMetric.step == step)
    result = await session.scalars(
        select(RunMetric).where(*conditions).order_by(RunMetric.key, RunMetric.step, RunMetric.timestamp, RunMetric.id)
    )
    return list(result)


async def metrics_at_steps(
    session: AsyncSession, pairs: Sequence[tuple[str, int]]
) -> dict[tuple[str, int], list[RunMetric]]:
    """The history points of each (run, step): one query for a whole page of versions."""
    found: dict[tuple[str, int], list[RunMetric]] = {pair: [] for pair in pairs}
    if not found:
        return found
    run_ids = sorted({run_id for run_id, _ in found})
    steps = sorted({step for _, step in found})
    result = await session.scalars(
        select(RunMetric)
        .where(RunMetric.run_id.in_(run_ids), RunMetric.step.in_(steps))
        .order_by(RunMetric.run_id, RunMetric.key, RunMetric.step, RunMetric.timestamp, RunMetric.id)
    )
    latest: dict[tuple[str, int, str], RunMetric] = {}
    for metric in result:
        if (metric.run_id, metric.step) in found:
            latest[(metric.run_id, metric.step, metric.key)] = metric
    for (run_id, step, _key), metric in latest.items():
        found[(run_id, step)].append(metric)
    return found


def _attribute_column(key: str) -> Any:
    return {
        "status": Run.status,
        "name": Run.name,
        "start_time": Run.start_time,
        "end_time": Run.end_time,
        "run_id": Run.id,
        "lifecycle_stage": Run.lifecycle_stage,
        "description": Run.description,
    }[key]


def _compare(column: Any, operator: str, value: Any) -> Any:
    if operator == "=":
        return column == value
    if operator == "!=":
        return column != value
    if operator == "<":
        return column < value
    if operator == "<=":
        return column <= value
    if operator == ">":
        return column > value
    if operator == ">=":
        return column >= value
    if operator == "LIKE":
        return column.like(value)
    if operator == "NOT LIKE":
        return not_(column.like(value))
    if operator == "ILIKE":
        return func.lower(column).like(func.lower(value))
    if operator == "NOT ILIKE":
        return not_(func.lower(column).like(func.lower(value)))
    if operator == "IN":
        return column.in_(list(value))
    if operator == "NOT IN":
        return column.not_in(list(value))
    raise ValueError(operator)


def _condition(comparison: Comparison) -> Any:
    if comparison.kind == "attribute":
        return _compare(_attribute_column(comparison.key), comparison.operator, comparison.value)
    table: Any = {"metric": RunLatestMetric, "param": RunParam, "tag": RunTag}[comparison.kind]
    return exists().where(
        table.run_id == Run.id,
        table.key == comparison.key,
        _compare(table.value, comparison.operator, comparison.value),
    )


async def search(session: AsyncSession, scope: AccessScope, query: RunSearch) -> tuple[list[RunRow], int]:
    conditions: list[Any] = [Run.lifecycle_stage.in_(query.lifecycle_stages)]
    if query.repo_ids is not None:
        conditions.append(Run.ml_repo_id.in_(query.repo_ids))
    if query.name is not None:
        conditions.append(Run.name == query.name)
    conditions.extend(_condition(comparison) for comparison in query.comparisons)
    scoped = scope.clause(Run.ml_repo_id)
    if scoped is not None:
        conditions.append(scoped)
    statement = _select(scope).where(*conditions)
    order: list[Any] = []
    for ordering in query.orderings:
        if ordering.kind == "attribute":
            column = _attribute_column(ordering.key)
        else:
            table: Any = aliased({"metric": RunLatestMetric, "param": RunParam, "tag": RunTag}[ordering.kind])
            statement = statement.outerjoin(table, and_(table.run_id == Run.id, table.key == ordering.key))
            column = table.value
        order.append((column.desc() if ordering.descending else column.asc()).nulls_last())
    order.extend([Run.start_time.desc(), Run.id.desc()])
    page = _rows(scope, await session.execute(statement.order_by(*order).offset(query.offset).limit(query.limit)))
    total = await session.scalar(select(func.count()).select_from(Run).where(*conditions))
    return page, int(total or 0)


async def repo_ids_named(session: AsyncSession, names: Sequence[str]) -> list[int]:
    return list(await session.scalars(select(MlRepo.id).where(MlRepo.name.in_(list(names)))))
