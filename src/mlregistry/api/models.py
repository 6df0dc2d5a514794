"""Models and model versions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from mlregistry.api.deps import AppSettings, CurrentCaller, DbSession
from mlregistry.api.docs import ERROR_RESPONSES
from mlregistry.api.family_routes import FamilyRoutes, RunVersionFiltersParams, add_family_routes
from mlregistry.api.paging import PageParams, list_response
from mlregistry.api.responses import JSONResponse
from mlregistry.schemas.common import ListEnvelope
from mlregistry.schemas.resources import (
    ApplyModelVersionRequest,
    ApplyModelVersionTagsRequest,
    Model,
    ModelVersion,
)
from mlregistry.services import versions
from mlregistry.services.families import MODEL
from mlregistry.services.versions import EntityQuery

router = APIRouter(responses=ERROR_RESPONSES)
add_family_routes(
    router,
    FamilyRoutes(
        family=MODEL,
        entity_path="/models",
        version_path="/model-versions",
        entity_tag="Models",
        version_tag="Model versions",
        entity_model=Model,
        version_model=ModelVersion,
        apply_request=ApplyModelVersionRequest,
        tags_request=ApplyModelVersionTagsRequest,
        tags_version_id_field="model_version_id",
    ),
)


@router.get("/models", tags=["Models"], response_model=ListEnvelope[Model], summary="List models")
async def list_models(
    session: DbSession,
    settings: AppSettings,
    caller: CurrentCaller,
    page: PageParams,
    fqn: Annotated[str | None, Query(description="Exact model FQN `model:{tenant}/{ml_repo}/{name}`")] = None,
    ml_repo_id: Annotated[str | None, Query()] = None,
    name: Annotated[str | None, Query(description="Exact model name")] = None,
    run_id: Annotated[str | None, Query(description="Models with a version logged by this run")] = None,
    include_empty_models: Annotated[bool, Query(description="Include models without versions")] = True,
) -> JSONResponse:
    query = EntityQuery(fqn=fqn, ml_repo_id=ml_repo_id, name=name, run_id=run_id, include_empty=include_empty_models)
    items, total = await versions.list_entities(
        session, settings, caller, MODEL, query, offset=page.offset, limit=page.limit
    )
    return list_response(items, total, page)


@router.get(
    "/model-versions", tags=["Model versions"], response_model=ListEnvelope[ModelVersion], summary="List model versions"
)
async def list_model_versions(
    session: DbSession,
    settings: AppSettings,
    caller: CurrentCaller,
    page: PageParams,
    filters: RunVersionFiltersParams,
    model_id: Annotated[str | None, Query()] = None,
) -> JSONResponse:
    items, total = await versions.list_version_items(
        session, settings, caller, MODEL, filters.query(model_id), offset=page.offset, limit=page.limit
    )
    return list_response(items, total, page)
