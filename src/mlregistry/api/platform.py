"""Platform endpoints the `truefoundry` library calls before any registry call."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from mlregistry import __version__
from mlregistry.api.deps import AppSettings, CurrentCaller
from mlregistry.api.docs import ERROR_RESPONSES
from mlregistry.api.responses import JSONResponse
from mlregistry.schemas.resources import Session

router = APIRouter(tags=["Platform"])

# The oldest truefoundry client release this server is known to work with.
MIN_CLIENT_VERSION = "0.0.0"


@router.get("/min-cli-version", summary="Client version requirements (no auth)")
async def min_cli_version() -> JSONResponse:
    return JSONResponse(
        {
            "minVersion": MIN_CLIENT_VERSION,
            "truefoundryCliMinVersion": MIN_CLIENT_VERSION,
            "useSFYServerAuthAPIs": True,
            "serverVersion": __version__,
        }
    )


@router.get("/tenant-id", summary="Tenant discovery (no auth)")
async def tenant_id(
    request: Request,
    settings: AppSettings,
    hostName: Annotated[str | None, Query(description="Host the client was configured with")] = None,
) -> JSONResponse:
    base_url = str(request.base_url).rstrip("/")
    return JSONResponse(
        {"tenantName": settings.tenant_name, "auth_server_url": base_url, "hostName": hostName or request.url.netloc}
    )


@router.get("/session", response_model=Session, responses=ERROR_RESPONSES, summary="The caller's identity")
async def session(settings: AppSettings, caller: CurrentCaller) -> JSONResponse:
    subject = caller.as_subject()
    user: dict[str, Any] = {
        "id": caller.subject_id,
        "email": caller.email,
        "username": caller.slug,
        "tenantName": settings.tenant_name,
        "subjectSlug": caller.slug,
        "subjectType": caller.subject_type,
        "subject": subject,
        "roles": ["tenant-admin"] if caller.is_tenant_admin else ["tenant-member"],
        "metadata": {"displayName": caller.display_name or caller.slug, "userObject": {"username": caller.slug}},
    }
    return JSONResponse({"user": user, "tenantInfo": {"tenantName": settings.tenant_name}})
