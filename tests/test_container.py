"""The container image and the compose file, checked without a Docker engine.

The Dockerfile is linted with hadolint and its facts checked; the compose wiring is verified by starting
the same processes with the same environment: a fresh Postgres cluster initialised the way the
`postgres` image does from POSTGRES_USER/POSTGRES_PASSWORD/POSTGRES_DB (password authentication on),
and the image's ENTRYPOINT with the `mlregistry` service's environment and the image's ENV. The only
changes are the ones Docker's network makes: service hostnames become 127.0.0.1 and ports are free ones.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import httpx
import pytest
import yaml

from mlregistry.settings import Settings
from tests.data_path import artifact_manifest, finalize, put_files, signed_urls, stage
from tests.factories import API
from tests.live import ServeProcess, free_port

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "docker-compose.yml"


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    instructions = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    return instructions


def runtime_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    last_from = max(index for index, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[last_from:]


def build_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    last_from = max(index for index, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[:last_from]


def image_env() -> dict[str, str]:
    """The runtime stage's ENV, less PATH (the image's virtualenv is this interpreter's here)."""
    env: dict[str, str] = {}
    for keyword, rest in runtime_stage():
        if keyword == "ENV":
            for key, value in re.findall(r"(\w+)=(\S+)", rest):
                env[key] = value
    env.pop("PATH", None)
    return env


def exec_form(instruction: str) -> list[str]:
    (rest,) = [rest for keyword, rest in runtime_stage() if keyword == instruction]
    if instruction == "HEALTHCHECK":
        rest = rest[rest.index("CMD") + 3 :]
    command = json.loads(rest)
    assert isinstance(command, list)
    return [str(part) for part in command]


def test_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    result = subprocess.run(
        [hadolint, "--config", str(ROOT / ".hadolint.yaml"), str(DOCKERFILE)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_builds_a_slim_non_root_image() -> None:
    instructions = dockerfile_instructions()
    stages = [rest for keyword, rest in instructions if keyword == "FROM"]
    assert len(stages) >= 2, "multi-stage: build, then a runtime stage"
    runtime = runtime_stage()
    arguments = {keyword: rest for keyword, rest in runtime}
    assert "--from=build" in " ".join(rest for keyword, rest in runtime if keyword == "COPY")
    assert not any("gcc" in rest or "build-essential" in rest for _, rest in runtime), "no toolchain at runtime"
    user = arguments["USER"].split(":")[0]
    assert user not in ("root", "0")
    assert exec_form("ENTRYPOINT") == ["mlregistry", "serve"]
    assert exec_form("HEALTHCHECK") == ["mlregistry", "healthcheck"]
    assert json.loads(arguments["VOLUME"]) == [image_env()["MLREGISTRY_DATA_DIR"]]
    # The installed wheel carries the migrations; nothing points the image at a loose copy.
    assert "MLREGISTRY_MIGRATIONS_DIR" not in image_env()
    build = [rest for keyword, rest in build_stage() if keyword == "COPY"]
    assert any(rest.startswith("migrations ") for rest in build) and any("setup.py" in rest for rest in build)
    assert image_env()["MLREGISTRY_HOST"] == "0.0.0.0"
    base = stages[-1]
    arg_defaults = dict(re.findall(r"ARG (\w+)=(\S+)", DOCKERFILE.read_text()))
    assert "slim" in re.sub(r"\$\{(\w+)\}", lambda match: arg_defaults.get(match.group(1), ""), base)
    for ignored in (".venv", ".git", "tests"):
        assert ignored in (ROOT / ".dockerignore").read_text().split()


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's variable substitution: `${X}`, `${X:-default}`, `${X:?error}`, `$$`."""

    def substitute(match: re.Match[str]) -> str:
        name, operator, argument = match.group(1), match.group(2) or "", match.group(3) or ""
        current = env.get(name)
        if operator == ":-":
            return current if current else argument
        if operator == ":?":
            if not current:
                raise ValueError(f"{name}: {argument}")
            return current
        return current or ""

    parts = value.split("$$")
    expanded = [re.sub(r"\$\{(\w+)(?:(:-|:\?)([^}]*))?\}", substitute, part) for part in parts]
    return "$".join(expanded)


def compose_services(env: dict[str, str]) -> dict[str, dict[str, Any]]:
    document = yaml.safe_load(COMPOSE.read_text())

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {key: walk(value) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(value) for value in node]
        if isinstance(node, str):
            return interpolate(node, env)
        return node

    services: dict[str, dict[str, Any]] = walk(document["services"])
    return services


COMPOSE_ENV = {
    "MLREGISTRY_SECRET_KEY": "compose-test-secret-key-0123456789abcdef",
    "MLREGISTRY_BOOTSTRAP_TOKEN": "compose-bootstrap-token-7d1e",
    "MINIO_ROOT_PASSWORD": "compose-minio-password",
    "POSTGRES_PASSWORD": "compose-postgres-password",
}


def test_compose_refuses_to_start_without_the_secrets() -> None:
    for required in ("MLREGISTRY_SECRET_KEY", "MLREGISTRY_BOOTSTRAP_TOKEN", "MINIO_ROOT_PASSWORD"):
        env = {key: value for key, value in COMPOSE_ENV.items() if key != required}
        with pytest.raises(ValueError, match=required):
            compose_services(env)


def test_compose_wires_the_object_store() -> None:
    services = compose_services(COMPOSE_ENV)
    registry, minio = services["mlregistry"]["environment"], services["minio"]
    endpoint = urlsplit(registry["MLREGISTRY_S3_ENDPOINT_URL"])
    assert endpoint.hostname == "minio"
    assert f"--address :{endpoint.port}" in " ".join(minio["command"]) or f":{endpoint.port}" in minio["command"]
    assert f"{endpoint.port}:{endpoint.port}" in minio["ports"]
    assert registry["AWS_ACCESS_KEY_ID"] == minio["environment"]["MINIO_ROOT_USER"]
    assert registry["AWS_SECRET_ACCESS_KEY"] == minio["environment"]["MINIO_ROOT_PASSWORD"]
    bucket = urlsplit(registry["MLREGISTRY_STORAGE_URL"]).hostname
    assert f"store/{bucket}" in services["create-bucket"]["entrypoint"][-1]
    assert services["mlregistry"]["depends_on"]["create-bucket"]["condition"] == "service_completed_successfully"
    assert services["mlregistry"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    known = {f"MLREGISTRY_{name.upper()}" for name in Settings.model_fields}
    unknown = {name for name in registry if name.startswith("MLREGISTRY_")} - known
    assert not unknown, f"not settings: {unknown}"


def postgres_binary(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        pytest.skip(f"PostgreSQL server binaries ({name}) are not installed")
    return found[-1]


def as_postgres_user(command: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root (CI runs as root): run them as the `postgres` user."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@pytest.fixture
def compose_postgres() -> Iterator[tuple[int, dict[str, str]]]:
    """A new cluster set up the way the postgres image's entrypoint does it from the service environment."""
    environment = compose_services(COMPOSE_ENV)["postgres"]["environment"]
    # Not under pytest's tmp_path: that is private to root, and the server runs as `postgres` there.
    base = Path(tempfile.mkdtemp(prefix="mlregistry-compose-pg-"))
    cluster = base / "pgdata"
    cluster.mkdir()
    password_file = base / "pgpass"
    password_file.write_text(environment["POSTGRES_PASSWORD"] + "\n")
    if os.geteuid() == 0:
        for path in (base, cluster, password_file):
            shutil.chown(path, "postgres")
    initdb = [
        postgres_binary("initdb"),
        "-D",
        str(cluster),
        "-U",
        environment["POSTGRES_USER"],
        f"--pwfile={password_file}",
        "--auth=scram-sha-256",
    ]
    try:
        subprocess.run(as_postgres_user(initdb), check=True, capture_output=True)
    except BaseException:
        shutil.rmtree(base, ignore_errors=True)
        raise
    port = free_port()
    command = [postgres_binary("postgres"), "-D", str(cluster), "-p", str(port), "-k", str(base), "-h", "127.0.0.1"]
    server = subprocess.Popen(as_postgres_user(command), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        ready = [postgres_binary("pg_isready"), "-h", "127.0.0.1", "-p", str(port)]
        for _ in range(100):
            if subprocess.run(ready, capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        env = {**os.environ, "PGPASSWORD": environment["POSTGRES_PASSWORD"]}
        createdb = [
            postgres_binary("createdb"),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-U",
            environment["POSTGRES_USER"],
            environment["POSTGRES_DB"],
        ]
        subprocess.run(createdb, check=True, env=env, capture_output=True)
        yield port, environment
    finally:
        server.terminate()
        server.wait(30)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def compose_object_store() -> Iterator[tuple[str, Any]]:
    """An S3 server standing in for the `minio` service, with the bucket the `create-bucket` job makes."""
    from moto.server import ThreadedMotoServer

    services = compose_services(COMPOSE_ENV)
    registry = services["mlregistry"]["environment"]
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name=registry["AWS_DEFAULT_REGION"],
            aws_access_key_id=registry["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=registry["AWS_SECRET_ACCESS_KEY"],
        )
        client.create_bucket(Bucket=urlsplit(registry["MLREGISTRY_STORAGE_URL"]).hostname)
        yield endpoint, client
    finally:
        server.stop()


def test_compose_registry_runs_against_the_compose_postgres(
    tmp_path: Path, compose_postgres: tuple[int, dict[str, str]], compose_object_store: tuple[str, Any]
) -> None:
    postgres_port, _ = compose_postgres
    store_endpoint, store = compose_object_store
    services = compose_services(COMPOSE_ENV)
    service_env = dict(services["mlregistry"]["environment"])
    database = urlsplit(service_env["MLREGISTRY_DATABASE_URL"])
    assert database.hostname == "postgres" and database.port == 5432
    # Docker's network: the `postgres` and `minio` service names resolve to the servers started here, and
    # the published MinIO port (the public endpoint) is the same server seen from the host.
    service_env["MLREGISTRY_DATABASE_URL"] = service_env["MLREGISTRY_DATABASE_URL"].replace(
        "@postgres:5432/", f"@127.0.0.1:{postgres_port}/"
    )
    assert urlsplit(service_env["MLREGISTRY_S3_ENDPOINT_URL"]).hostname == "minio"
    assert urlsplit(service_env["MLREGISTRY_S3_PUBLIC_ENDPOINT_URL"]).hostname == "localhost"
    service_env["MLREGISTRY_S3_ENDPOINT_URL"] = store_endpoint
    service_env["MLREGISTRY_S3_PUBLIC_ENDPOINT_URL"] = store_endpoint
    data_volume = services["mlregistry"]["volumes"][0].split(":")[1]
    env = {**image_env(), **service_env, "MLREGISTRY_DATA_DIR": str(tmp_path / data_volume.strip("/"))}
    env["MLREGISTRY_PORT"] = str(free_port())
    entrypoint = exec_form("ENTRYPOINT")
    assert entrypoint[:2] == ["mlregistry", "serve"]
    server = ServeProcess(env, tmp_path / "serve.log", args=tuple(entrypoint[2:]))
    with server:
        healthcheck = exec_form("HEALTHCHECK")
        binary = str(Path(sys.executable).parent / healthcheck[0])
        result = subprocess.run([binary, *healthcheck[1:]], env=server.env, capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr
        assert httpx.get(f"{server.url}/readyz").json() == {"status": "ok"}
        with server.client(COMPOSE_ENV["MLREGISTRY_BOOTSTRAP_TOKEN"]) as client:
            assert client.get(f"{API}/models").status_code == 200
            created = client.put(
                f"{API}/ml-repos",
                json={"manifest": {"type": "ml-repo", "name": "compose-repo", "storage_integration_fqn": "default"}},
            )
            assert created.status_code == 200, created.text
            # The data path: stage, upload through a signed URL straight to the object store, finalize, download.
            manifest = artifact_manifest("compose-repo", "compose-artifact")
            staged = stage(client, manifest)
            put_files(client, staged["id"], {"weights.bin": b"compose bytes"})
            finalized = finalize(client, "artifact-versions", manifest, staged["storage_root"])
            assert finalized.status_code == 200, finalized.text
            (read_url,) = signed_urls(client, staged["id"], ["weights.bin"], "READ")
            assert urlsplit(read_url).netloc == urlsplit(store_endpoint).netloc
            assert httpx.get(read_url).content == b"compose bytes"
        bucket = urlsplit(service_env["MLREGISTRY_STORAGE_URL"]).hostname
        keys = [item["Key"] for item in store.list_objects_v2(Bucket=bucket).get("Contents", [])]
        assert any(key.startswith("artifacts/") and key.endswith("/weights.bin") for key in keys), keys
        with server.client("wrong-token") as client:
            assert client.get(f"{API}/models").status_code == 401
    log = server.log_text()
    assert COMPOSE_ENV["POSTGRES_PASSWORD"] not in log and COMPOSE_ENV["MLREGISTRY_BOOTSTRAP_TOKEN"] not in log
    # After the container stops, its healthcheck fails.
    result = subprocess.run([binary, *healthcheck[1:]], env=server.env, capture_output=True, text=True)
    assert result.returncode == 1


def test_docs_assets_are_package_data() -> None:
    """The wheel (and so the image) carries every vendored docs asset: /docs works from an installed package."""
    import fnmatch
    import tomllib

    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["mlregistry"]
    static = ROOT / "src" / "mlregistry" / "static"
    files = [path.relative_to(static.parent).as_posix() for path in static.rglob("*") if path.is_file()]
    assert any(name.endswith("swagger-ui-bundle.js") for name in files)
    assert any(name.endswith("redoc.standalone.js") for name in files)

    def matches(name: str, pattern: str) -> bool:  # setuptools globs: `*` stays within one folder
        parts, globs = name.split("/"), pattern.split("/")
        return len(parts) == len(globs) and all(
            fnmatch.fnmatch(part, glob) for part, glob in zip(parts, globs, strict=True)
        )

    for name in files:
        assert any(matches(name, pattern) for pattern in patterns), f"{name} is not package data"
