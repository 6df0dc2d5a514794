from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import text

from mlregistry import metrics
from mlregistry.api.deps import DbSession
from mlregistry.api.responses import JSONResponse

router = APIRouter(tags=["Health"])


@router.get("/healthz", summary="The process is alive (no auth)")
async def healthz() -> JSONResponse:
    return JSONResponse({"status": "ok"})


@router.get("/readyz", summary="The database is reachable (no auth)")
async def readyz(session: DbSession) -> JSONResponse:
    try:
        await session.execute(text("SELECT 1"))
    except Exception as exc:  # any database failure means "not ready", never a 500
        return JSONResponse({"status": "unavailable", "reason": type(exc).__name__}, status_code=503)
    return JSONResponse({"status": "ok"})


@router.get(
    "/metrics",
    summary="Prometheus metrics of this process (no auth: expose it to the scraper only)",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text exposition format"}},
)
async def prometheus_metrics(request: Request) -> Response:
    return Response(metrics.render(request.app.state.metrics_registry), media_type=metrics.CONTENT_TYPE)
