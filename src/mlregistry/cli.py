"""`mlregistry serve | db upgrade | admin create-user | admin create-token`."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from mlregistry.repositories.database import create_database
from mlregistry.repositories.migrations import upgrade_to_head
from mlregistry.services import identity
from mlregistry.services.errors import ServiceError
from mlregistry.settings import Settings, load_settings

T = TypeVar("T")

app = typer.Typer(help="mlregistry: a self-hosted ML registry that speaks TrueFoundry's ML API.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema management.", no_args_is_help=True)
admin_app = typer.Typer(help="Users and tokens.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(admin_app, name="admin")

logger = logging.getLogger("mlregistry")


def _settings() -> Settings:
    try:
        return load_settings()
    except Exception as exc:  # pydantic's message names the variable and the rule
        typer.echo(f"Invalid configuration: {exc}", err=True)
        raise typer.Exit(2) from exc


def _in_transaction(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    async def run() -> T:
        database = create_database(settings)
        try:
            async with database.session(write=True) as session:
                result = await work(session)
                await session.commit()
                return result
        finally:
            await database.dispose()

    try:
        return asyncio.run(run())
    except ServiceError as exc:
        typer.echo(f"Error: {exc.message}", err=True)
        raise typer.Exit(1) from exc


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes")] = 1,
    migrate: Annotated[bool, typer.Option("--migrate/--no-migrate", help="Apply pending migrations first")] = True,
) -> None:
    """Run the API server (uvloop + httptools)."""
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = _settings()
    settings.signing_key  # noqa: B018 - create the development key once, before workers fork
    if migrate:
        upgrade_to_head(settings)
    result = _in_transaction(settings, lambda session: identity.bootstrap_admin(session, settings))
    if result.created and result.token:
        logger.warning("Created user 'admin'. Its token is shown once; keep it safe:\n%s", result.token)
    elif result.created:
        logger.info("Created user 'admin' with the token from MLREGISTRY_BOOTSTRAP_TOKEN")
    uvicorn.run(
        "mlregistry.app:create_app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        http="httptools",
        proxy_headers=True,
        log_level="info",
    )


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


def main() -> None:
    """Console entry point."""
    app()


if __name__ == "__main__":
    main()
