"""Prompts and chat-prompt versions, and rendering a version's messages."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from mlregistry.api.deps import AppSettings, CurrentCaller, DbSession
from mlregistry.api.docs import ERROR_RESPONSES
from mlregistry.api.family_routes import AsOfParam, FamilyRoutes, add_family_routes
from mlregistry.api.paging import PageParams, data_response, list_response
from mlregistry.api.responses import JSONResponse
from mlregistry.schemas.common import DataEnvelope, ListEnvelope
from mlregistry.schemas.limits import VersionNumber
from mlregistry.schemas.prompts import (
    ApplyPromptVersionRequest,
    ApplyPromptVersionTagsRequest,
    Prompt,
    PromptVersion,
    RenderedPrompt,
    RenderPromptRequest,
)
from mlregistry.services import prompts, versions
from mlregistry.services.families import CHAT_PROMPT
from mlregistry.services.versions import EntityQuery, VersionQuery

router = APIRouter(responses=ERROR_RESPONSES)
add_family_routes(
    router,
    FamilyRoutes(
        family=CHAT_PROMPT,
        entity_path="/prompts",
        version_path="/prompt-versions",
        entity_tag="Prompts",
        version_tag="Prompt versions",
        entity_model=Prompt,
        version_model=PromptVersion,
        apply_request=ApplyPromptVersionRequest,
        tags_request=ApplyPromptVersionTagsRequest,
        tags_version_id_field="prompt_version_id",
        apply_description="Every `{{name}}` used in a message must be declared in `manifest.variables` (422 lists the "
        "undeclared ones). Tool `parameters` and a `json_schema` response format must be valid JSON Schemas "
        "(422 names the path of the fault).",
    ),
)


@router.get("/prompts", tags=["Prompts"], response_model=ListEnvelope[Prompt], summary="List prompts")
async def list_prompts(
    session: DbSession,
    settings: AppSettings,
    caller: CurrentCaller,
    page: PageParams,
    fqn: Annotated[str | None, Query(description="Exact prompt FQN `chat_prompt:{tenant}/{ml_repo}/{name}`")] = None,
    ml_repo_id: Annotated[str | None, Query()] = None,
    name: Annotated[str | None, Query(description="Exact prompt name")] = None,
    include_empty_prompts: Annotated[bool, Query(description="Include prompts without versions")] = True,
) -> JSONResponse:
    query = EntityQuery(fqn=fqn, ml_repo_id=ml_repo_id, name=name, include_empty=include_empty_prompts)
    items, total = await versions.list_entities(
        session, settings, caller, CHAT_PROMPT, query, offset=page.offset, limit=page.limit
    )
    return list_response(items, total, page)


@router.get(
    "/prompt-versions",
    tags=["Prompt versions"],
    response_model=ListEnvelope[PromptVersion],
    summary="List prompt versions",
)
async def list_prompt_versions(
    session: DbSession,
    settings: AppSettings,
    caller: CurrentCaller,
    page: PageParams,
    tag: Annotated[str | None, Query()] = None,
    fqn: Annotated[
        str | None, Query(description="Exact version FQN `chat_prompt:{tenant}/{ml_repo}/{name}:{version}`")
    ] = None,
    prompt_id: Annotated[str | None, Query()] = None,
    ml_repo_id: Annotated[str | None, Query()] = None,
    name: Annotated[str | None, Query(description="Exact prompt name")] = None,
    version: Annotated[VersionNumber | None, Query(description="Version number")] = None,
    as_of: AsOfParam = None,
) -> JSONResponse:
    query = VersionQuery(
        fqn=fqn, entity_id=prompt_id, ml_repo_id=ml_repo_id, name=name, version=version, tag=tag, as_of=as_of
    )
    items, total = await versions.list_version_items(
        session, settings, caller, CHAT_PROMPT, query, offset=page.offset, limit=page.limit
    )
    return list_response(items, total, page)


@router.post(
    "/prompt-versions/{id}/render",
    tags=["Prompt versions"],
    response_model=DataEnvelope[RenderedPrompt],
    summary="Render a prompt version's messages with variable values",
    description="Replaces every `{{name}}` placeholder in the messages' text (string `content`, text parts, "
    "image-part URLs, refusal parts) with the given value, else the variable's non-null default from the "
    "manifest. Plain substitution in one pass: no expressions, no code, and values are never expanded again. "
    "A variable with neither a value nor a default → 422 listing every missing name. Needs read access. "
    "Not part of the TrueFoundry API.",
)
async def render_prompt_version(
    id: str, body: RenderPromptRequest, session: DbSession, settings: AppSettings, caller: CurrentCaller
) -> JSONResponse:
    return data_response(await prompts.render_version(session, settings, caller, id, body.variables))
