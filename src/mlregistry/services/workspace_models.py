"""Workspace model entities (NeMo-style Models API): create, read, list, update (PATCH) and delete.

Access is the workspace's: viewers read, editors write. The trust_remote_code rule: a model may
trust remote code only when its fileset comes from a trusted source
(`MLREGISTRY_TRUSTED_FILESET_SOURCES`: a workspace prefix or a full fileset name) or when the caller
is an administrator; it is checked on create, and on update when the value becomes true or when
the fileset of a trusting model changes.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from mlregistry.auth.subject import Caller
from mlregistry.orm import WorkspaceModel
from mlregistry.orm.base import utcnow
from mlregistry.repositories import workspace_models as queries
from mlregistry.schemas.workspace_models import (
    WORKSPACE_LIST_ALL,
    CreateModelEntityRequest,
    ModelEntityFields,
    UpdateModelEntityRequest,
)
from mlregistry.services.access import Role, authorize, workspace_scope
from mlregistry.services.errors import Conflict, Forbidden, Invalid, NotFound
from mlregistry.services.presenters import SECRET_MASK, workspace_model_to_wire
from mlregistry.services.workspaces import workspace_for
from mlregistry.settings import Settings

# The fields stored as given on create and replaced on update (when sent and not null).
ENTITY_FIELDS = tuple(ModelEntityFields.model_fields)
BOOLEAN_FILTERS = frozenset({"trust_remote_code"})
FILTERABLE = frozenset(queries.FILTER_COLUMNS) | {"workspace"}


def model_not_found(workspace: str, name: str) -> str:
    return f"Model '{name}' not found in workspace '{workspace}'"


def fileset_is_trusted(settings: Settings, fileset: str | None) -> bool:
    if not fileset:
        return False
    workspace = fileset.split("/", 1)[0]
    return any(source == fileset or source.rstrip("/") == workspace for source in settings.trusted_fileset_sources)


def check_trust_remote_code(settings: Settings, caller: Caller, fileset: str | None) -> None:
    if caller.is_tenant_admin or fileset_is_trusted(settings, fileset):
        return
    subject = f"fileset '{fileset}' is not from a trusted source" if fileset else "the model has no fileset"
    raise Forbidden(
        "trust_remote_code may be true only when the model's fileset comes from a trusted source "
        f"(MLREGISTRY_TRUSTED_FILESET_SOURCES) or the caller is an administrator: {subject}"
    )


def _stored(value: Any) -> Any:
    """Nested objects are stored as plain JSON without their unset (null) keys."""
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json", exclude_none=True)
    return value


async def create_model(
    session: AsyncSession, settings: Settings, caller: Caller, workspace_name: str, body: CreateModelEntityRequest
) -> dict[str, Any]:
    workspace = await workspace_for(session, caller, workspace_name, Role.EDITOR)
    if body.trust_remote_code:
        check_trust_remote_code(settings, caller, body.fileset)
    now = utcnow()
    model = WorkspaceModel(
        id=f"model-{uuid.uuid4().hex}",
        workspace_id=workspace.id,
        name=body.name,
        project=body.project,
        trust_remote_code=body.trust_remote_code,
        created_by_subject=caller.as_subject(),
        created_at=now,
        updated_at=now,
        **{field: _stored(getattr(body, field)) for field in ENTITY_FIELDS},
    )
    if model.custom_fields is None:
        model.custom_fields = {}
    if model.model_providers is None:
        model.model_providers = []
    try:
        await queries.add(session, model)
    except IntegrityError as exc:
        raise Conflict(f"Model '{body.name}' already exists in workspace '{workspace_name}'") from exc
    return workspace_model_to_wire(model, workspace.name, verbose=False)


async def _model_for(
    session: AsyncSession, caller: Caller, workspace_name: str, name: str, needed: Role
) -> WorkspaceModel:
    found = await queries.get_with_access(session, workspace_scope(caller), workspace_name, name)
    not_found = model_not_found(workspace_name, name)
    if found is None:
        raise NotFound(not_found)
    model, access = found
    authorize(caller, access, needed, not_found=not_found)
    return model


async def get_model(
    session: AsyncSession, caller: Caller, workspace_name: str, name: str, *, verbose: bool
) -> dict[str, Any]:
    model = await _model_for(session, caller, workspace_name, name, Role.VIEWER)
    return workspace_model_to_wire(model, workspace_name, verbose=verbose)


async def update_model(
    session: AsyncSession,
    settings: Settings,
    caller: Caller,
    workspace_name: str,
    name: str,
    body: UpdateModelEntityRequest,
    *,
    verbose: bool,
) -> dict[str, Any]:
    model = await _model_for(session, caller, workspace_name, name, Role.EDITOR)
    for field, current in (("name", name), ("workspace", workspace_name)):
        sent = getattr(body, field)
        if sent is not None and sent != current:
            raise Invalid.field(["body", field], f"cannot change (it is '{current}')")
    # Absent or null keeps the old value; "", {} and [] are values that clear a field.
    changes = {field: getattr(body, field) for field in ENTITY_FIELDS if getattr(body, field) is not None}
    trust = body.trust_remote_code if body.trust_remote_code is not None else model.trust_remote_code
    fileset = changes.get("fileset", model.fileset)
    if trust and (not model.trust_remote_code or fileset != model.fileset):
        check_trust_remote_code(settings, caller, fileset)
    previous_endpoint = model.api_endpoint
    for field, value in changes.items():
        setattr(model, field, _stored(value))
    if "api_endpoint" in changes:
        model.api_endpoint = _keep_masked_key(model.api_endpoint, previous_endpoint)
    model.trust_remote_code = trust
    # updated_at moves on every successful update, even within the clock's resolution.
    model.updated_at = max(utcnow(), model.updated_at + timedelta(microseconds=1))
    await session.flush()
    return workspace_model_to_wire(model, workspace_name, verbose=verbose)


def _keep_masked_key(sent: dict[str, Any] | None, previous: dict[str, Any] | None) -> dict[str, Any] | None:
    """An endpoint sent back as it was read (API key masked) keeps the key it had."""
    if sent is None or sent.get("api_key") != SECRET_MASK:
        return sent
    kept = {key: value for key, value in sent.items() if key != "api_key"}
    if previous and previous.get("api_key"):
        kept["api_key"] = previous["api_key"]
    return kept


async def delete_model(session: AsyncSession, caller: Caller, workspace_name: str, name: str) -> None:
    model = await _model_for(session, caller, workspace_name, name, Role.EDITOR)
    await queries.delete_by_id(session, model.id)


def _equalities(filters: Mapping[str, Any]) -> dict[str, Any]:
    equals: dict[str, Any] = {}
    for field, value in filters.items():
        if field not in FILTERABLE:
            raise Invalid.field(
                ["query", "filter", field], f"cannot filter on '{field}'; filterable: {', '.join(sorted(FILTERABLE))}"
            )
        if field in BOOLEAN_FILTERS:
            if isinstance(value, str) and value.lower() in ("true", "false"):
                value = value.lower() == "true"
            if not isinstance(value, bool):
                raise Invalid.field(["query", "filter", field], "must be true or false")
        elif not isinstance(value, str):
            raise Invalid.field(["query", "filter", field], "must be a string")
        equals[field] = value
    return equals


async def list_models(
    session: AsyncSession,
    caller: Caller,
    workspace_name: str,
    filters: Mapping[str, Any],
    *,
    sort: str,
    offset: int,
    limit: int,
    verbose: bool,
) -> tuple[list[dict[str, Any]], int]:
    """One workspace's models; `-` lists across every workspace the caller can read."""
    equals = _equalities(filters)
    named = equals.pop("workspace", None)
    if workspace_name != WORKSPACE_LIST_ALL and named is not None and named != workspace_name:
        await workspace_for(session, caller, workspace_name, Role.VIEWER)
        return [], 0
    target = workspace_name if workspace_name != WORKSPACE_LIST_ALL else named
    workspace_id = (await workspace_for(session, caller, target, Role.VIEWER)).id if target else None
    rows, total = await queries.list_page(
        session,
        workspace_scope(caller),
        workspace_id=workspace_id,
        equals=equals,
        sort=sort,
        offset=offset,
        limit=limit,
    )
    return [workspace_model_to_wire(model, name, verbose=verbose) for model, name in rows], total
