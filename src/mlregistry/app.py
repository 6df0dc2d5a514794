"""The application factory. Nothing happens at import time."""

from __future__ import annotations

import asyncio
import gc
import inspect
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles

from mlregistry import __version__, metrics
from mlregistry.api import (
    artifacts,
    audit_events,
    data_directories,
    docs,
    health,
    ml_repos,
    models,
    personal_access_tokens,
    platform,
    prompts,
    runs,
    storage_objects,
    teams,
    users,
    virtual_accounts,
    webhooks,
    workspace_models,
    workspaces,
)
from mlregistry.api.edge import refuse_unstorable_input
from mlregistry.api.errors import install_error_handlers
from mlregistry.api.middleware import RequestMiddleware
from mlregistry.api.openapi import install_openapi, operation_id
from mlregistry.api.route_gates import gate_included_routers
from mlregistry.auth.cache import CallerCache
from mlregistry.auth.cache import listen_forever as change_listener
from mlregistry.auth.oidc import OidcVerifier
from mlregistry.logs import configure_logging
from mlregistry.repositories.database import create_database
from mlregistry.services import reaper
from mlregistry.services import webhooks as webhook_worker
from mlregistry.settings import Settings, load_settings
from mlregistry.storage import build_storages
from mlregistry.ui import core as console_core
from mlregistry.ui import routes as console

API_PREFIXES = ("/api/ml/v1", "/api/svc/v1")
REGISTRY_ROUTERS = (
    platform.router,
    ml_repos.router,
    models.router,
    artifacts.router,
    data_directories.router,
    prompts.router,
    users.router,
    personal_access_tokens.router,
    virtual_accounts.router,
    teams.router,
    audit_events.router,
    webhooks.router,
    runs.router,
)
# The NeMo-style entity API has its own paths (`/apis/...`), served at the root.
ENTITY_ROUTERS = (workspaces.router, workspace_models.router)
# The collector's thresholds in a served worker (generation 0 allocations, then collections of 0 and 1).
GC_THRESHOLDS = (10_000, 20, 20)


def create_oidc_verifier(settings: Settings) -> OidcVerifier | None:
    if settings.oidc_issuer is None or settings.oidc_audience is None or settings.oidc_jwks is None:
        return None
    return OidcVerifier(issuer=settings.oidc_issuer, audience=settings.oidc_audience, jwks_source=settings.oidc_jwks)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    database = create_database(settings)
    storages = build_storages(settings)
    # On PostgreSQL the cache is used once this process listens for identity changes (lifespan).
    caller_cache = CallerCache(
        settings.token_cache_seconds,
        stamp=database.identity_stamp,
        listening=database.engine.dialect.name != "postgresql",
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await reaper.sweep_temporary_files(settings, storages)
        reaper_task = (
            asyncio.create_task(reaper.run_forever(database, settings, storages))
            if settings.reaper_interval_seconds > 0
            else None
        )
        webhook_task = (
            asyncio.create_task(webhook_worker.run_forever(database, settings))
            if settings.webhook_poll_interval_seconds > 0
            else None
        )
        listener_task = None
        caches = [c for c in (caller_cache, database.webhook_cache, database.repo_cache) if c is not None and c.enabled]
        if caches and database.engine.dialect.name == "postgresql":
            listener_task = asyncio.create_task(change_listener(caches, database.listen_dsn()))
        try:
            yield
        finally:
            for task in (reaper_task, webhook_task, listener_task):
                if task is not None:
                    task.cancel()
                    with suppress(asyncio.CancelledError):
                        await task
            await database.dispose()

    app = FastAPI(
        title="mlregistry",
        version=__version__,
        description="Self-hosted ML registry control plane that speaks TrueFoundry's ML API. "
        "Every ML API route is served under both `/api/ml/v1` and `/api/svc/v1`; "
        "the NeMo-style workspace and model entity API is served under `/apis/`.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
        generate_unique_id_function=operation_id,
        dependencies=[Depends(refuse_unstorable_input)],
        **_telemetry_options(settings),
    )
    install_openapi(app, settings)
    app.state.settings = settings
    app.state.database = database
    app.state.storages = storages
    app.state.oidc = create_oidc_verifier(settings)
    app.state.caller_cache = caller_cache
    app.state.metrics_registry = metrics.database_registry(database.engine)
    install_error_handlers(app)
    app.add_middleware(RequestMiddleware, settings=settings, metrics=metrics.RequestMetrics())
    app.include_router(health.router)
    app.include_router(storage_objects.router)
    app.include_router(docs.router)
    app.mount(docs.STATIC_PATH, docs.static_files(), name="static")
    for prefix in API_PREFIXES:
        for router in REGISTRY_ROUTERS:
            # The second prefix serves the same operations; keep the OpenAPI page to one copy.
            app.include_router(router, prefix=prefix, include_in_schema=prefix == API_PREFIXES[0])
    for router in ENTITY_ROUTERS:
        app.include_router(router)
    # The web console: server-rendered pages over the same services, with its assets in the package.
    app.mount(console_core.STATIC_PREFIX, StaticFiles(directory=console_core.STATIC_DIR), name="console-static")
    app.include_router(console.router)
    app.include_router(console.root_router)
    gate_included_routers(app)
    return app


def create_app_from_env() -> FastAPI:
    """Entry point for `uvicorn --factory` (each worker process builds its own app and logging)."""
    settings = load_settings()
    configure_logging(settings)
    app = create_app(settings)
    freeze_startup_objects()
    return app


def freeze_startup_objects() -> None:
    """Move everything a worker built at start (modules, routes, schemas, the ORM's mappers) out of the
    garbage collector's sight, and collect the young generation less often.

    These objects live as long as the process, yet every full collection walked all of them: about
    240,000 objects, 105-155 ms of a stalled event loop several times a minute under load, which was
    the tail of every latency (p99). Frozen objects are never collected; only a served worker does
    this, once, so an application built and dropped (tests) stays collectable. A request allocates
    thousands of objects that its own end frees by reference counting; with the default threshold
    (700) each one paid for several collections of the young generation that found nothing."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def _telemetry_options(settings: Settings) -> dict[str, Any]:
    """FastAPI's native OpenTelemetry instrumentation only when asked for: otherwise each request still looks
    up the global tracer, meter and logger providers (about 3% of a version create's CPU, py-spy)."""
    if settings.opentelemetry or "telemetry" not in inspect.signature(FastAPI).parameters:
        return {}
    return {"telemetry": {"tracing": False, "metrics": False, "logs": False}}
