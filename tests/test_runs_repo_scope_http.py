"""Param and tag filters of a repo see that repo's runs only, and the `total` of a tag equality (read from
the kept per-repo counts) stays exact after every kind of tag change: set, overwrite, delete, batch, run
delete, concurrent writers, an import, and rows written before the counts existed (the migration)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic import command

from mlregistry.auth.subject import SYSTEM_CALLER
from mlregistry.repositories.database import create_database
from mlregistry.repositories.migrations import alembic_config
from mlregistry.schemas.runs import RunTagInput
from mlregistry.services import runs
from mlregistry.settings import Settings
from tests.factories import create_repo
from tests.live import LiveServer, LiveUser
from tests.processes import cli_env, run_cli, serving

API = "/api/svc/v1"
TOKEN = "tfy_runs_repo_scope_token_0123456789"


def _search(client: httpx.Client, repo_id: str, filter_: str, **body: Any) -> dict[str, Any]:
    request = {"experiment_ids": [repo_id], "filter": filter_, "run_view_type": "ACTIVE_ONLY", **body}
    response = client.post(f"{API}/runs/search", json=request)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _run(client: httpx.Client, repo_id: str, name: str, **body: Any) -> str:
    response = client.post(f"{API}/runs", json={"experiment_id": repo_id, "name": name, **body})
    assert response.status_code == 200, response.text
    return str(response.json()["run"]["info"]["run_id"])


def _set_tag(client: httpx.Client, run_id: str, key: str, value: str) -> None:
    response = client.put(f"{API}/runs/{run_id}/tags", json={"key": key, "value": value})
    assert response.status_code == 200, response.text


def _counted(client: httpx.Client, repo_id: str, filter_: str) -> tuple[int, int]:
    """(total of a one-run page, which the server does not learn from the page; the runs that match)."""
    paged = _search(client, repo_id, filter_, max_results=1)
    whole = _search(client, repo_id, filter_, max_results=1000)
    assert whole["total"] == len(whole["runs"])
    return paged["total"], len(whole["runs"])


def _assert_totals(client: httpx.Client, repo_id: str, *filters: str) -> None:
    for filter_ in filters:
        total, matching = _counted(client, repo_id, filter_)
        assert total == matching, (filter_, total, matching)


def test_param_and_tag_filters_see_only_the_repos_asked_for(server: LiveServer, user: LiveUser) -> None:
    with server.client(user) as client:
        first, second = create_repo(client)["id"], create_repo(client)["id"]
        for repo_id, count in ((first, 2), (second, 3)):
            for index in range(count):
                run_id = _run(client, repo_id, f"r{index}", tags=[{"key": "team", "value": "a"}])
                params = {"params": [{"key": "model_class", "value": "LogisticRegression"}]}
                assert client.post(f"{API}/runs/{run_id}/batch", json=params).status_code == 200
        for filter_ in ("params.model_class = 'LogisticRegression'", "tags.team = 'a'"):
            assert _search(client, first, filter_)["total"] == 2
            assert _search(client, second, filter_, max_results=1)["total"] == 3
            both = {"experiment_ids": [first, second], "filter": filter_, "max_results": 2}
            response = client.post(f"{API}/runs/search", json=both)
            assert response.json()["total"] == 5 and len(response.json()["runs"]) == 2
            ordered = _search(client, first, filter_, order_by=["params.model_class"])
            assert {run["info"]["experiment_id"] for run in ordered["runs"]} == {first}
        in_filter = "tags.team IN ('a', 'b')"
        assert _search(client, second, in_filter, max_results=1)["total"] == 3


def test_tag_totals_stay_exact_through_every_change(server: LiveServer, user: LiveUser) -> None:
    with server.client(user) as client:
        repo_id = create_repo(client)["id"]
        runs = [_run(client, repo_id, f"r{index}", tags=[{"key": "team", "value": "a"}]) for index in range(6)]
        filters = ("tags.team = 'a'", "tags.team = 'b'", "tags.team IN ('a', 'b')", "tags.stage = 'prod'")
        _assert_totals(client, repo_id, *filters)
        _set_tag(client, runs[0], "team", "b")  # overwrite: a -1, b +1
        _set_tag(client, runs[1], "team", "a")  # the same value again: no change
        _set_tag(client, runs[2], "stage", "prod")  # a new key
        _assert_totals(client, repo_id, *filters)
        assert _counted(client, repo_id, "tags.team = 'a'") == (5, 5)
        batch = {
            "tags": [{"key": "team", "value": "b"}, {"key": "team", "value": "a"}, {"key": "stage", "value": "prod"}]
        }
        assert client.post(f"{API}/runs/{runs[3]}/batch", json=batch).status_code == 200  # the last value wins
        deleted = client.post(f"{API}/runs/{runs[4]}/tags/delete", json={"key": "team"})
        assert deleted.status_code == 200, deleted.text
        missing = client.post(f"{API}/runs/{runs[4]}/tags/delete", json={"key": "team"})
        assert missing.status_code == 404
        assert client.delete(f"{API}/runs/{runs[5]}").status_code == 200
        _assert_totals(client, repo_id, *filters)
        assert _counted(client, repo_id, "tags.team = 'a'") == (3, 3)
        assert _counted(client, repo_id, "tags.stage = 'prod'") == (2, 2)
        # A value longer than the counted prefix is counted from the matching runs.
        long_value = "x" * 300
        _set_tag(client, runs[1], "note", long_value)
        _assert_totals(client, repo_id, f"tags.note = '{long_value}'")


def test_concurrent_tag_writers_of_one_run_keep_the_counts_exact(server: LiveServer, user: LiveUser) -> None:
    with server.client(user) as client:
        repo_id = create_repo(client)["id"]
        runs = [_run(client, repo_id, f"r{index}") for index in range(2)]

    def write(index: int) -> None:
        with server.client(user) as writer:
            for step in range(6):
                run_id = runs[(index + step) % len(runs)]
                _set_tag(writer, run_id, "team", "abc"[(index + step) % 3])
                if (index + step) % 7 == 6:
                    writer.post(f"{API}/runs/{run_id}/tags/delete", json={"key": "team"})

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(write, range(32)))
    with server.client(user) as client:
        _assert_totals(client, repo_id, "tags.team = 'a'", "tags.team = 'b'", "tags.team = 'c'")


def test_rows_written_before_the_migration_carry_their_repo_and_counts(tmp_path: Path, database_url: str) -> None:
    env = cli_env(tmp_path, database_url, MLREGISTRY_BOOTSTRAP_TOKEN=TOKEN)
    assert run_cli(["db", "upgrade"], env).returncode == 0
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with serving(env) as url, httpx.Client(base_url=url, headers=headers) as client:
        repos = [create_repo(client)["id"] for _ in range(2)]
        for repo_id in repos:
            for index in range(3):
                run_id = _run(client, repo_id, f"r{index}")
                body = {"params": [{"key": "p", "value": "v"}], "tags": [{"key": "team", "value": "ab"[index % 2]}]}
                assert client.post(f"{API}/runs/{run_id}/batch", json=body).status_code == 200
    # Back to the schema before params and tags carried their repo (the rows stay, without it), then up again.
    settings = Settings(database_url=database_url, data_dir=tmp_path, secret_key="x" * 40)
    command.downgrade(alembic_config(settings), "0014")
    command.upgrade(alembic_config(settings), "heads")
    with serving(env) as url, httpx.Client(base_url=url, headers=headers) as client:
        for repo_id in repos:
            assert _counted(client, repo_id, "tags.team = 'a'") == (2, 2)
            assert _counted(client, repo_id, "params.p = 'v'") == (3, 3)
            found = _search(client, repo_id, "params.p = 'v'")
            assert {run["info"]["experiment_id"] for run in found["runs"]} == {repo_id}


def test_a_tag_writer_waits_for_the_one_holding_the_run(tmp_path: Path, database_url: str) -> None:
    """Two transactions write the same run's tag: the second reads the value the first wrote (it waits for
    the run's lock), so the counts follow both changes; without the lock it would read the value both replace.
    SQLite has one writer at a time by the database's own lock (BEGIN IMMEDIATE): there is nothing to race."""
    if database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL row locks")
    env = cli_env(tmp_path, database_url, MLREGISTRY_BOOTSTRAP_TOKEN=TOKEN)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with serving(env) as url, httpx.Client(base_url=url, headers=headers) as client:
        repo_id = create_repo(client)["id"]
        run_id = _run(client, repo_id, "r", tags=[{"key": "team", "value": "x"}])
        for name, value in (("other-x", "x"), ("other-a", "a")):  # full pages: totals come from the counts
            _run(client, repo_id, name, tags=[{"key": "team", "value": value}])
    settings = Settings(database_url=database_url, data_dir=tmp_path, secret_key="x" * 40)

    async def race() -> None:
        database = create_database(settings)
        try:
            async with database.session(write=True) as first, database.session(write=True) as second:
                await runs.set_tag(first, SYSTEM_CALLER, run_id, RunTagInput(key="team", value="a"))
                waiting = asyncio.create_task(
                    runs.set_tag(second, SYSTEM_CALLER, run_id, RunTagInput(key="team", value="b"))
                )
                await asyncio.sleep(0.5)
                assert not waiting.done()  # held by the first writer's lock
                await first.commit()
                await waiting
                await second.commit()
        finally:
            await database.dispose()

    asyncio.run(race())
    with serving(env) as url, httpx.Client(base_url=url, headers=headers) as client:
        _assert_totals(client, repo_id, "tags.team = 'x'", "tags.team = 'a'", "tags.team = 'b'")
        assert [_counted(client, repo_id, f"tags.team = '{value}'") for value in "xab"] == [(1, 1)] * 3


def test_a_search_reads_while_a_writer_holds_the_sqlite_database(tmp_path: Path, database_url: str) -> None:
    """`POST /runs/search` and `/metrics/list` only read: they answer while another process holds SQLite's
    write lock, instead of queueing behind it as writers do."""
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's database write lock")
    env = cli_env(tmp_path, database_url, MLREGISTRY_BOOTSTRAP_TOKEN=TOKEN)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with serving(env) as url, httpx.Client(base_url=url, headers=headers, timeout=10) as client:
        repo_id = create_repo(client)["id"]
        run_id = _run(client, repo_id, "r", tags=[{"key": "team", "value": "a"}])
        holder = sqlite3.connect(database_url.split(":///", 1)[1], isolation_level=None)
        try:
            holder.execute("BEGIN IMMEDIATE")
            started = time.monotonic()
            assert _search(client, repo_id, "tags.team = 'a'")["total"] == 1
            listed = client.post(f"{API}/runs/{run_id}/metrics/list", json={})
            assert listed.status_code == 200, listed.text
            assert time.monotonic() - started < 5  # the server's busy timeout for a writer is 30 s
            with pytest.raises(httpx.ReadTimeout):  # while a writer waits for the lock, as it should
                client.put(f"{API}/runs/{run_id}/tags", json={"key": "team", "value": "b"}, timeout=1)
        finally:
            holder.execute("ROLLBACK")
            holder.close()


def test_tag_filter_pages_are_the_filtered_newest_first_list_dense_or_rare(server: LiveServer, user: LiveUser) -> None:
    """A dense tag's page walks the newest-first index and probes the tag; a rare one starts from the tag's
    runs: at every offset both give the slice of the unfiltered order that carries the tag, and the total."""
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {user.token}"}) as client:
        repo_id = str(create_repo(client)["id"])
        teams = {}
        for index in range(12):
            team = "b" if index in (3, 7) else "a"
            teams[_run(client, repo_id, f"r{index}", tags=[{"key": "team", "value": team}])] = team
        gone = next(run_id for run_id, team in teams.items() if team == "a")
        assert client.delete(f"{API}/runs/{gone}").status_code == 200
        del teams[gone]
        newest_first = [run["info"]["run_id"] for run in _search(client, repo_id, "", max_results=100)["runs"]]
        assert sorted(newest_first) == sorted(teams)
        for team in ("a", "b", "c"):
            expected = [run_id for run_id in newest_first if teams[run_id] == team]
            for offset in range(len(expected) + 2):
                page = _search(client, repo_id, f"tags.team = '{team}'", max_results=3, offset=offset)
                assert [run["info"]["run_id"] for run in page["runs"]] == expected[offset : offset + 3], (team, offset)
                assert page["total"] == len(expected)
            by_name = _search(client, repo_id, f"tags.team = '{team}'", max_results=3, order_by=["name DESC"])
            names = sorted((name for name, run_id in _names(client, repo_id).items() if teams[run_id] == team))
            assert [run["info"]["name"] for run in by_name["runs"]] == names[::-1][:3]


def _names(client: httpx.Client, repo_id: str) -> dict[str, str]:
    return {run["info"]["name"]: run["info"]["run_id"] for run in _search(client, repo_id, "")["runs"]}


def test_combined_filters_give_the_filtered_order_whichever_set_drives(server: LiveServer, user: LiveUser) -> None:
    """Each filter's set is estimated and the smallest drives while the others are probed per run; a lone
    dense filter is probed along the page's order. Whichever way a query goes, every offset's page is the
    slice of the unfiltered order that matches, and the total is exact (after a run is deleted, too)."""
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {user.token}"}) as client:
        repo_id = str(create_repo(client)["id"])
        runs: dict[str, dict[str, Any]] = {}
        for index in range(16):
            run = {"rmse": (index * 7 % 16) / 16, "cls": "y" if index % 5 == 0 else "x", "team": "ab"[index % 3 == 0]}
            run_id = _run(client, repo_id, f"r{index}", tags=[{"key": "team", "value": run["team"]}])
            batch = {
                "metrics": [{"key": "rmse", "value": run["rmse"], "timestamp": 1_700_000_000_000 + index, "step": 0}],
                "params": [{"key": "cls", "value": run["cls"]}],
            }
            assert client.post(f"{API}/runs/{run_id}/batch", json=batch).status_code == 200
            runs[run_id] = run
        gone = next(run_id for run_id, run in runs.items() if run["cls"] == "x" and run["team"] == "a")
        assert client.delete(f"{API}/runs/{gone}").status_code == 200
        del runs[gone]
        newest_first = [run["info"]["run_id"] for run in _search(client, repo_id, "", max_results=100)["runs"]]
        by_rmse = sorted(newest_first, key=lambda run_id: runs[run_id]["rmse"])  # every rmse differs
        cases = [
            (
                "tags.team = 'a' and metrics.rmse > 0.5",
                [],
                newest_first,
                lambda r: r["team"] == "a" and r["rmse"] > 0.5,
            ),
            (
                "metrics.rmse < 0.7 and params.cls = 'x'",
                ["metrics.rmse DESC"],
                by_rmse[::-1],
                lambda r: r["rmse"] < 0.7 and r["cls"] == "x",
            ),
            (
                "metrics.rmse < 0.2 and params.cls = 'x'",
                ["metrics.rmse DESC"],
                by_rmse[::-1],
                lambda r: r["rmse"] < 0.2 and r["cls"] == "x",
            ),
            ("params.cls = 'x'", [], newest_first, lambda r: r["cls"] == "x"),
            ("params.cls = 'x'", ["metrics.rmse ASC"], by_rmse, lambda r: r["cls"] == "x"),
            ("params.cls = 'y'", [], newest_first, lambda r: r["cls"] == "y"),
            (
                "metrics.rmse >= 0.25 and params.cls = 'x' and tags.team = 'a'",
                [],
                newest_first,
                lambda r: r["rmse"] >= 0.25 and r["cls"] == "x" and r["team"] == "a",
            ),
            (
                "params.cls != 'y' and tags.team = 'b'",
                ["metrics.rmse ASC"],
                by_rmse,
                lambda r: r["cls"] != "y" and r["team"] == "b",
            ),
            ("params.cls = 'x' and status = 'RUNNING'", [], newest_first, lambda r: r["cls"] == "x"),
        ]
        for filter_, order_by, order, matches in cases:
            expected = [run_id for run_id in order if matches(runs[run_id])]
            assert 0 < len(expected) < len(runs), filter_
            for offset in range(len(expected) + 2):
                page = _search(client, repo_id, filter_, max_results=3, offset=offset, order_by=order_by)
                assert [run["info"]["run_id"] for run in page["runs"]] == expected[offset : offset + 3], (
                    filter_,
                    offset,
                )
                assert page["total"] == len(expected), (filter_, offset)
