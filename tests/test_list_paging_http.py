"""Offset pages of version and model lists, whichever end of the index a page is read from: every window
equals the same slice of the whole list, the total stays exact (also when the page that carries it is the
first, short or empty), and pages past the end are empty."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from alembic import command

from mlregistry.repositories.migrations import alembic_config
from mlregistry.settings import Settings
from tests.factories import API, apply_model_version, create_repo, unique
from tests.live import LiveServer, LiveUser
from tests.processes import cli_env, run_cli, serving

LIMIT = 4
TOKEN = "tfy_list_paging_token_0123456789"


def test_every_offset_page_is_the_slice_of_the_whole_list(server: LiveServer, user: LiveUser) -> None:
    with server.client(user) as client:
        repo = create_repo(client)
        name = repo["manifest"]["name"]
        first = [apply_model_version(client, name, "deep") for _ in range(13)]
        other = [apply_model_version(client, name, f"other-{index}") for index in range(6)]
        client.delete(f"{API}/model-versions/{first[5]['id']}")  # a gap in the numbers
        gold = unique("gold")
        for version in [first[7], *other[::2]]:  # tags are unique per model: one `gold` in each of four
            tagged = {"model_version_id": version["id"], "tags": [gold]}
            assert client.put(f"{API}/model-versions/tags", json=tagged).status_code == 200
        model_id = first[0]["model_id"]

        def page(offset: int, limit: int, **params: Any) -> tuple[list[str], int]:
            answer = client.get(f"{API}/model-versions", params={**params, "offset": offset, "limit": limit})
            assert answer.status_code == 200, answer.text
            body = answer.json()
            assert body["pagination"]["offset"] == offset and body["pagination"]["limit"] == limit
            return [item["id"] for item in body["data"]], body["pagination"]["total"]

        cases: list[dict[str, Any]] = [
            {"model_id": model_id},
            {"ml_repo_id": repo["id"], "name": "deep"},  # one entity, named
            {"model_id": model_id, "tag": gold},
            {"ml_repo_id": repo["id"]},
            {"ml_repo_id": repo["id"], "tag": gold},
            {"tag": gold},
            {"tag": gold, "run_ids": ["no-such-run"]},
        ]
        for params in cases:
            whole, total = page(0, 100, **params)
            assert total == len(whole)
            for offset in range(total + 2):
                assert page(offset, LIMIT, **params) == (whole[offset : offset + LIMIT], total), (params, offset)
            if total:
                assert page(total - 1, 1, **params) == (whole[-1:], total)
        assert len(page(0, 100, model_id=model_id)[0]) == 12
        assert page(0, 100, ml_repo_id=repo["id"], name="deep") == page(0, 100, model_id=model_id)
        assert page(0, 100, model_id=model_id, tag=gold) == ([first[7]["id"]], 1)
        assert len(page(0, 100, ml_repo_id=repo["id"])[0]) == 18 == 12 + len(other)
        assert page(0, 100, ml_repo_id=repo["id"], tag=gold) == page(0, 100, tag=gold)
        assert len(page(0, 100, tag=gold)[0]) == 4 and page(0, 100, tag=gold, run_ids=["no-such-run"]) == ([], 0)
        assert page(0, 100, tag=gold)[0] == [version["id"] for version in [*other[::2][::-1], first[7]]]
        newest_first, _ = page(0, 100, model_id=model_id)
        assert newest_first == [version["id"] for version in reversed(first) if version is not first[5]]


def test_every_offset_page_of_the_model_list_is_the_slice_of_the_whole_list(server: LiveServer, user: LiveUser) -> None:
    with server.client(user) as client:
        repo = create_repo(client)
        name = repo["manifest"]["name"]
        for index in range(7):
            apply_model_version(client, name, f"model-{index}")
        apply_model_version(client, name, "model-3")  # a second version: still one model
        doomed = apply_model_version(client, name, "emptied")
        assert client.delete(f"{API}/model-versions/{doomed['id']}").status_code == 200  # a model with no version

        def page(offset: int, limit: int, **params: Any) -> tuple[list[str], int]:
            answer = client.get(f"{API}/models", params={**params, "offset": offset, "limit": limit})
            assert answer.status_code == 200, answer.text
            body = answer.json()
            return [item["name"] for item in body["data"]], body["pagination"]["total"]

        cases: list[dict[str, Any]] = [
            {"ml_repo_id": repo["id"]},
            {"ml_repo_id": repo["id"], "include_empty_models": False},
            {"ml_repo_id": repo["id"], "name": "model-3"},
            {"ml_repo_id": repo["id"], "name": "no-such-model"},
        ]
        for params in cases:
            whole, total = page(0, 100, **params)
            assert total == len(whole)
            for offset in range(total + 3):
                assert page(offset, LIMIT, **params) == (whole[offset : offset + LIMIT], total), (params, offset)
        assert page(0, 100, ml_repo_id=repo["id"])[1] == 8
        assert page(0, 100, ml_repo_id=repo["id"], include_empty_models=False)[1] == 7
        assert page(0, 1, ml_repo_id=repo["id"], name="model-3") == (["model-3"], 1)
        assert page(5, 1, ml_repo_id=repo["id"], name="no-such-model") == ([], 0)


def test_tag_rows_written_before_the_list_order_columns_are_filled_by_the_migration(
    tmp_path: Path, database_url: str
) -> None:
    """Tags set on a schema without the tag table's copies of (repo, family, created_at) are found, in list
    order, after upgrading: the migration fills them from the versions."""
    env = cli_env(tmp_path, database_url, MLREGISTRY_BOOTSTRAP_TOKEN=TOKEN)
    assert run_cli(["db", "upgrade"], env).returncode == 0
    with serving(env) as url, httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        repo = create_repo(client)
        versions = [apply_model_version(client, repo["manifest"]["name"], f"m{index}") for index in range(5)]
        for version in versions:
            body = {"model_version_id": version["id"], "tags": ["prod"]}
            assert client.put(f"{API}/model-versions/tags", json=body).status_code == 200
    settings = Settings(database_url=database_url, data_dir=tmp_path, secret_key="x" * 40)
    command.downgrade(alembic_config(settings), "0012")
    command.upgrade(alembic_config(settings), "heads")
    with serving(env) as url, httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        listed = client.get(f"{API}/model-versions", params={"ml_repo_id": repo["id"], "tag": "prod"}).json()
    assert [item["id"] for item in listed["data"]] == [version["id"] for version in reversed(versions)]
    assert listed["pagination"]["total"] == 5


def test_each_caller_lists_only_what_it_may_read_from_statements_shared_by_every_caller(
    server: LiveServer, admin: LiveUser, user: LiveUser
) -> None:
    """A list's statement is built once per shape and serves every caller: each caller's scope (the repos it
    created, holds a role on, or is granted by name) comes in as parameters, on every kind of page, for the
    version lists and the model lists."""
    from tests.identity_factories import apply_virtual_account, bearer

    viewer, outsider = server.create_user(prefix="viewer"), server.create_user(prefix="outsider")
    tag = unique("shared")
    with server.client(user) as owner:
        own = create_repo(owner)
        shared = create_repo(
            owner, collaborators=[{"subject": f"user:{viewer.email}", "role_id": "mlf-project-viewer"}]
        )
        granted = create_repo(owner)
        versions: dict[str, list[str]] = {}
        for repo in (own, shared, granted):
            made = [apply_model_version(owner, repo["manifest"]["name"], "scoped") for _ in range(3)]
            tagged = {"model_version_id": made[1]["id"], "tags": [tag]}
            assert owner.put(f"{API}/model-versions/tags", json=tagged).status_code == 200
            versions[repo["id"]] = [version["id"] for version in reversed(made)]  # newest first
    with server.client(admin) as client:
        permission = {
            "resource_fqn": granted["manifest"]["name"],
            "resource_type": "ml-repo",
            "role_id": "mlf-project-viewer",
        }
        created = apply_virtual_account(client, unique("va"), [permission])
        assert created.status_code == 200, created.text
    account = server.client()
    account.headers.update(bearer(created.json()["token"]))
    readable = {
        "owner": [own, shared, granted],
        "viewer": [shared],
        "account": [granted],
        "outsider": [],
        "admin": [own, shared, granted],
    }
    clients = {
        "owner": server.client(user),
        "viewer": server.client(viewer),
        "account": account,
        "outsider": server.client(outsider),
        "admin": server.client(admin),
    }

    def listed(client: httpx.Client, offset: int, **params: Any) -> tuple[list[str], int]:
        answer = client.get(f"{API}/model-versions", params={**params, "offset": offset, "limit": 100})
        assert answer.status_code == 200, answer.text
        return [item["id"] for item in answer.json()["data"]], answer.json()["pagination"]["total"]

    try:
        for _round in range(2):  # the second round runs statements the first one built, for other callers
            for who, client in clients.items():
                repos = readable[who]
                for repo in (own, shared, granted):
                    expected = versions[repo["id"]] if repo in repos else []
                    assert listed(client, 0, ml_repo_id=repo["id"]) == (expected, len(expected)), who
                    assert listed(client, 1, ml_repo_id=repo["id"]) == (expected[1:], len(expected)), who
                    model_id = {"model_id": versions_model(client, repo, expected)} if expected else {}
                    if model_id:
                        assert listed(client, 0, **model_id) == (expected, 3), who
                models = client.get(f"{API}/models", params={"name": "scoped", "limit": 100}).json()
                assert sorted(model["ml_repo_id"] for model in models["data"]) == sorted(r["id"] for r in repos), who
                assert models["pagination"]["total"] == len(repos), who
                for repo in (own, shared, granted):
                    in_repo = client.get(f"{API}/models", params={"ml_repo_id": repo["id"], "name": "scoped"}).json()
                    assert in_repo["pagination"]["total"] == (1 if repo in repos else 0), who
                past = client.get(f"{API}/models", params={"name": "scoped", "offset": 5}).json()["pagination"]
                assert past["total"] == len(repos), who
                tagged_ids = {versions[repo["id"]][1] for repo in repos}
                page, total = listed(client, 0, tag=tag)
                assert set(page) == tagged_ids and total == len(tagged_ids), who
                page, total = listed(client, 1, tag=tag)
                assert len(page) == max(0, len(tagged_ids) - 1) and set(page) <= tagged_ids, who
                assert total == len(tagged_ids), who
    finally:
        for client in clients.values():
            client.close()


def versions_model(client: httpx.Client, repo: dict[str, Any], version_ids: list[str]) -> str:
    answer = client.get(f"{API}/model-versions/{version_ids[0]}")
    assert answer.status_code == 200, answer.text
    return str(answer.json()["data"]["model_id"])
