"""The OpenAPI document: readable operation ids, tag descriptions, and bounds that come from settings.

- Each operation's id is its route's name (`list_model_versions`), unique across the document; the
  copies of the ML API served under the second prefix are not listed, so they need no ids of their own.
- A parameter or field whose bound is a setting declares it with `setting_maximum(MAX_PAGE_SIZE)`;
  the document states the running server's value, so that what it calls valid is what it accepts.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from mlregistry.schemas.limits import MAX_PAGE_NUMBER, MAX_PAGE_SIZE, SETTING_MAXIMUM, max_page_number
from mlregistry.settings import Settings

TAG_DESCRIPTIONS: dict[str, str] = {
    "Health": "Liveness, readiness and Prometheus metrics; no token needed.",
    "Signed URLs (local storage)": "Where signed URLs of the local store point: uploads and downloads of file bytes, "
    "authorized by the URL's signature instead of a token.",
    "Platform": "Server facts the official clients ask for: tenant, session, minimum client version.",
    "ML repos": "ML repos hold models, artifacts, data directories and prompts; collaborators' roles decide access.",
    "Models": "Models of an ML repo, each with its latest version.",
    "Model versions": "Numbered versions of a model: manifest, framework, metrics, tags and a version alias.",
    "Artifacts": "Artifacts of an ML repo, each with its latest version.",
    "Artifact versions": "Numbered versions of an artifact; also the staged upload flow (stage, signed URLs, "
    "finalize) shared with model versions.",
    "Data directories": "Unversioned folders of files in an ML repo, read and written through signed URLs.",
    "Prompts": "Chat prompts of an ML repo, each with its latest version.",
    "Prompt versions": "Numbered versions of a chat prompt: messages, variables, model configuration, tools.",
    "Users": "Users of the tenant; tenant administrators manage them.",
    "Personal access tokens": "Tokens of users, revocable one by one or all at once.",
    "Virtual accounts": "Machine identities with their own tokens and permissions.",
    "Teams": "Teams of users; a team is a collaborator on ML repos as `team:<name>`.",
    "Audit": "Who changed what, when: the audit trail of every mutation.",
    "Workspaces": "NeMo-style workspaces and their members (`/apis/entities/v2`).",
    "Model entities": "NeMo-style model entities of a workspace (`/apis/models/v2`).",
}


def operation_id(route: APIRoute) -> str:
    return route.name


def _apply_setting_bounds(node: Any, settings: Settings) -> None:
    bounds = {MAX_PAGE_SIZE: settings.max_page_size, MAX_PAGE_NUMBER: max_page_number(settings.max_page_size)}
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            bound = item.pop(SETTING_MAXIMUM, None)
            if isinstance(bound, str):
                item["maximum"] = bounds[bound]
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def install_openapi(app: FastAPI, settings: Settings) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            used = {tag for item in document["paths"].values() for op in item.values() for tag in op.get("tags", [])}
            document["tags"] = [
                {"name": name, "description": description}
                for name, description in TAG_DESCRIPTIONS.items()
                if name in used
            ]
            _apply_setting_bounds(document, settings)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
