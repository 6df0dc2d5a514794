"""`mlregistry serve | db upgrade|current | admin ... | export | import | config ...`."""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from mlregistry import config_docs
from mlregistry.auth.subject import SYSTEM_CALLER
from mlregistry.logs import configure_logging
from mlregistry.repositories.database import Database, create_database
from mlregistry.repositories.migrations import (
    applied_revisions,
    head_revisions,
    unknown_revisions,
    upgrade_to_head,
)
from mlregistry.services import identity, personal_access_tokens, portability, reaper, users
from mlregistry.services.errors import ServiceError
from mlregistry.settings import Settings, load_settings
from mlregistry.storage import build_storages

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


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"mlregistry {importlib.metadata.version('mlregistry')}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool, typer.Option("--version", callback=_version_callback, is_eager=True, help="Print the version and exit")
    ] = False,
) -> None:
    """mlregistry: a self-hosted ML registry that speaks TrueFoundry's ML API."""


class SchemaNotCurrent(Exception):
    """The database's schema is not the one this release needs; the message says what to run."""


async def _ensure_schema(settings: Settings, database: Database) -> None:
    """A new, empty database gets the schema; one at another revision is refused with what to run."""
    applied = await applied_revisions(database)
    if applied is None:
        typer.echo("The database has no schema yet: applying the migrations", err=True)
        await asyncio.to_thread(upgrade_to_head, settings)
        return
    heads = head_revisions(settings)
    if applied != heads:
        at = ", ".join(sorted(applied)) or "no revision"
        raise SchemaNotCurrent(
            f"the database schema is at {at}, this release of mlregistry needs {', '.join(sorted(heads))}; "
            "run `mlregistry db upgrade` (or start `mlregistry serve`, which applies pending migrations)"
            if not unknown_revisions(settings, applied)
            else f"the database schema is at {at}, newer than this release of mlregistry knows "
            f"({', '.join(sorted(heads))}); run a newer mlregistry"
        )


def _with_database(settings: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
    """Run `work` on the configured database (migrated if it is new); a refused request, a database at another
    schema or a damaged archive exits 1 with its message."""

    async def run() -> T:
        database = create_database(settings)
        try:
            await _ensure_schema(settings, database)
            return await work(database)
        finally:
            await database.dispose()

    try:
        return asyncio.run(run())
    except ServiceError as exc:
        typer.echo(f"Error: {exc.message}", err=True)
        raise typer.Exit(1) from exc
    except (portability.ArchiveError, SchemaNotCurrent) as exc:
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
    else:
        logger.info("User 'admin' exists; for a new token run: mlregistry admin create-token --user admin --name NAME")
    if result.email_added:
        logger.warning(
            "Gave user 'admin' the e-mail %s (MLREGISTRY_BOOTSTRAP_ADMIN_EMAIL); tokens issued before carry none: "
            "create a new one with `mlregistry admin create-token --user admin --name NAME`",
            result.email_added,
        )
    from mlregistry.balancing import connection_table

    with connection_table(settings.workers):
        uvicorn.run(
            "mlregistry.app:create_app_from_env",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            # uvloop, whose workers share their connections out evenly (balancing.py).
            loop="mlregistry.balancing:new_event_loop",
            # uvicorn's httptools protocol, sending each answer's head with its body (http_protocol.py).
            http="mlregistry.http_protocol:HttpProtocol",
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
    """The generated admin token, shown once. Written past the logging formatter, which redacts tokens.

    On a terminal, plainly, whatever the log format; in a JSON log, as the `admin_token` field of one line
    (the README captures it into $TOKEN from there)."""
    message = "Created user 'admin'. Its token is shown once; keep it safe"
    if sys.stderr.isatty():
        sys.stderr.write(
            f"\n{message}:\n\n    {token}\n\n"
            f"Use it as a bearer token:  export TOKEN={token}\n"
            "A new one at any time:     mlregistry admin create-token --user admin --name NAME\n\n"
        )
    elif settings.log_format == "json":
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


@db_app.command("current")
def db_current() -> None:
    """Print the database's schema revision and this release's; exit 1 when they differ."""
    settings = _settings()

    async def run() -> set[str] | None:
        database = create_database(settings)
        try:
            return await applied_revisions(database)
        finally:
            await database.dispose()

    applied = asyncio.run(run())
    heads = head_revisions(settings)
    at = ", ".join(sorted(applied)) if applied else "none (no schema)"
    typer.echo(f"database: {at}")
    typer.echo(f"release:  {', '.join(sorted(heads))}")
    if applied != heads:
        typer.echo("The database is not at this release's schema; run `mlregistry db upgrade`", err=True)
        raise typer.Exit(1)
    typer.echo("Database is up to date")


@admin_app.command("create-user")
def create_user(
    slug: Annotated[str, typer.Argument(help="Unique user name")],
    email: Annotated[
        str | None, typer.Option(help="E-mail (required: tokens carry it; collaborators name users by it)")
    ] = None,
    display_name: Annotated[str | None, typer.Option(help="Name shown on records")] = None,
    admin: Annotated[bool, typer.Option("--admin", help="Tenant administrator")] = False,
) -> None:
    """Create a user (a person; for a machine identity create a virtual account)."""
    if not email:
        typer.echo(
            "Error: --email is required. Every user's token carries an e-mail: TrueFoundry's clients take a token "
            "without one for a virtual account and refuse, for instance, to create ML repos with it. "
            "For a machine identity, create a virtual account instead (POST /api/svc/v1/virtual-accounts).",
            err=True,
        )
        raise typer.Exit(2)
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


def _print_rows(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    for row in (header, *rows):
        typer.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


LIST_PAGE = 1000


@admin_app.command("list-users")
def list_users_command(
    include_inactive: Annotated[bool, typer.Option("--all", help="Deactivated users too")] = False,
) -> None:
    """List users: name, e-mail, tenant admin, active, id."""
    settings = _settings()

    async def work(session: AsyncSession) -> list[dict[str, Any]]:
        listed: list[dict[str, Any]] = []
        while True:
            page, total = await users.list_users(
                session,
                settings,
                SYSTEM_CALLER,
                query=None,
                show_invalid=include_inactive,
                offset=len(listed),
                limit=LIST_PAGE,
            )
            listed.extend(page)
            if not page or len(listed) >= total:
                return listed

    rows = [
        (
            user["metadata"]["userObject"]["username"],
            user["email"],
            "yes" if "tenant-admin" in user["roles"] else "no",
            "yes" if user["active"] else "no",
            user["id"],
        )
        for user in _in_transaction(settings, work)
    ]
    _print_rows(("USER", "EMAIL", "ADMIN", "ACTIVE", "ID"), rows)


@admin_app.command("list-tokens")
def list_tokens_command(
    user: Annotated[str, typer.Option("--user", help="Slug of the tokens' user")],
) -> None:
    """List a user's live (unrevoked) personal access tokens: id, name, created, expires."""
    settings = _settings()

    async def work(session: AsyncSession) -> list[tuple[str, ...]]:
        owner = await identity.require_user(session, user)
        rows: list[tuple[str, ...]] = []
        while True:
            page, total = await personal_access_tokens.list_tokens_of_user(
                session, SYSTEM_CALLER, owner, offset=len(rows), limit=LIST_PAGE
            )
            rows.extend(
                (
                    token.jti,
                    token.name,
                    token.created_at.isoformat(timespec="seconds"),
                    token.expires_at.isoformat(timespec="seconds") if token.expires_at else "never",
                )
                for token in page
            )
            if not page or len(rows) >= total:
                return rows

    _print_rows(("ID", "NAME", "CREATED", "EXPIRES"), _in_transaction(settings, work))


@admin_app.command("revoke-token")
def revoke_token_command(
    token_id: Annotated[str, typer.Argument(help="The token's id (`admin list-tokens`)")],
) -> None:
    """Revoke a personal access token; requests with it are refused from now on, on every server process."""
    settings = _settings()
    _in_transaction(settings, lambda session: personal_access_tokens.revoke_token(session, SYSTEM_CALLER, token_id))
    typer.echo(f"Revoked token {token_id}")


def _set_active(slug: str, *, active: bool) -> None:
    settings = _settings()

    async def work(session: AsyncSession) -> None:
        user = await identity.require_user(session, slug)
        await users.set_user_active(session, SYSTEM_CALLER, user, active=active)

    _in_transaction(settings, work)
    typer.echo(f"{'Activated' if active else 'Deactivated'} user {slug}")


@admin_app.command("deactivate-user")
def deactivate_user_command(slug: Annotated[str, typer.Argument(help="The user's name")]) -> None:
    """Deactivate a user: their tokens are refused until the user is activated again."""
    _set_active(slug, active=False)


@admin_app.command("activate-user")
def activate_user_command(slug: Annotated[str, typer.Argument(help="The user's name")]) -> None:
    """Activate a deactivated user again."""
    _set_active(slug, active=True)


@admin_app.command("reap")
def reap_command() -> None:
    """Run the reaper once: abandoned staged versions, queued storage deletions, stale temporary files."""
    settings = _settings()
    reaped = _with_database(settings, lambda database: reaper.reap_once(database, settings, build_storages(settings)))
    typer.echo(f"Reaped {reaped} abandoned staged versions")


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
