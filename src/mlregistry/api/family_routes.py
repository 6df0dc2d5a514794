"""The routes every versioned family shares, registered once per family.

Get and delete an entity; apply, get and delete a version; set a version's tags. Only the list
routes stay in each family's module, because their filters differ (run filters, the name of the
`include_empty_*` flag). This module deliberately has no `from __future__ import annotations`:
FastAPI reads each handler's request-body type from the family's spec when the handler is defined.
"""

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from mlregistry.api.deps import AppSettings, AppStorages, CurrentCaller, DbSession
from mlregistry.api.paging import data_response, empty_response, split_repeated
from mlregistry.schemas.common import DataEnvelope, EmptyResponse
from mlregistry.schemas.limits import INT32_MAX, VersionNumber
from mlregistry.services import reaper, versions
from mlregistry.services.errors import Invalid
from mlregistry.services.families import Family
from mlregistry.services.versions import VersionQuery


def parse_steps(values: list[str] | None) -> list[int]:
    """Steps arrive as `1`, `1.0` or `2.5`; only integral values can match a stored step.

    A step beyond the column's range is a 422 (it is a number, just not one a step can be).
    """
    steps: list[int] = []
    for value in split_repeated(values):
        try:
            number = float(value)
        except ValueError:
            continue
        if not -INT32_MAX - 1 <= number <= INT32_MAX:
            raise Invalid.field(["query", "run_steps"], f"must be between 0 and {INT32_MAX}")
        if number.is_integer():
            steps.append(int(number))
    return steps


@dataclass(frozen=True)
class RunVersionFilters:
    """The list filters of model and artifact versions, less the parent id (whose name differs)."""

    tag: str | None
    fqn: str | None
    ml_repo_id: str | None
    name: str | None
    version: int | None
    run_ids: list[str] | None
    run_steps: list[int] | None

    def query(self, entity_id: str | None) -> VersionQuery:
        return VersionQuery(
            fqn=self.fqn,
            entity_id=entity_id,
            ml_repo_id=self.ml_repo_id,
            name=self.name,
            version=self.version,
            tag=self.tag,
            run_ids=self.run_ids,
            run_steps=self.run_steps,
        )


def run_version_filters(
    tag: Annotated[str | None, Query(description="Versions carrying this tag")] = None,
    fqn: Annotated[
        str | None, Query(description="Exact version FQN `{type}:{tenant}/{ml_repo}/{name}:{version}`")
    ] = None,
    ml_repo_id: Annotated[str | None, Query()] = None,
    name: Annotated[str | None, Query(description="Exact name of the model or artifact")] = None,
    version: Annotated[VersionNumber | None, Query(description="Version number")] = None,
    run_ids: Annotated[list[str] | None, Query(description="Repeated key or comma-separated")] = None,
    run_steps: Annotated[list[str] | None, Query(description="Repeated key or comma-separated")] = None,
    include_internal_metadata: Annotated[bool, Query(description="Metadata is always returned unchanged")] = False,
) -> RunVersionFilters:
    return RunVersionFilters(
        tag=tag,
        fqn=fqn,
        ml_repo_id=ml_repo_id,
        name=name,
        version=version,
        run_ids=split_repeated(run_ids) if run_ids is not None else None,
        run_steps=parse_steps(run_steps) if run_steps is not None else None,
    )


RunVersionFiltersParams = Annotated[RunVersionFilters, Depends(run_version_filters)]


@dataclass(frozen=True)
class FamilyRoutes:
    family: Family
    entity_path: str  # "/models"
    version_path: str  # "/model-versions"
    entity_tag: str  # OpenAPI tag: "Models"
    version_tag: str  # "Model versions"
    entity_model: type[BaseModel]  # wire type of the entity, for the OpenAPI page
    version_model: type[BaseModel]
    apply_request: type[BaseModel]  # `{"manifest": ...}` with the family's manifest type
    tags_request: type[BaseModel]  # `{"<family>_version_id", "tags", "force"}`
    tags_version_id_field: str  # "model_version_id"
    apply_description: str | None = None  # family rules of the apply, for the OpenAPI page


def add_family_routes(router: APIRouter, spec: FamilyRoutes) -> None:
    family = spec.family
    label = family.label.lower()
    entity_route = f"{spec.entity_path}/{{id}}"
    version_route = f"{spec.version_path}/{{id}}"
    apply_body: Any = spec.apply_request
    tags_body: Any = spec.tags_request
    # Envelopes parametrised at run time (mypy cannot read a variable as a type argument).
    entity_envelope: Any = DataEnvelope[spec.entity_model]  # type: ignore[name-defined]
    version_envelope: Any = DataEnvelope[spec.version_model]  # type: ignore[name-defined]

    async def get_entity(id: str, session: DbSession, settings: AppSettings, caller: CurrentCaller) -> JSONResponse:
        return data_response(await versions.get_entity(session, settings, caller, family, id))

    async def delete_entity(id: str, session: DbSession, storages: AppStorages, caller: CurrentCaller) -> JSONResponse:
        await versions.delete_entity(session, caller, family, id)
        await session.commit()
        await reaper.drain_quietly(session, storages)
        return empty_response()

    async def apply_version(
        body: apply_body, session: DbSession, settings: AppSettings, storages: AppStorages, caller: CurrentCaller
    ) -> JSONResponse:
        result = await versions.apply_version(session, settings, storages, caller, family, body.manifest)
        await session.commit()
        return data_response(result)

    async def apply_tags(body: tags_body, session: DbSession, caller: CurrentCaller) -> JSONResponse:
        version_id = getattr(body, spec.tags_version_id_field)
        await versions.apply_tags(session, caller, family, version_id, body.tags, force=body.force)
        await session.commit()
        return empty_response()

    async def get_version(id: str, session: DbSession, settings: AppSettings, caller: CurrentCaller) -> JSONResponse:
        return data_response(await versions.get_version(session, settings, caller, family, id))

    async def delete_version(id: str, session: DbSession, storages: AppStorages, caller: CurrentCaller) -> JSONResponse:
        await versions.delete_version(session, caller, family, id)
        await session.commit()
        await reaper.drain_quietly(session, storages)
        return empty_response()

    name = family.name
    routes: list[tuple[str, str, Any, str, str, Any, str]] = [
        # (method, path, handler, operation name, OpenAPI tag, response model, summary)
        ("GET", entity_route, get_entity, f"get_{name}", spec.entity_tag, entity_envelope, f"Get a {label}"),
        ("DELETE", entity_route, delete_entity, f"delete_{name}", spec.entity_tag, EmptyResponse, f"Delete a {label}"),
        (
            "PUT",
            spec.version_path,
            apply_version,
            f"apply_{name}_version",
            spec.version_tag,
            version_envelope,
            f"Create a {label} version, or update the version the manifest names",
        ),
        (
            "PUT",
            f"{spec.version_path}/tags",
            apply_tags,
            f"apply_{name}_version_tags",
            spec.version_tag,
            EmptyResponse,
            "Set a version's tags",
        ),
        (
            "GET",
            version_route,
            get_version,
            f"get_{name}_version",
            spec.version_tag,
            version_envelope,
            f"Get a {label} version",
        ),
        (
            "DELETE",
            version_route,
            delete_version,
            f"delete_{name}_version",
            spec.version_tag,
            EmptyResponse,
            f"Delete a {label} version",
        ),
    ]
    descriptions = {
        get_entity: "With its latest version embedded, if it has any.",
        delete_entity: "Deletes its versions too.",
        apply_version: spec.apply_description,
        apply_tags: "A tag names one version per entity; `force` moves a tag held by another version here.",
    }
    for method, path, handler, operation, tag, response_model, summary in routes:
        router.add_api_route(
            path,
            handler,
            methods=[method],
            name=operation,
            tags=[tag],
            response_model=response_model,
            summary=summary,
            description=descriptions.get(handler),
        )
