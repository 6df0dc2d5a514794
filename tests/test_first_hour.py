"""A new user's first hour, the way they take it: the wheel installed non-editable into a fresh virtualenv,
the README's first start from an empty folder, TrueFoundry's library creating an ML repo with the generated
admin token, and the admin commands an operator reaches for."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import sysconfig
import venv
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.factories import API
from tests.live import free_port
from tests.processes import cli_env, readme_block, run_cli, serving

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed_wheel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The `bin/` of a new virtualenv holding the project's wheel (not editable) and nothing of the checkout.

    The wheel goes in with --no-deps; its dependencies come from this interpreter's site-packages through a
    path line (its .pth files, among them the editable install's, are not processed there)."""
    work = tmp_path_factory.mktemp("wheel")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(work / "dist"), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stderr[-4000:]
    (wheel,) = (work / "dist").glob("mlregistry-*.whl")
    environment = work / "venv"
    venv.create(environment, with_pip=False)
    site_packages = Path(sysconfig.get_path("purelib", vars={"base": str(environment), "platbase": str(environment)}))
    (site_packages / "project-dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    python = environment / "bin" / "python"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--quiet", str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert installed.returncode == 0, installed.stderr[-4000:]
    origin = subprocess.run(
        [str(python), "-c", "import mlregistry; print(mlregistry.__file__)"], capture_output=True, text=True
    )
    assert str(environment) in origin.stdout, f"mlregistry must come from the wheel: {origin.stdout}{origin.stderr}"
    yield environment / "bin"


def empty_folder_env(folder: Path, bin_dir: Path, **extra: str) -> dict[str, str]:
    """A user's shell: no MLREGISTRY_* variable at all (no migrations dir), the new virtualenv first on PATH."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("MLREGISTRY_")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["HOME"] = str(folder)
    env.update(extra)
    return env


def test_the_readme_first_start_from_a_wheel_in_an_empty_folder(tmp_path: Path, installed_wheel: Path) -> None:
    folder = tmp_path / "empty"
    folder.mkdir()
    port = free_port()
    env = empty_folder_env(folder, installed_wheel, MLREGISTRY_PORT=str(port))
    version = subprocess.run(["mlregistry", "--version"], cwd=folder, env=env, capture_output=True, text=True)
    assert version.returncode == 0 and re.fullmatch(r"mlregistry \d+\.\d+\.\d+\S*\n", version.stdout), version

    # The README's block as written, less the install the fixture did, on a free port.
    block = readme_block("first-start").replace("pip install .\n", "").replace("8000", str(port))
    script = f"set -euo pipefail\ntrap 'kill %1 2>/dev/null; wait' EXIT\n{block}\necho\necho \"TOKEN=$TOKEN\"\n"
    first = subprocess.run(["bash", "-c", script], cwd=folder, env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr + (folder / "serve.log").read_text()
    listed, token_line = first.stdout.strip().splitlines()[-2:]
    assert json.loads(listed) == {"data": [], "pagination": {"total": 0, "offset": 0, "limit": 100}}
    token = token_line.removeprefix("TOKEN=")
    assert token.count(".") == 2
    assert sorted(path.name for path in folder.iterdir()) == ["mlregistry-data", "serve.log"]

    # The README's clients with that token: TrueFoundry's library creates an ML repo as the default admin.
    with serving_wheel(folder, env, port) as url:
        clients = subprocess.run(
            [sys.executable, "-c", readme_block("first-clients", "python")],
            cwd=folder,
            env={**env, "TFY_HOST": url, "TFY_API_KEY": token, "PATH": os.environ["PATH"]},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert clients.returncode == 0, clients.stderr[-4000:]
        assert clients.stdout.strip().splitlines()[-1] == "churn", clients.stdout
        session = httpx.get(f"{url}{API}/session", headers={"Authorization": f"Bearer {token}"}).json()
        assert session["user"]["email"] == "admin@mlregistry.local"
        # The wheel carries the console's templates and assets, and the docs page's.
        sign_in = httpx.get(f"{url}/ui/login")
        assert sign_in.status_code == 200 and "<form" in sign_in.text
        for asset in ("/ui/static/console.css", "/static/swagger-ui/swagger-ui-bundle.js"):
            assert httpx.get(f"{url}{asset}").status_code == 200, asset
    later_start = (folder / "later.log").read_text()
    assert "User 'admin' exists" in later_start and "admin create-token --user admin" in later_start
    assert token not in later_start


class serving_wheel:  # noqa: N801 - used as a context manager like `serving`
    """`mlregistry serve` of the installed wheel again in the same folder (a later start)."""

    def __init__(self, folder: Path, env: dict[str, str], port: int) -> None:
        self.folder, self.env, self.port = folder, env, port

    def __enter__(self) -> str:
        self.log = open(self.folder / "later.log", "w")  # noqa: SIM115 - closed in __exit__
        self.process = subprocess.Popen(
            ["mlregistry", "serve"], cwd=self.folder, env=self.env, stdout=self.log, stderr=subprocess.STDOUT
        )
        url = f"http://127.0.0.1:{self.port}"
        for _ in range(600):
            assert self.process.poll() is None, (self.folder / "later.log").read_text()
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    return url
            except httpx.HTTPError:
                pass
            subprocess.run(["sleep", "0.1"])
        raise AssertionError("the server did not become ready")

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        self.log.close()


def test_create_user_needs_an_email_and_a_new_database_gets_the_schema(tmp_path: Path, database_url: str) -> None:
    env = cli_env(tmp_path, database_url)
    refused = run_cli(["admin", "create-user", "bob"], env)
    assert refused.returncode == 2
    assert "--email is required" in refused.stderr and "virtual account" in refused.stderr

    # No `db upgrade` first: a new database gets the schema instead of a raw SQLAlchemy traceback.
    created = run_cli(["admin", "create-user", "bob", "--email", "bob@example.com"], env)
    assert created.returncode == 0, created.stderr
    assert "applying the migrations" in created.stderr and "Traceback" not in created.stderr
    duplicate = run_cli(["admin", "create-user", "bob", "--email", "bob@example.com"], env)
    assert duplicate.returncode == 1
    assert "already exists" in duplicate.stderr and "None" not in duplicate.stderr
    current = run_cli(["db", "current"], env)
    assert current.returncode == 0 and "Database is up to date" in current.stdout, current.stderr


def test_db_current_and_admin_commands_refuse_a_database_behind_this_release(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    assert run_cli(["admin", "create-user", "carol", "--email", "carol@example.com"], env).returncode == 0
    database = tmp_path / "registry.db"
    assert database.is_file()
    import sqlite3

    with sqlite3.connect(database) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '0011'")
    current = run_cli(["db", "current"], env)
    assert current.returncode == 1 and "database: 0011" in current.stdout and "db upgrade" in current.stderr
    refused = run_cli(["admin", "list-users"], env)
    assert refused.returncode == 1 and "run `mlregistry db upgrade`" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_admin_commands_list_revoke_and_deactivate_on_a_running_server(tmp_path: Path, database_url: str) -> None:
    env = cli_env(tmp_path, database_url, MLREGISTRY_BOOTSTRAP_TOKEN="tfy_first_hour_bootstrap_0123456789")
    assert run_cli(["db", "upgrade"], env).returncode == 0
    with serving(env) as url:
        assert run_cli(["admin", "create-user", "dana", "--email", "dana@example.com"], env).returncode == 0
        issued = run_cli(["admin", "create-token", "--user", "dana", "--name", "laptop"], env)
        token = issued.stdout.strip().splitlines()[-1]
        second = run_cli(["admin", "create-token", "--user", "dana", "--name", "ci"], env).stdout.split()[-1]
        users = run_cli(["admin", "list-users"], env)
        assert users.returncode == 0, users.stderr
        rows = {line.split()[0]: line.split() for line in users.stdout.splitlines()[1:]}
        assert rows["admin"][1:4] == ["admin@mlregistry.local", "yes", "yes"]
        assert rows["dana"][1:4] == ["dana@example.com", "no", "yes"]
        tokens = run_cli(["admin", "list-tokens", "--user", "dana"], env).stdout.splitlines()
        assert tokens[0].split() == ["ID", "NAME", "CREATED", "EXPIRES"]
        by_name = {line.split()[1]: line.split()[0] for line in tokens[1:]}
        assert sorted(by_name) == ["ci", "laptop"]

        def models(secret: str) -> int:
            return httpx.get(f"{url}{API}/models", headers={"Authorization": f"Bearer {secret}"}).status_code

        assert models(token) == 200 and models(second) == 200
        revoked = run_cli(["admin", "revoke-token", by_name["laptop"]], env)
        assert revoked.returncode == 0, revoked.stderr
        assert models(token) == 401 and models(second) == 200
        assert run_cli(["admin", "revoke-token", by_name["laptop"]], env).returncode == 1  # already revoked
        assert [
            line.split()[1] for line in run_cli(["admin", "list-tokens", "--user", "dana"], env).stdout.splitlines()[1:]
        ] == ["ci"]

        assert run_cli(["admin", "deactivate-user", "dana"], env).returncode == 0
        assert models(second) == 401
        assert "dana" not in run_cli(["admin", "list-users"], env).stdout
        assert "dana" in run_cli(["admin", "list-users", "--all"], env).stdout
        assert run_cli(["admin", "activate-user", "dana"], env).returncode == 0
        assert models(second) == 200
        reaped = run_cli(["admin", "reap"], env)
        assert reaped.returncode == 0 and "Reaped 0" in reaped.stdout, reaped.stderr
        assert run_cli(["admin", "deactivate-user", "nobody"], env).returncode == 1


def test_an_admin_without_email_from_an_earlier_release_gets_one(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    assert run_cli(["db", "upgrade"], env).returncode == 0
    import sqlite3

    with serving(env):
        pass
    with sqlite3.connect(tmp_path / "registry.db") as connection:
        connection.execute("UPDATE users SET email = NULL WHERE slug = 'admin'")
    with serving(env):
        pass
    with sqlite3.connect(tmp_path / "registry.db") as connection:
        (email,) = connection.execute("SELECT email FROM users WHERE slug = 'admin'").fetchone()
    assert email == "admin@mlregistry.local"
    logs = "".join(path.read_text() for path in tmp_path.glob("serve-*.log"))
    assert "Gave user 'admin' the e-mail admin@mlregistry.local" in logs
