"""The routes every versioned family shares, registered once per family.

Get and delete an entity; apply, get and delete a version; set a version's tags. Only the list
routes stay in each family's module, because their filters differ (run filters, the name of the
`include_empty_*` flag). This module deliberately has no `from __future__ import annotations`:
FastAPI reads each handler's request-body type from the family's spec when the handler is defined.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from mlregistry.api.deps import AppSettings, AppStorages, CurrentCaller, DbSession
from mlregistry.api.paging import Page, PageParams, data_response, empty_response, list_response, split_repeated
from mlregistry.api.responses import JSONResponse
from mlregistry.auth.subject import Caller
from mlregistry.schemas.common import DataEnvelope, EmptyResponse, ListEnvelope
from mlregistry.schemas.labels import LabelEvent, LabelInterval
from mlregistry.schemas.limits import INT32_MAX, VersionNumber
from mlregistry.services import reaper, versions
from mlregistry.services.errors import Invalid
from mlregistry.services.families import Family
from mlregistry.services.labels import LABEL_ALIAS, LABEL_TAG
from mlregistry.services.versions import VersionQuery


async def as_of_param(
    as_of: Annotated[
        datetime | None,
        Query(
            description="ISO-8601 moment (e.g. `2026-03-01T12:00:00Z`; no offset means UTC): answer what was true "
            "then (the versions that existed, their tags and aliases)"
        ),
    ] = None,
) -> datetime | None:
    if as_of is None:
        return None
    moment = as_of
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


AsOfParam = Annotated[datetime | None, Depends(as_of_param)]
IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=256,
        description="Retries of an apply with the same key and manifest answer the version the first one made",
    ),
]


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
    as_of: datetime | None = None

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
            as_of=self.as_of,
        )


async def run_version_filters(
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
    as_of: AsOfParam = None,
) -> RunVersionFilters:
    return RunVersionFilters(
        tag=tag,
        fqn=fqn,
        ml_repo_id=ml_repo_id,
        name=name,
        version=version,
        run_ids=split_repeated(run_ids) if run_ids is not None else None,
        run_steps=parse_steps(run_steps) if run_steps is not None else None,
        as_of=as_of,
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
        body: apply_body,
        session: DbSession,
        settings: AppSettings,
        storages: AppStorages,
        caller: CurrentCaller,
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> JSONResponse:
        result = await versions.apply_version(
            session, settings, storages, caller, family, body.manifest, idempotency_key=idempotency_key
        )
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

    async def get_version_history(id: str, session: DbSession, caller: CurrentCaller) -> JSONResponse:
        return data_response(await versions.version_history(session, caller, family, id))

    def label_route(kind: str, query_name: str, *, history: bool) -> Any:
        """The list of an entity's aliases or tags (`kind`): who holds them now or `as_of`, or every interval."""
        only = f"Only this {query_name}"
        if history:

            async def list_label_history(
                id: str,
                session: DbSession,
                caller: CurrentCaller,
                page: PageParams,
                label: Annotated[str | None, Query(alias=query_name, description=only)] = None,
            ) -> JSONResponse:
                return await list_labels(id, session, caller, page, kind, label, None, history=True)

            return list_label_history

        async def list_label_holders(
            id: str,
            session: DbSession,
            caller: CurrentCaller,
            page: PageParams,
            as_of: AsOfParam = None,
            label: Annotated[str | None, Query(alias=query_name, description=only)] = None,
        ) -> JSONResponse:
            return await list_labels(id, session, caller, page, kind, label, as_of, history=False)

        return list_label_holders

    async def list_labels(
        id: str,
        session: AsyncSession,
        caller: Caller,
        page: Page,
        kind: str,
        label: str | None,
        as_of: datetime | None,
        *,
        history: bool,
    ) -> JSONResponse:
        items, total = await versions.entity_labels(
            session,
            caller,
            family,
            id,
            kind,
            name=label,
            as_of=as_of,
            history=history,
            offset=page.offset,
            limit=page.limit,
        )
        return list_response(items, total, page)

    list_aliases = label_route(LABEL_ALIAS, "alias", history=False)
    list_alias_history = label_route(LABEL_ALIAS, "alias", history=True)
    list_tags = label_route(LABEL_TAG, "tag", history=False)
    list_tag_history = label_route(LABEL_TAG, "tag", history=True)

    intervals_envelope = ListEnvelope[LabelInterval]
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
        (
            "GET",
            f"{version_route}/history",
            get_version_history,
            f"get_{name}_version_history",
            spec.version_tag,
            DataEnvelope[list[LabelEvent]],
            "A version's tag and alias history",
        ),
        (
            "GET",
            f"{entity_route}/aliases",
            list_aliases,
            f"list_{name}_aliases",
            spec.entity_tag,
            intervals_envelope,
            f"Which version holds each alias of a {label}, now or `as_of` a moment",
        ),
        (
            "GET",
            f"{entity_route}/aliases/history",
            list_alias_history,
            f"list_{name}_alias_history",
            spec.entity_tag,
            intervals_envelope,
            "Every version that held an alias, with intervals",
        ),
        (
            "GET",
            f"{entity_route}/tags",
            list_tags,
            f"list_{name}_tags",
            spec.entity_tag,
            intervals_envelope,
            f"Which version holds each tag of a {label}, now or `as_of` a moment",
        ),
        (
            "GET",
            f"{entity_route}/tags/history",
            list_tag_history,
            f"list_{name}_tag_history",
            spec.entity_tag,
            intervals_envelope,
            "Every version that held a tag, with intervals",
        ),
    ]
    descriptions = {
        get_entity: "With its latest version embedded, if it has any.",
        delete_entity: "Deletes its versions too.",
        apply_version: spec.apply_description,
        apply_tags: "A tag names one version per entity; `force` moves a tag held by another version here.",
        get_version_history: "Each time the version gained or lost a tag or its alias (set, moved with `force`, "
        "removed, deleted with the version): who, when, from which version to which; oldest first.",
        list_aliases: "Each alias with the version that holds it; with `as_of`, the holders at that moment, read "
        "from the history's interval index.",
        list_tags: "Each tag with the version that holds it; with `as_of`, the holders at that moment, read "
        "from the history's interval index.",
        list_alias_history: "Intervals ordered by alias, then start; `valid_to` null means it still holds it. "
        "History outlives deleted versions.",
        list_tag_history: "Intervals ordered by tag, then start; `valid_to` null means it still holds it. "
        "History outlives deleted versions.",
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
