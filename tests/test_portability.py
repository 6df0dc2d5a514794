"""`mlregistry export` and `mlregistry import` between registries, as an operator runs them.

The round trip goes SQLite + local disk -> Postgres + S3 (moto) -> SQLite + local disk; each step runs
the CLI in its own process against the registry's database and storage, and the API of the importing
server must answer what the exporting one did (ids may differ only where the README says)."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from mlregistry.settings import Settings
from tests.conftest import MotoS3, PostgresDatabases, make_settings
from tests.data_path import (
    PART_SIZE,
    artifact_manifest,
    finalize,
    list_all_files,
    multipart_upload,
    put_files,
    stage,
)
from tests.factories import API, apply_model_version, apply_prompt_version, create_repo, model_manifest, unique
from tests.live import LiveServer, LiveUser

ROUTES = ("model-versions", "artifact-versions", "prompt-versions")
ENTITY_ROUTES = ("models", "artifacts", "prompts")


def cli_env(settings: Settings) -> dict[str, str]:
    """The environment an operator gives `mlregistry` to reach the same database and storage as a server."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("MLREGISTRY_")}
    env.update(
        MLREGISTRY_DATA_DIR=str(settings.data_dir),
        MLREGISTRY_SECRET_KEY=settings.secret_key.get_secret_value() if settings.secret_key else "",
        MLREGISTRY_TENANT_NAME=settings.tenant_name,
        MLREGISTRY_LOG_FORMAT="text",
    )
    for name, value in (
        ("MLREGISTRY_DATABASE_URL", settings.database_url),
        ("MLREGISTRY_STORAGE_URL", settings.storage_url),
        ("MLREGISTRY_S3_ENDPOINT_URL", settings.s3_endpoint_url),
    ):
        if value:
            env[name] = str(value)
    return env


def mlregistry(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).parent / "mlregistry"), *args]
    return subprocess.run(command, env=cli_env(settings), capture_output=True, text=True, timeout=300)


def start(settings: Settings, backend: str, s3: MotoS3 | None = None) -> LiveServer:
    live = LiveServer(settings, backend)
    live.s3 = s3
    return live.start()


@pytest.fixture(scope="module")
def sqlite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = start(make_settings("sqlite", tmp_path_factory.mktemp("export-sqlite"), None), "sqlite")
    yield live
    live.stop()


@pytest.fixture(scope="module")
def postgres_server(
    tmp_path_factory: pytest.TempPathFactory, postgres_databases: PostgresDatabases | None, moto_s3: MotoS3
) -> Iterator[LiveServer]:
    settings = make_settings("postgres", tmp_path_factory.mktemp("export-postgres"), postgres_databases, moto_s3)
    live = start(settings, "postgres", moto_s3)
    yield live
    live.stop()


@pytest.fixture(scope="module")
def second_sqlite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = start(make_settings("sqlite", tmp_path_factory.mktemp("export-sqlite-2"), None), "sqlite")
    yield live
    live.stop()


def populate(server: LiveServer, owner: LiveUser, viewer: LiveUser) -> tuple[str, dict[str, bytes]]:
    """A repo with every kind of thing an export carries; answers its name and the files by logical path."""
    files: dict[str, bytes] = {}
    with server.client(owner) as client:
        repo = create_repo(
            client,
            description="exported",
            collaborators=[{"subject": f"user:{viewer.email}", "role_id": "mlf-project-viewer"}],
        )
        name = repo["manifest"]["name"]
        for number in range(2):
            manifest = model_manifest(name, "churn", source={"type": "truefoundry"}, description=f"v{number}")
            staged = stage(client, manifest)
            content = {"model.pkl": os.urandom(1000 + number), "conf/params.json": b'{"depth": 6}'}
            put_files(client, staged["id"], content)
            version = finalize(client, "model-versions", manifest, staged["storage_root"])
            assert version.status_code == 200, version.text
            files.update({f"churn/{number + 1}/{path}": data for path, data in content.items()})
        version_id = version.json()["data"]["id"]
        tagged = client.put(
            f"{API}/model-versions/tags", json={"model_version_id": version_id, "tags": ["prod", "blue"]}
        )
        assert tagged.status_code == 200, tagged.text
        apply_model_version(client, name, "external-model", version_alias="v1-alias")
        manifest = artifact_manifest(name, "dataset")
        staged = stage(client, manifest)
        big = os.urandom(PART_SIZE + 10)
        multipart_upload(client, "artifact-versions", staged["id"], "big.bin", big)
        put_files(client, staged["id"], {"small/readme.txt": b"hello"})
        assert finalize(client, "artifact-versions", manifest, staged["storage_root"]).status_code == 200
        files.update({"dataset/1/big.bin": big, "dataset/1/small/readme.txt": b"hello"})
        apply_prompt_version(client, name, "greeter")
        directory = client.put(
            f"{API}/data-directories",
            json={
                "manifest": {
                    "type": "data-dir",
                    "name": "raw",
                    "ml_repo": name,
                    "metadata": {"rows": 2},
                    "source": {"type": "truefoundry"},
                }
            },
        )
        assert directory.status_code == 200, directory.text
        directory_id = directory.json()["data"]["id"]
        urls = client.post(
            f"{API}/data-directories/signed-urls",
            json={"id": directory_id, "paths": ["train.csv", "parts/a.csv"], "operation": "WRITE"},
        ).json()["data"]
        for item, data in zip(urls, [b"a,b\n1,2\n", b"1"], strict=True):
            assert httpx.put(item["signed_url"], content=data).status_code == 200
        files.update({"raw/train.csv": b"a,b\n1,2\n", "raw/parts/a.csv": b"1"})
    return name, files


def normalised(value: Any, repo_id: str, roots: dict[str, str]) -> Any:
    """An API answer with what an import may change (the repo's id, storage roots) named alike."""
    if isinstance(value, dict):
        return {key: normalised(item, repo_id, roots) for key, item in value.items()}
    if isinstance(value, list):
        return [normalised(item, repo_id, roots) for item in value]
    if isinstance(value, str):
        for root, label in roots.items():
            value = value.replace(root, label)
        return "<repo-id>" if value == repo_id else value
    return value


def snapshot(server: LiveServer, user: LiveUser, name: str) -> tuple[Any, dict[str, bytes]]:
    """What the API answers about the repo, and every file's bytes read through READ signed URLs."""
    answers: dict[str, Any] = {}
    downloaded: dict[str, bytes] = {}
    with server.client(user) as client:
        repo = client.get(f"{API}/ml-repos", params={"name": name}).json()["data"][0]
        repo_id = str(repo["id"])
        answers["repo"] = repo
        roots: dict[str, str] = {}
        for entities, versions in zip(ENTITY_ROUTES, ROUTES, strict=True):
            answers[entities] = client.get(f"{API}/{entities}", params={"ml_repo_id": repo_id}).json()
            listed = client.get(f"{API}/{versions}", params={"ml_repo_id": repo_id, "limit": 100}).json()
            answers[versions] = listed
            for version in listed["data"]:
                root = version.get("manifest", {}).get("source", {}).get("uri", "")
                if root.endswith(version["id"]):
                    roots[root] = f"<root:{version['id']}>"
                if versions == "prompt-versions":
                    continue
                found = list_all_files(client, "artifact-versions", version["id"])
                answers[f"files:{version['id']}"] = found
                paths = [item["path"] for item in found if not item["is_dir"]]
                if paths:
                    urls = client.post(
                        f"{API}/artifact-versions/signed-urls",
                        json={"id": version["id"], "paths": paths, "operation": "READ"},
                    ).json()["data"]
                    entity = version["manifest"]["name"]
                    for item in urls:
                        key = f"{entity}/{version['manifest']['version']}/{item['path']}"
                        downloaded[key] = httpx.get(item["signed_url"], timeout=60).content
        directories = client.get(f"{API}/data-directories", params={"ml_repo_id": repo_id}).json()
        answers["data-directories"] = directories
        for directory in directories["data"]:
            roots[directory["manifest"]["source"]["uri"]] = f"<root:{directory['id']}>"
            found = list_all_files(client, "data-directories", directory["id"])
            # The storage's own modification times are those of the copy (documented).
            answers[f"files:{directory['id']}"] = [{**item, "last_modified": None} for item in found]
            paths = [item["path"] for item in found if not item["is_dir"]]
            urls = client.post(
                f"{API}/data-directories/signed-urls",
                json={"id": directory["id"], "paths": paths, "operation": "READ"},
            ).json()["data"]
            for item in urls:
                downloaded[f"{directory['manifest']['name']}/{item['path']}"] = httpx.get(item["signed_url"]).content
    return normalised(answers, repo_id, roots), downloaded


def grant_admin_view(server: LiveServer) -> LiveUser:
    return server.create_user(admin=True, prefix="operator")


def planner_has_statistics(settings: Settings, table: str) -> bool:
    """Whether the database's planner holds statistics of `table` gathered by an ANALYZE (not by autovacuum)."""
    url = settings.effective_database_url
    if url.startswith("sqlite"):
        with sqlite3.connect(url.split(":///", 1)[1]) as connection:
            return connection.execute("SELECT count(*) FROM sqlite_stat1 WHERE tbl = ?", (table,)).fetchone()[0] > 0

    async def analyzed() -> bool:
        connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            query = "SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables WHERE relname = $1"
            return bool(await connection.fetchval(query, table))
        finally:
            await connection.close()

    return asyncio.run(analyzed())


def test_round_trip_sqlite_local_to_postgres_s3_and_back(
    sqlite_server: LiveServer, postgres_server: LiveServer, second_sqlite_server: LiveServer, tmp_path: Path
) -> None:
    owner, viewer = sqlite_server.create_user(), sqlite_server.create_user(prefix="viewer")
    name, files = populate(sqlite_server, owner, viewer)
    expected, downloaded = snapshot(sqlite_server, grant_admin_view(sqlite_server), name)
    assert downloaded == files

    archive = tmp_path / "repo.tar"
    exported = mlregistry(sqlite_server.settings, "export", "--ml-repo", name, "--out", str(archive), "--quiet")
    assert exported.returncode == 0, exported.stderr
    assert "Exported ML repo" in exported.stdout
    with tarfile.open(archive) as tar:
        header = json.loads(tar.extractfile("header.json").read())  # type: ignore[union-attr]
    assert header["format"] == "mlregistry-archive" and header["format_version"] == 1
    assert header["files"] == len(files)

    assert not planner_has_statistics(postgres_server.settings, "entity_versions")
    imported = mlregistry(postgres_server.settings, "import", str(archive), "--quiet")
    assert imported.returncode == 0, imported.stderr
    # The import leaves statistics of what it wrote: the planner does not plan the new rows as an empty table.
    assert planner_has_statistics(postgres_server.settings, "entity_versions")
    actual, downloaded = snapshot(postgres_server, grant_admin_view(postgres_server), name)
    assert downloaded == files
    assert actual == expected

    # Importing the same archive again changes nothing.
    again = mlregistry(postgres_server.settings, "import", str(archive), "--quiet")
    assert again.returncode == 0, again.stderr
    assert "already imported" in again.stdout
    assert snapshot(postgres_server, grant_admin_view(postgres_server), name)[0] == expected

    # And back: Postgres + S3 to SQLite + local disk, through a directory archive.
    directory = tmp_path / "repo-dir"
    exported = mlregistry(postgres_server.settings, "export", "--ml-repo", name, "--out", str(directory), "--quiet")
    assert exported.returncode == 0, exported.stderr
    assert not planner_has_statistics(second_sqlite_server.settings, "entity_versions")
    imported = mlregistry(second_sqlite_server.settings, "import", str(directory), "--quiet")
    assert imported.returncode == 0, imported.stderr
    assert planner_has_statistics(second_sqlite_server.settings, "entity_versions")
    actual, downloaded = snapshot(second_sqlite_server, grant_admin_view(second_sqlite_server), name)
    assert downloaded == files
    assert actual == expected


def test_import_under_a_new_name_next_to_the_original(sqlite_server: LiveServer, tmp_path: Path) -> None:
    owner, viewer = sqlite_server.create_user(), sqlite_server.create_user(prefix="viewer")
    name, files = populate(sqlite_server, owner, viewer)
    archive = tmp_path / "copy.tar"
    assert mlregistry(sqlite_server.settings, "export", "--ml-repo", name, "--out", str(archive)).returncode == 0
    refused = mlregistry(sqlite_server.settings, "import", str(archive), "--quiet")
    assert refused.returncode == 1 and "already exists" in refused.stderr

    copy = unique("copy")
    imported = mlregistry(sqlite_server.settings, "import", str(archive), "--ml-repo", copy, "--quiet")
    assert imported.returncode == 0, imported.stderr
    operator = grant_admin_view(sqlite_server)
    original, original_files = snapshot(sqlite_server, operator, name)
    copied, copied_files = snapshot(sqlite_server, operator, copy)
    assert copied_files == original_files == files
    with sqlite_server.client(operator) as client:

        def churn(repo: str) -> list[dict[str, Any]]:
            return [
                client.get(f"{API}/model-versions", params={"fqn": f"model:acme/{repo}/churn:{number}"}).json()["data"][
                    0
                ]
                for number in (1, 2)
            ]

        versions = churn(copy)
        assert [version["manifest"]["ml_repo"] for version in versions] == [copy, copy]
        assert {tuple(version["tags"]) for version in versions} == {(), ("prod", "blue")}
        originals = churn(name)
        assert not {version["id"] for version in originals} & {version["id"] for version in versions}
        # The copy's tags hold in its history too: the holder list agrees, and a forced move takes the tag.
        tagged = next(version for version in versions if version["tags"])
        holders = client.get(f"{API}/models/{tagged['model_id']}/tags").json()["data"]
        assert sorted((item["name"], item["version_id"]) for item in holders) == [
            ("blue", tagged["id"]),
            ("prod", tagged["id"]),
        ]
        # The tag filter finds the copy's tagged version in its repo (the tag rows carry the new repo).
        copy_repo = tagged["ml_repo_id"]
        found = client.get(f"{API}/model-versions", params={"ml_repo_id": copy_repo, "tag": "blue"}).json()
        assert [item["id"] for item in found["data"]] == [tagged["id"]] and found["pagination"]["total"] == 1
        other = next(version for version in versions if not version["tags"])
        move = {"model_version_id": other["id"], "tags": ["prod"], "force": True}
        assert client.put(f"{API}/model-versions/tags", json=move).status_code == 200
        assert client.get(f"{API}/model-versions/{tagged['id']}").json()["data"]["tags"] == ["blue"]
    # The viewer of the original is a viewer of the copy.
    with sqlite_server.client(viewer) as client:
        assert client.get(f"{API}/ml-repos", params={"name": copy}).json()["data"]
    assert copied["model-versions"]["pagination"] == original["model-versions"]["pagination"]


def _damage(directory: Path, member: str) -> None:
    target = directory / member
    content = bytearray(target.read_bytes())
    content[len(content) // 2] ^= 0xFF
    target.write_bytes(bytes(content))


def test_a_damaged_archive_is_refused_and_leaves_nothing(
    sqlite_server: LiveServer, second_sqlite_server: LiveServer, tmp_path: Path
) -> None:
    owner, viewer = sqlite_server.create_user(), sqlite_server.create_user(prefix="viewer")
    name, _ = populate(sqlite_server, owner, viewer)
    directory = tmp_path / "archive"
    assert mlregistry(sqlite_server.settings, "export", "--ml-repo", name, "--out", str(directory)).returncode == 0
    records = [json.loads(line) for line in (directory / "records.jsonl").read_text().splitlines()]
    big = next(r for r in records if r["kind"] == "file" and r["data"]["path"] == "big.bin")["data"]["member"]

    objects = Path(second_sqlite_server.settings.data_dir) / "artifacts" / "objects"

    def stored() -> set[Path]:
        return {path for path in objects.rglob("*") if path.is_file()}

    before = stored()
    _damage(directory, big)
    refused = mlregistry(second_sqlite_server.settings, "import", str(directory), "--ml-repo", "damaged", "--quiet")
    assert refused.returncode == 1
    assert big in refused.stderr and "big.bin" in refused.stderr and "sha256" in refused.stderr
    operator = grant_admin_view(second_sqlite_server)
    with second_sqlite_server.client(operator) as client:
        assert client.get(f"{API}/ml-repos", params={"name": "damaged"}).json()["data"] == []
    assert stored() == before  # the files copied before the damaged one were deleted
    _damage(directory, big)  # flipped back: the archive is whole again

    lines = (directory / "records.jsonl").read_text().splitlines()
    position = next(index for index, line in enumerate(lines) if '"kind": "version"' in line)
    assert '"state": "FINALIZED"' in lines[position]
    lines[position] = lines[position].replace('"state": "FINALIZED"', '"state": "STAGED"')
    (directory / "records.jsonl").write_text("\n".join(lines) + "\n")
    refused = mlregistry(second_sqlite_server.settings, "import", str(directory), "--ml-repo", "damaged", "--quiet")
    assert refused.returncode == 1
    assert f"record {position + 1} (version" in refused.stderr and "checksum" in refused.stderr

    (directory / "records.jsonl").write_text("\n".join(lines[: position - 1]) + "\n")
    refused = mlregistry(second_sqlite_server.settings, "import", str(directory), "--ml-repo", "damaged", "--quiet")
    assert refused.returncode == 1 and "records" in refused.stderr
    with second_sqlite_server.client(operator) as client:
        assert client.get(f"{API}/ml-repos", params={"name": "damaged"}).json()["data"] == []


def test_export_of_an_unknown_repo_or_onto_an_existing_archive_is_refused(
    sqlite_server: LiveServer, tmp_path: Path
) -> None:
    missing = mlregistry(sqlite_server.settings, "export", "--ml-repo", "no-such-repo", "--out", str(tmp_path / "a"))
    assert missing.returncode == 1 and "not found" in missing.stderr
    (tmp_path / "taken.tar").write_bytes(b"x")
    owner = sqlite_server.create_user()
    with sqlite_server.client(owner) as client:
        name = create_repo(client)["manifest"]["name"]
    taken = mlregistry(sqlite_server.settings, "export", "--ml-repo", name, "--out", str(tmp_path / "taken.tar"))
    assert taken.returncode == 1 and "already exists" in taken.stderr
    assert (tmp_path / "taken.tar").read_bytes() == b"x"
    not_archive = mlregistry(sqlite_server.settings, "import", str(tmp_path / "taken.tar"))
    assert not_archive.returncode == 1 and "not an mlregistry archive" in not_archive.stderr


def _peak_rss_kib(settings: Settings, *args: str) -> int:
    """Run the CLI and answer the peak resident memory of that one process."""
    command = [str(Path(sys.executable).parent / "mlregistry"), *args]
    process = subprocess.Popen(command, env=cli_env(settings), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, process.stderr.read() if process.stderr else ""
    return int(usage.ru_maxrss)


def _synthetic_repo(server: LiveServer, owner: LiveUser, versions: int) -> str:
    """A repo with `versions` model versions, written straight into the database (fast, and realistic rows)."""
    from sqlalchemy import insert

    from mlregistry.orm import Entity, EntityVersion
    from mlregistry.orm.base import utcnow

    with server.client(owner) as client:
        repo = create_repo(client)
        apply_model_version(client, repo["manifest"]["name"], "seed")
    name = repo["manifest"]["name"]
    subject = {"subject_id": owner.id, "subject_type": "user", "subject_slug": owner.slug}

    async def fill(session: Any) -> None:
        entity_id = str(uuid.uuid4())
        now = utcnow()
        await session.execute(
            insert(Entity),
            [
                {
                    "id": entity_id,
                    "ml_repo_id": repo["id"],
                    "family": "model",
                    "name": "bulk",
                    "last_version_number": versions,
                    "version_count": versions,
                    "created_by_subject": subject,
                    "created_at": now,
                    "updated_at": now,
                }
            ],
        )
        for start in range(0, versions, 2000):
            rows = []
            for number in range(start + 1, min(versions, start + 2000) + 1):
                manifest = model_manifest(name, "bulk", version=number, description="x" * 200)
                rows.append(
                    {
                        "id": str(uuid.uuid4()),
                        "entity_id": entity_id,
                        "ml_repo_id": repo["id"],
                        "family": "model",
                        "version": number,
                        "state": "FINALIZED",
                        "manifest": manifest,
                        "step": 0,
                        "tags": [],
                        "metrics": [],
                        "created_by_subject": subject,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
            await session.execute(insert(EntityVersion), rows)

    server.run(fill)
    return name


def test_memory_stays_bounded_as_the_repo_grows(sqlite_server: LiveServer, tmp_path: Path) -> None:
    owner = sqlite_server.create_user()
    small = _synthetic_repo(sqlite_server, owner, 500)
    large = _synthetic_repo(sqlite_server, owner, 10_000)
    peaks = {}
    for name in (small, large):
        peaks[f"export {name}"] = _peak_rss_kib(
            sqlite_server.settings, "export", "--ml-repo", name, "--out", str(tmp_path / f"{name}.tar"), "--quiet"
        )
        peaks[f"import {name}"] = _peak_rss_kib(
            sqlite_server.settings, "import", str(tmp_path / f"{name}.tar"), "--ml-repo", f"{name}-copy", "--quiet"
        )
    # 20x the records (about 10 MB of archive) may not cost more than a few MB of memory.
    assert peaks[f"export {large}"] - peaks[f"export {small}"] < 30 * 1024, peaks
    assert peaks[f"import {large}"] - peaks[f"import {small}"] < 30 * 1024, peaks
    with sqlite_server.client(owner) as client:
        repo = client.get(f"{API}/ml-repos", params={"name": f"{large}-copy"}).json()["data"][0]
        listed = client.get(f"{API}/model-versions", params={"ml_repo_id": repo["id"], "limit": 1}).json()
        assert listed["pagination"]["total"] == 10_001  # the bulk model's versions and the seed


def test_runs_move_with_their_repo_and_versions_follow_their_run(sqlite_server: LiveServer, tmp_path: Path) -> None:
    owner = sqlite_server.create_user()
    with sqlite_server.client(owner) as client:
        repo = create_repo(client)
        name = repo["manifest"]["name"]
        created = client.post(f"{API}/runs", json={"experiment_id": repo["id"], "name": "trained", "start_time": 5})
        run_id = created.json()["run"]["info"]["run_id"]
        batch = {
            "metrics": [{"key": "auc", "value": 0.5 + step / 10, "timestamp": 9, "step": step} for step in range(3)],
            "params": [{"key": "depth", "value": "6"}],
            "tags": [{"key": "team", "value": "a"}],
        }
        assert client.post(f"{API}/runs/{run_id}/batch", json=batch).status_code == 200
        linked = apply_model_version(client, name, "clf", run_id=run_id, step=1)
        foreign = apply_model_version(client, name, "clf", run_id="elsewhere", step=1)
    archive = tmp_path / "runs.tar"
    assert mlregistry(sqlite_server.settings, "export", "--ml-repo", name, "--out", str(archive)).returncode == 0
    copy = unique("runs-copy")
    imported = mlregistry(sqlite_server.settings, "import", str(archive), "--ml-repo", copy, "--quiet")
    assert imported.returncode == 0, imported.stderr
    operator = grant_admin_view(sqlite_server)
    with sqlite_server.client(operator) as client:
        [original] = client.post(f"{API}/runs/search", json={"ml_repo_name": name}).json()["runs"]
        [copied] = client.post(f"{API}/runs/search", json={"ml_repo_name": copy}).json()["runs"]
        new_id = copied["info"]["run_id"]
        assert new_id != run_id and copied["info"]["fqn"] == f"acme/{copy}/trained"
        assert copied["data"] == original["data"] and copied["info"]["start_time"] == 5
        # The copy's latest metrics and run count belong to the new repo: search by metric and total agree.
        one = {"ml_repo_name": copy, "max_results": 1, "order_by": ["metrics.auc DESC"]}
        assert client.post(f"{API}/runs/search", json=one).json()["total"] == 1
        by_metric = {"experiment_ids": [copied["info"]["experiment_id"]], "filter": "metrics.auc > 0.6"}
        assert [run["info"]["run_id"] for run in client.post(f"{API}/runs/search", json=by_metric).json()["runs"]] == [
            new_id
        ]
        history = client.get(f"{API}/runs/{new_id}/metrics/history", params={"metric_key": "auc"}).json()
        assert [point["value"] for point in history["metrics"]] == [0.5, 0.6, 0.7]
        versions = client.get(f"{API}/model-versions", params={"fqn": f"model:acme/{copy}/clf:1"}).json()["data"]
        assert versions[0]["manifest"]["run_id"] == new_id and linked["manifest"]["run_id"] == run_id
        assert versions[0]["metrics"] == [{"key": "auc", "value": 0.6, "timestamp": 9, "step": 1}]
        kept = client.get(f"{API}/model-versions", params={"fqn": f"model:acme/{copy}/clf:2"}).json()["data"]
        assert kept[0]["manifest"]["run_id"] == foreign["manifest"]["run_id"] == "elsewhere"
        by_run = client.get(f"{API}/model-versions", params={"run_ids": new_id}).json()["data"]
        assert [version["fqn"] for version in by_run] == [f"model:acme/{copy}/clf:1"]
