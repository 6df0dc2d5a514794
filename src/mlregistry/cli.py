"""`mlregistry serve | db upgrade | admin create-user | admin create-token`."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from mlregistry import config_docs
from mlregistry.logs import configure_logging
from mlregistry.repositories.database import Database, create_database
from mlregistry.repositories.migrations import upgrade_to_head
from mlregistry.services import identity, portability
from mlregistry.services.errors import ServiceError
from mlregistry.settings import Settings, load_settings

T = TypeVar("T")

app = typer.Typer(help="mlregistry: a self-hosted ML registry that speaks TrueFoundry's ML API.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema management.", no_args_is_help=True)
admin_app = typer.Typer(help="Users and tokens.", no_args_is_help=True)
app.add_typer(db_app, name="db")
config_app = typer.Typer(help="Configuration: the settings table and the effective values.", no_args_is_help=True)
app.add_typer(admin_app, name="admin")
app.add_typer(config_app, name="config")

logger = logging.getLogger("mlregistry")


def _settings(**overrides: Any) -> Settings:
    try:
        return Settings(**overrides) if overrides else load_settings()
    except Exception as exc:  # pydantic's message names the variable and the rule
        typer.echo(f"Invalid configuration: {exc}", err=True)
        raise typer.Exit(2) from exc


def _with_database(settings: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
    """Run `work` on the configured database; a refused request or a damaged archive exits 1 with its message."""

    async def run() -> T:
        database = create_database(settings)
        try:
            return await work(database)
        finally:
            await database.dispose()

    try:
        return asyncio.run(run())
    except ServiceError as exc:
        typer.echo(f"Error: {exc.message}", err=True)
        raise typer.Exit(1) from exc
    except portability.ArchiveError as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(1) from exc


def _in_transaction(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    async def transaction(database: Database) -> T:
        async with database.session(write=True) as session:
            result = await work(session)
            await session.commit()
            return result

    return _with_database(settings, transaction)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind (default: $MLREGISTRY_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port (default: $MLREGISTRY_PORT)")] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="Worker processes (default: $MLREGISTRY_WORKERS)")] = None,
    migrate: Annotated[bool, typer.Option("--migrate/--no-migrate", help="Apply pending migrations first")] = True,
    print_config: Annotated[
        bool, typer.Option("--print-config", help="Print the effective configuration (secrets masked) and exit")
    ] = False,
) -> None:
    """Run the API server (uvloop + httptools). SIGTERM lets in-flight requests finish first."""
    import uvicorn

    overrides: dict[str, Any] = {
        name: value for name, value in (("host", host), ("port", port), ("workers", workers)) if value
    }
    settings = _settings(**overrides)
    if print_config:
        for name, value in config_docs.effective_config(settings):
            typer.echo(f"{name}={value}")
        return
    # Workers build their settings from the environment: hand the command-line overrides down.
    for name, value in overrides.items():
        os.environ[config_docs.env_name(name)] = str(value)
    configure_logging(settings)
    settings.signing_key  # noqa: B018 - create the development key once, before workers fork
    if migrate:
        upgrade_to_head(settings)
    result = _in_transaction(settings, lambda session: identity.bootstrap_admin(session, settings))
    if result.created and result.token:
        _show_admin_token(settings, result.token)
    elif result.created:
        logger.info("Created user 'admin' with the token from MLREGISTRY_BOOTSTRAP_TOKEN")
    uvicorn.run(
        "mlregistry.app:create_app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        loop="uvloop",
        http="httptools",
        proxy_headers=True,
        log_config=None,
        log_level=settings.log_level,
        access_log=False,
        timeout_graceful_shutdown=settings.shutdown_timeout,
    )


@app.command()
def healthcheck(
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the answer")] = 3.0,
) -> None:
    """Exit 0 when the local server answers /healthz (the container's HEALTHCHECK)."""
    import httpx

    settings = _settings()
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    url = f"http://{host}:{settings.port}/healthz"
    try:
        healthy = httpx.get(url, timeout=timeout).status_code == 200
    except httpx.HTTPError:
        healthy = False
    typer.echo(f"{url}: {'healthy' if healthy else 'unhealthy'}")
    if not healthy:
        raise typer.Exit(1)


@config_app.command("table")
def config_table(
    write: Annotated[Path | None, typer.Option(help="Rewrite the table between the markers in this file")] = None,
    check: Annotated[Path | None, typer.Option(help="Exit 1 when the table in this file is out of date")] = None,
) -> None:
    """Print the Markdown table of every MLREGISTRY_* setting (or write it into the README)."""
    try:
        if write is not None:
            changed = config_docs.write_table(write)
            typer.echo(f"{write}: {'updated' if changed else 'already up to date'}")
        elif check is not None:
            if config_docs.documented_table(check) != config_docs.render_table():
                typer.echo(f"{check}: the settings table is out of date; run `mlregistry config table --write {check}`")
                raise typer.Exit(1)
            typer.echo(f"{check}: the settings table is up to date")
        else:
            sys.stdout.write(config_docs.render_table())
    except ValueError as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(2) from exc


def _show_admin_token(settings: Settings, token: str) -> None:
    """The generated admin token, shown once. Written past the logging formatter, which redacts tokens."""
    message = "Created user 'admin'. Its token is shown once; keep it safe"
    if settings.log_format == "json":
        record = {"level": "warning", "logger": "mlregistry", "message": message, "admin_token": token}
        sys.stderr.write(json.dumps(record) + "\n")
    else:
        sys.stderr.write(f"{message}:\n{token}\n")
    sys.stderr.flush()


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration."""
    upgrade_to_head(_settings())
    typer.echo("Database is up to date")


@admin_app.command("create-user")
def create_user(
    slug: Annotated[str, typer.Argument(help="Unique user name")],
    email: Annotated[str | None, typer.Option(help="E-mail (collaborators name users by it)")] = None,
    display_name: Annotated[str | None, typer.Option(help="Name shown on records")] = None,
    admin: Annotated[bool, typer.Option("--admin", help="Tenant administrator")] = False,
) -> None:
    """Create a user."""
    settings = _settings()
    user = _in_transaction(
        settings,
        lambda session: identity.create_user(
            session, slug=slug, email=email, display_name=display_name, is_admin=admin
        ),
    )
    typer.echo(f"Created user {user.slug} ({user.id})")


@admin_app.command("create-token")
def create_token(
    user: Annotated[str, typer.Option("--user", help="Slug of the token's user")],
    name: Annotated[str, typer.Option("--name", help="Token name (shown as subjectPatName)")],
    expires_in_days: Annotated[int | None, typer.Option(min=1, help="Lifetime; no expiry when omitted")] = None,
) -> None:
    """Issue a personal access token; the token alone is the last line of output."""
    settings = _settings()

    async def work(session: AsyncSession) -> identity.IssuedToken:
        owner = await identity.require_user(session, user)
        return await identity.issue_token(session, settings, owner, name=name, expires_in_days=expires_in_days)

    issued = _in_transaction(settings, work)
    expiry = issued.expires_at.isoformat() if issued.expires_at else "never"
    typer.echo(f"Token '{name}' for {user} (expires: {expiry}):")
    sys.stdout.write(issued.token + "\n")


class _ProgressBar:
    """Records and bytes as two bars on the terminal (rich); nothing when `quiet`."""

    def __init__(self, quiet: bool) -> None:
        from rich.progress import BarColumn, DownloadColumn, Progress, TaskProgressColumn, TextColumn

        self.bars = Progress(
            TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), DownloadColumn(), disable=quiet
        )
        self.records = self.bars.add_task("records", total=None)
        self.bytes = self.bars.add_task("bytes", total=None)

    def start(self, records: int | None, total_bytes: int | None) -> None:
        self.bars.update(self.records, total=records)
        self.bars.update(self.bytes, total=total_bytes)

    def advance(self, records: int = 0, copied_bytes: int = 0) -> None:
        if records:
            self.bars.advance(self.records, records)
        if copied_bytes:
            self.bars.advance(self.bytes, copied_bytes)

    def __enter__(self) -> _ProgressBar:
        self.bars.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bars.stop()


@app.command("export")
def export_command(
    ml_repo: Annotated[str, typer.Option("--ml-repo", help="Name of the ML repo to export")],
    out: Annotated[Path, typer.Option("--out", help="A new `.tar` file, or a new (or empty) directory")],
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bars")] = False,
) -> None:
    """Export an ML repo with its versions and their files to an archive (see README: Export and import)."""
    settings = _settings()
    with _ProgressBar(quiet) as bar:
        summary = _with_database(
            settings, lambda database: portability.export_repo(database, settings, ml_repo, out, bar)
        )
    typer.echo(
        f"Exported ML repo '{summary.ml_repo}' to {out}: {summary.records} records, "
        f"{summary.files} files, {summary.bytes} bytes (export id {summary.export_id})"
    )


@app.command("import")
def import_command(
    archive: Annotated[Path, typer.Argument(help="An archive written by `mlregistry export` (file or directory)")],
    ml_repo: Annotated[str | None, typer.Option("--ml-repo", help="Import under this name instead")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bars")] = False,
) -> None:
    """Import an archive as a new ML repo, all at once or not at all; a repeated import changes nothing."""
    settings = _settings()
    upgrade_to_head(settings)
    with _ProgressBar(quiet) as bar:
        summary = _with_database(
            settings, lambda database: portability.import_archive(database, settings, archive, ml_repo, bar)
        )
    if summary.already_imported:
        typer.echo(f"ML repo '{summary.ml_repo}' was already imported from this archive; nothing changed")
        return
    typer.echo(
        f"Imported ML repo '{summary.ml_repo}' (id {summary.ml_repo_id}): {summary.records} records, "
        f"{summary.files} files, {summary.bytes} bytes"
    )


def main() -> None:
    """Console entry point."""
    app()


if __name__ == "__main__":
    main()
