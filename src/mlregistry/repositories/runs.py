"""Runs: rows of a run with its params, tags, metric history and latest metric per key; the search query."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, delete, exists, false, func, insert, not_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from mlregistry.orm import MlRepo, Run, RunCount, RunLatestMetric, RunMetric, RunParam, RunTag, RunTagCount
from mlregistry.orm.runs import TAG_INDEXED_PREFIX, tag_value_prefix
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
    """Runs with the caller's rank on their repo, for a page; its repos are read after it (`_page_rows`):
    joined here, SQLite makes the few repo rows the outer loop and can no longer read a page in the order of
    the index it walks."""
    return select(Run, scope.rank_column(Run.ml_repo_id))


async def _page_rows(session: AsyncSession, scope: AccessScope, result: Any) -> list[RunRow]:
    found = result.all()
    if not found:
        return []
    repo_ids = sorted({row[0].ml_repo_id for row in found})
    repos = {repo.id: repo for repo in await session.scalars(select(MlRepo).where(MlRepo.id.in_(repo_ids)))}
    return [RunRow(run=row[0], access=scope.access(repos[row[0].ml_repo_id], row[1])) for row in found]


async def get_row(session: AsyncSession, scope: AccessScope, run_id: str) -> RunRow | None:
    """One run with its repo: one indexed round trip."""
    statement = (
        select(Run, MlRepo, scope.rank_column(MlRepo.id))
        .join(MlRepo, MlRepo.id == Run.ml_repo_id)
        .where(Run.id == run_id)
    )
    row = (await session.execute(statement)).first()
    return RunRow(run=row[0], access=scope.access(row[1], row[2])) if row else None


async def find_by_name(session: AsyncSession, ml_repo_id: int, name: str) -> Run | None:
    return await session.scalar(select(Run).where(Run.ml_repo_id == ml_repo_id, Run.name == name))


async def add(session: AsyncSession, run: Run) -> None:
    session.add(run)
    await session.flush()
    await _count_active(session, run.ml_repo_id, 1)


async def _count_active(session: AsyncSession, ml_repo_id: int, change: int) -> None:
    statement = _insert(session)(RunCount).values(ml_repo_id=ml_repo_id, active=max(change, 0))
    await session.execute(
        statement.on_conflict_do_update(index_elements=["ml_repo_id"], set_={"active": RunCount.active + change})
    )


async def recount_runs(session: AsyncSession, ml_repo_id: int) -> None:
    """Set the repo's kept count from its rows (after runs were written without `add`, as an import does)."""
    counted = select(func.count()).select_from(Run).where(Run.ml_repo_id == ml_repo_id, Run.lifecycle_stage == "active")
    statement = _insert(session)(RunCount).values(ml_repo_id=ml_repo_id, active=counted.scalar_subquery())
    await session.execute(
        statement.on_conflict_do_update(index_elements=["ml_repo_id"], set_={"active": statement.excluded.active})
    )


async def lock_run(session: AsyncSession, run_id: str) -> bool:
    """Hold the run's row lock until commit (writers of one run's tags take turns, so the kept tag counts
    follow every change); False when the run is gone. SQLite writers hold the database lock already."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    return await session.scalar(select(Run.id).where(Run.id == run_id).with_for_update()) is not None


async def delete_run(session: AsyncSession, run: Run) -> None:
    """Remove the run and its rows; the caller holds the run's lock (`lock_run`)."""
    dropped = await session.execute(delete(RunTag).where(RunTag.run_id == run.id).returning(RunTag.key, RunTag.value))
    if run.lifecycle_stage == "active":
        await _count_tags(session, run.ml_repo_id, [(key, value, -1) for key, value in dropped.all()])
    for table in (RunLatestMetric, RunMetric, RunParam):
        await session.execute(delete(table).where(table.run_id == run.id))
    await session.execute(delete(Run).where(Run.id == run.id))
    if run.lifecycle_stage == "active":
        await _count_active(session, run.ml_repo_id, -1)


def within_tag_prefix(value: object) -> bool:
    """Whether a tag value is shorter than the indexed prefix: equal exactly when its prefix is (the index
    alone answers it), and held by the kept (repo, key, value) counts."""
    return len(str(value)) < TAG_INDEXED_PREFIX


def _values(comparison: Comparison) -> tuple[Any, ...]:
    """The compared values: the list of an IN, else the one value."""
    return comparison.value if isinstance(comparison.value, tuple) else (comparison.value,)


async def _count_tags(session: AsyncSession, ml_repo_id: int, changes: Sequence[tuple[str, str, int]]) -> None:
    """Add each (key, value, change) to the repo's kept tag counts, in one statement."""
    summed: dict[tuple[str, str], int] = {}
    for key, value, change in changes:
        if within_tag_prefix(value):
            summed[(key, value)] = summed.get((key, value), 0) + change
    rows = [
        {"ml_repo_id": ml_repo_id, "key": key, "value": value, "runs": change}
        for (key, value), change in sorted(summed.items())
        if change
    ]
    if rows:
        statement = _insert(session)(RunTagCount).values(rows)
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=["ml_repo_id", "key", "value"], set_={"runs": RunTagCount.runs + statement.excluded.runs}
            )
        )


async def recount_tags(session: AsyncSession, ml_repo_id: int) -> None:
    """Set the repo's kept tag counts from its rows (after tags were written in bulk, as an import does)."""
    await session.execute(delete(RunTagCount).where(RunTagCount.ml_repo_id == ml_repo_id))
    counted = (
        select(RunTag.ml_repo_id, RunTag.key, RunTag.value, func.count())
        .join(Run, Run.id == RunTag.run_id)
        .where(
            RunTag.ml_repo_id == ml_repo_id,
            Run.lifecycle_stage == "active",
            func.length(RunTag.value) < TAG_INDEXED_PREFIX,
        )
        .group_by(RunTag.ml_repo_id, RunTag.key, RunTag.value)
    )
    await session.execute(insert(RunTagCount).from_select(["ml_repo_id", "key", "value", "runs"], counted))


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


async def add_params(session: AsyncSession, run_id: str, ml_repo_id: int, params: dict[str, str]) -> None:
    if params:
        statement = _insert(session)(RunParam).values(
            [{"run_id": run_id, "ml_repo_id": ml_repo_id, "key": key, "value": value} for key, value in params.items()]
        )
        await session.execute(statement.on_conflict_do_nothing(index_elements=["run_id", "key"]))


async def set_tags(session: AsyncSession, run: Run, tags: dict[str, str]) -> None:
    """Write the tags (a key's new value replaces its old one) and move the kept counts with them; the
    caller holds the run's lock (`lock_run`), so that the values read here are the ones replaced."""
    if not tags:
        return
    held = await session.execute(
        select(RunTag.key, RunTag.value).where(RunTag.run_id == run.id, RunTag.key.in_(list(tags)))
    )
    previous = {row[0]: row[1] for row in held}
    statement = _insert(session)(RunTag).values(
        [{"run_id": run.id, "ml_repo_id": run.ml_repo_id, "key": key, "value": value} for key, value in tags.items()]
    )
    await session.execute(
        statement.on_conflict_do_update(index_elements=["run_id", "key"], set_={"value": statement.excluded.value})
    )
    if run.lifecycle_stage == "active":
        moved = {key: value for key, value in tags.items() if previous.get(key) != value}
        changes = [(key, value, 1) for key, value in moved.items()]
        changes += [(key, previous[key], -1) for key in moved if key in previous]
        await _count_tags(session, run.ml_repo_id, changes)


async def delete_tag(session: AsyncSession, run: Run, key: str) -> bool:
    """Whether the run had the tag; the caller holds the run's lock (`lock_run`)."""
    dropped = await session.execute(
        delete(RunTag).where(RunTag.run_id == run.id, RunTag.key == key).returning(RunTag.value)
    )
    values = list(dropped.scalars())
    if values and run.lifecycle_stage == "active":
        await _count_tags(session, run.ml_repo_id, [(key, values[0], -1)])
    return bool(values)


async def log_metrics(session: AsyncSession, run_id: str, ml_repo_id: int, points: list[dict[str, Any]]) -> None:
    """Append the points to the history, and keep the point of highest (step, timestamp) per key as latest
    (with the run's repo, which the search index of latest values leads with)."""
    if not points:
        return
    rows = [{"run_id": run_id, **point} for point in points]
    await session.execute(_insert(session)(RunMetric).values(rows))
    newest: dict[str, dict[str, Any]] = {}
    for point in points:
        held = newest.get(point["key"])
        if held is None or (point["step"], point["timestamp"]) >= (held["step"], held["timestamp"]):
            newest[point["key"]] = point
    statement = _insert(session)(RunLatestMetric).values(
        [{"run_id": run_id, "ml_repo_id": ml_repo_id, **point} for point in newest.values()]
    )
    excluded = statement.excluded
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["run_id", "key"],
            set_={"value": excluded.value, "timestamp": excluded.timestamp, "step": excluded.step},
            where=tuple_(excluded.step, excluded.timestamp) >= tuple_(RunLatestMetric.step, RunLatestMetric.timestamp),
        )
    )


async def metric_keys(session: AsyncSession, run_id: str) -> list[str]:
    """The keys the run has logged (each has a latest point), in key order."""
    return list(
        await session.scalars(
            select(RunLatestMetric.key).where(RunLatestMetric.run_id == run_id).order_by(RunLatestMetric.key)
        )
    )


@dataclass(frozen=True)
class HistoryPoint:
    value: float
    timestamp: int
    step: int
    id: int


async def metric_history_page(
    session: AsyncSession,
    run_id: str,
    key: str,
    step: int | None,
    after: tuple[int, int, int] | None,
    limit: int,
) -> list[HistoryPoint]:
    """Up to `limit` points of one metric after `after` (step, timestamp, id), in that order: one range of
    the (run_id, key, step, timestamp, id) index, however long the history is. Plain rows, not ORM objects:
    a long history is read as fast as the driver delivers it."""
    conditions: list[Any] = [RunMetric.run_id == run_id, RunMetric.key == key]
    if step is not None:
        conditions.append(RunMetric.step == step)
    if after is not None:
        conditions.append(tuple_(RunMetric.step, RunMetric.timestamp, RunMetric.id) > tuple_(*after))
    result = await session.execute(
        select(RunMetric.value, RunMetric.timestamp, RunMetric.step, RunMetric.id)
        .where(*conditions)
        .order_by(RunMetric.step, RunMetric.timestamp, RunMetric.id)
        .limit(limit)
    )
    return [HistoryPoint(*row) for row in result.all()]


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


def _in(column: Any, values: Sequence[Any]) -> Any:
    """`column = v` for one value (which the planner treats as a constant of the index), else IN."""
    return column == values[0] if len(values) == 1 else column.in_(list(values))


def _key_conditions(table: Any, comparison: Comparison, repo_ids: Sequence[int] | None) -> list[Any]:
    """A metric, param or tag comparison as conditions on the rows of its key table: within given repos, one
    range of the (ml_repo_id, key, value...) index."""
    conditions = [table.key == comparison.key]
    if repo_ids:
        conditions.append(_in(table.ml_repo_id, repo_ids))  # one range of (ml_repo_id, key, value[ prefix])
    values = _values(comparison)
    if comparison.kind == "tag" and comparison.operator in ("=", "IN"):
        # Through the (repo, key, value prefix, run_id) index. Values shorter than the prefix are equal exactly
        # when their prefixes are, which the index alone answers; longer ones are compared whole as well.
        conditions.append(_in(tag_value_prefix(table.value), [str(value)[:TAG_INDEXED_PREFIX] for value in values]))
        if not all(within_tag_prefix(value) for value in values):
            conditions.append(_compare(table.value, comparison.operator, comparison.value))
    else:
        conditions.append(_compare(table.value, comparison.operator, comparison.value))
    return conditions


def _condition(comparison: Comparison, repo_ids: Sequence[int] | None, probed: bool = False) -> Any:
    """The filter as SQL. Within given repos, a metric, param or tag comparison is `runs.id IN (the run ids
    of one range of the (ml_repo_id, key, value...) index)`: a planner may start from that set (SQLite, which
    does not turn a correlated EXISTS into a join, would otherwise visit every run of the repo and probe
    each). Across all repos, or when `probed` (another set drives, or the page walks an ordered index and
    most of what it walks matches), it is an EXISTS probed per run by the (run_id, key) primary key."""
    if comparison.kind == "attribute":
        return _compare(_attribute_column(comparison.key), comparison.operator, comparison.value)
    table: Any = _key_table(comparison.kind)
    conditions = _key_conditions(table, comparison, repo_ids)
    if repo_ids and not probed:
        return Run.id.in_(select(table.run_id).where(*conditions))
    return exists().where(table.run_id == Run.id, *conditions)


# Comparisons whose rows are one range of their key's value index, which an estimate reads up to its cap.
_RANGED = ("=", "IN", "<", "<=", ">", ">=")
_ESTIMATE_CAP = 10_000  # beyond it a set is dense whatever the page: walking is as cheap as reading the set


async def _estimate(session: AsyncSession, group: Sequence[Comparison], repo_ids: Sequence[int], cap: int) -> int:
    """How many rows of its key's index the comparisons on one key select, counted up to `cap` by the index
    alone; a comparison that is no range of the index (`!=`, LIKE) counts as `cap`."""
    if any(comparison.operator not in _RANGED for comparison in group):
        return cap
    table: Any = _key_table(group[0].kind)
    conditions = [condition for comparison in group for condition in _key_conditions(table, comparison, repo_ids)]
    capped = select(table.run_id).where(*conditions).limit(cap).subquery()
    return int(await session.scalar(select(func.count()).select_from(capped)) or 0)


@dataclass
class _Plan:
    """Which key comparisons a page and a count probe per run (EXISTS) rather than start from (IN)."""

    page: list[Comparison]
    count: list[Comparison]


async def _plan(session: AsyncSession, query: RunSearch, on_lead: list[Comparison], others: list[Comparison]) -> _Plan:
    """Start from the smallest set. Each metric, param or tag comparison selects one range of an index, and
    the comparisons on the page's first ordering (`on_lead`) bound the walk of that ordering's index; each is
    estimated by reading its range up to a cap, the smallest drives (IN, or the bounded walk) and the others
    are probed per run by primary key. SQLite would otherwise start from whichever IN set it meets, the
    20,000 runs of a tag rather than the 100 of a metric range. The cap is where walking the page's order
    and probing costs what starting from the set and sorting it does: the walk reads about (offset + limit) *
    runs / matches rows, the set reads its matches, so a lone filter that reaches sqrt((offset + limit) *
    runs) is probed along the walk. The count starts from the smallest set too."""
    keyed = [comparison for comparison in others if comparison.kind != "attribute"]
    lone = not on_lead and len(keyed) == 1
    if not query.repo_ids or not keyed or (lone and len(query.comparisons) > 1):
        return _Plan(page=[], count=[])  # one set at most, or a lone one beside attribute filters: it drives
    runs = await _active_runs(session, query.repo_ids)
    cap = min(_ESTIMATE_CAP, int(((query.offset + query.limit) * runs) ** 0.5) + 1)
    groups: list[list[Comparison]] = ([on_lead] if on_lead else []) + [[comparison] for comparison in keyed]
    sizes = [await _estimate(session, group, query.repo_ids, cap) for group in groups]
    if lone:  # walk the page's order when the filter is dense, start from it when not
        return _Plan(page=keyed if sizes[0] >= cap else [], count=[])
    driving = groups[min(range(len(groups)), key=sizes.__getitem__)]  # the lead's walk first among equals
    probed = [comparison for comparison in keyed if comparison not in driving]
    return _Plan(page=probed, count=probed)


def _key_table(kind: str) -> Any:
    return {"metric": RunLatestMetric, "param": RunParam, "tag": RunTag}[kind]


def _ordered(statement: Select[Any], orderings: Sequence[Ordering]) -> tuple[Select[Any], list[Any]]:
    """Outer-join the key of each ordering; runs without the key sort last; ties go newest first."""
    order: list[Any] = []
    for ordering in orderings:
        if ordering.kind == "attribute":
            column = _attribute_column(ordering.key)
        else:
            table = aliased(_key_table(ordering.kind))
            statement = statement.outerjoin(table, and_(table.run_id == Run.id, table.key == ordering.key))
            column = table.value
        order.append((column.desc() if ordering.descending else column.asc()).nulls_last())
    order.extend([Run.start_time.desc(), Run.id.desc()])
    return statement, order


def _counted_tag_filter(query: RunSearch) -> Comparison | None:
    """The search's one filter when it is a tag equality the kept tag counts answer (`tags.k = 'v'`, or IN)."""
    if len(query.comparisons) != 1 or query.repo_ids is None:
        return None
    comparison = query.comparisons[0]
    if comparison.kind != "tag" or comparison.operator not in ("=", "IN"):
        return None
    return comparison if all(isinstance(v, str) and within_tag_prefix(v) for v in _values(comparison)) else None


def _kept_only(query: RunSearch) -> bool:
    """Whether the kept counts hold the search's total: active runs, not narrowed by name."""
    return query.name is None and query.lifecycle_stages == ["active"]


async def _active_runs(session: AsyncSession, repo_ids: Sequence[int]) -> int:
    """The kept count of active runs in the repos."""
    counted = select(func.coalesce(func.sum(RunCount.active), 0)).where(_in(RunCount.ml_repo_id, repo_ids))
    return int(await session.scalar(counted) or 0)


async def _total(session: AsyncSession, scope: AccessScope, query: RunSearch, conditions: list[Any]) -> int:
    """How many runs match. Without a filter, the kept per-repo counts of the readable repos asked for
    (one row a repo); with one tag equality, the kept counts of that (key, value) in those repos; with
    other filters, a count of the matching runs, which the filters' indexes select."""
    kept_only = _kept_only(query)
    tag = _counted_tag_filter(query) if kept_only else None
    if (query.comparisons and tag is None) or not kept_only:
        return int(await session.scalar(select(func.count()).select_from(Run).where(*conditions)) or 0)
    table: Any = RunTagCount if tag is not None else RunCount
    kept: list[Any] = []
    if query.repo_ids is not None:
        kept.append(_in(table.ml_repo_id, query.repo_ids) if query.repo_ids else false())
    scoped = scope.clause(table.ml_repo_id)
    if scoped is not None:
        kept.append(scoped)
    if tag is not None:
        kept.extend([RunTagCount.key == tag.key, _in(RunTagCount.value, sorted(set(_values(tag))))])
    counted = RunTagCount.runs if tag is not None else RunCount.active
    return int(await session.scalar(select(func.coalesce(func.sum(counted), 0)).where(*kept)) or 0)


async def search(session: AsyncSession, scope: AccessScope, query: RunSearch) -> tuple[list[RunRow], int]:
    """A page of the runs that match, and how many match (counted only when the page does not tell).

    Ordered first by a metric, param or tag, the page is read in two parts: the runs that have the key,
    joined (not outer-joined) so that the planner walks an index in value order and stops at the page,
    and, only when that part ends within the page, the runs without the key, which sort last. Filters on
    the order's key (`metrics.rmse < 1` ordered by `metrics.rmse`) bound that walk: they are conditions
    of the joined row, a range of the same index, and no run without the key can match them."""
    common: list[Any] = [_in(Run.lifecycle_stage, query.lifecycle_stages)]
    if query.repo_ids is not None:
        common.append(_in(Run.ml_repo_id, query.repo_ids) if query.repo_ids else false())
    if query.name is not None:
        common.append(Run.name == query.name)
    scoped = scope.clause(Run.ml_repo_id)
    if scoped is not None:
        common.append(scoped)
    lead = query.orderings[0] if query.orderings and query.orderings[0].kind != "attribute" else None
    on_lead = [c for c in query.comparisons if lead is not None and (c.kind, c.key) == (lead.kind, lead.key)]
    others = [c for c in query.comparisons if c not in on_lead]
    tag = _counted_tag_filter(query) if _kept_only(query) else None
    if tag is not None and not on_lead:
        # One tag equality: its exact total is a kept row, read first. When the tag is dense enough that a walk
        # of the page's ordered index meets a page of matches sooner than the tag's index range ends, the
        # page walks that index and probes the tag per run (SQLite otherwise starts from all the tag's runs
        # and sorts them: 20,000 runs of a 100,000-run repo, 71 ms against 3 ms); a rarer tag drives.
        total = await _total(session, scope, query, [])
        if total == 0 or query.offset >= total:
            return [], total
        walked = (query.offset + query.limit) * await _active_runs(session, query.repo_ids or []) / total
        probed = [_condition(tag, query.repo_ids, probed=walked <= total)]
        return await _page(session, scope, query, common + probed, []), total
    plan = await _plan(session, query, on_lead, others)
    page_conditions = common + [_condition(c, query.repo_ids, probed=c in plan.page) for c in others]
    page = await _page(session, scope, query, page_conditions, on_lead)
    if query.offset == 0 and len(page) < query.limit:
        return page, len(page)
    if page and len(page) < query.limit:
        return page, query.offset + len(page)
    conditions = common + [_condition(c, query.repo_ids, probed=c in plan.count) for c in query.comparisons]
    return page, await _total(session, scope, query, conditions)


async def _page(
    session: AsyncSession, scope: AccessScope, query: RunSearch, conditions: list[Any], on_lead: list[Comparison]
) -> list[RunRow]:
    """`on_lead`: the comparisons on the first ordering's key, which `conditions` leave out."""
    base = _select(scope).where(*conditions)
    if not query.orderings or query.orderings[0].kind == "attribute":
        statement, order = _ordered(base, query.orderings)
        result = await session.execute(statement.order_by(*order).offset(query.offset).limit(query.limit))
        return await _page_rows(session, scope, result)
    first, rest = query.orderings[0], query.orderings[1:]
    table: Any = aliased(_key_table(first.kind))  # an alias: filters' subqueries on the same table stay theirs
    joined = [table.run_id == Run.id, table.key == first.key]
    if query.repo_ids:
        joined.append(_in(table.ml_repo_id, query.repo_ids))
    joined.extend(_compare(table.value, comparison.operator, comparison.value) for comparison in on_lead)
    having, order = _ordered(base.join(table, and_(*joined)), rest)
    lead = table.value.desc() if first.descending else table.value.asc()
    page = await _page_rows(
        session,
        scope,
        await session.execute(having.order_by(lead, *order).offset(query.offset).limit(query.limit)),
    )
    if len(page) == query.limit or on_lead:
        return page
    if page:
        with_key = query.offset + len(page)
    else:
        counted = select(func.count()).select_from(Run).join(table, and_(*joined)).where(*conditions)
        with_key = int(await session.scalar(counted) or 0)
    lacking, order = _ordered(base.where(~exists().where(table.run_id == Run.id, table.key == first.key)), rest)
    page += await _page_rows(
        session,
        scope,
        await session.execute(
            lacking.order_by(*order).offset(max(0, query.offset - with_key)).limit(query.limit - len(page))
        ),
    )
    return page


async def repo_ids_named(session: AsyncSession, names: Sequence[str]) -> list[int]:
    return list(await session.scalars(select(MlRepo.id).where(MlRepo.name.in_(list(names)))))
