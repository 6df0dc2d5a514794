"""Turn stored rows into the exact wire shapes of the contract (plain dicts, built once per item)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from mlregistry.orm import DataDirectory, MlRepo, Workspace, WorkspaceMember, WorkspaceModel
from mlregistry.repositories.database import load_document
from mlregistry.repositories.versions import (
    LISTED_AT,
    EntityRow,
    ListedEntityRow,
    ListedVersions,
    VersionRecordRow,
    VersionRow,
)
from mlregistry.services.families import Family
from mlregistry.services.fqn import entity_fqn, version_fqn


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 with "Z" for UTC (`2026-12-07T04:32:47.788866Z`; no fraction at a whole second)."""
    if moment is None:
        return None
    if moment.tzinfo is UTC:
        # orjson writes a UTC datetime as `isoformat` does, in a third of the time (a list page formats two
        # per item); any other zone takes the standard library's way.
        return _dumps(moment, option=_UTC_Z)[1:-1].decode()
    return moment.isoformat().replace("+00:00", "Z")


_dumps = orjson.dumps
_UTC_Z = orjson.OPT_UTC_Z


def ml_repo_to_wire(repo: MlRepo, tenant: str) -> dict[str, Any]:
    return {
        "id": str(repo.id),
        "tenant_name": tenant,
        "account_id": repo.account_id,
        "manifest": repo.manifest,
        "created_by_subject": repo.created_by_subject,
        "created_at": iso(repo.created_at),
        "updated_at": iso(repo.updated_at),
    }


def version_to_wire(
    row: VersionRow | VersionRecordRow,
    family: Family,
    tenant: str,
    *,
    labels: tuple[list[str], str | None] | None = None,
    run_metrics: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """`labels`: the (tags, alias) to show instead of the current ones (an "as of" read).
    `run_metrics`: the metrics its run logged at the version's step, shown in place of the stored ones."""
    version = row.version
    tags, alias = labels if labels is not None else (version.tags, version.version_alias)
    assert version.version is not None, "only finalized versions are presented"
    return _version_wire(
        family,
        tenant,
        version.id,
        version.entity_id,
        version.ml_repo_id,
        version.version,
        version.manifest,
        version.created_by_subject,
        version.created_at,
        version.updated_at,
        tags,
        alias,
        run_metrics or version.metrics,
        row.entity_name,
        row.ml_repo_name,
    )


def listed_version_to_wire(
    page: ListedVersions,
    content: tuple[Any, ...],
    family: Family,
    tenant: str,
    *,
    run_metrics: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """`version_to_wire` of a list page's row, made from its content as read (no record is built: a list
    page that is not kept makes one item per row, and the record was a quarter of that)."""
    at = LISTED_AT
    number = content[at.version]
    assert number is not None, "only finalized versions are presented"
    return _version_wire(
        family,
        tenant,
        content[at.id],
        content[at.entity_id],
        content[at.ml_repo_id],
        number,
        load_document(content[at.manifest]),
        page.document(content[at.created_by_subject]),
        content[at.created_at],
        content[at.updated_at],
        page.document(content[at.tags]),
        content[at.version_alias],
        run_metrics or page.document(content[at.metrics]),
        content[at.entity_name],
        content[at.ml_repo_name],
    )


def _version_wire(
    family: Family,
    tenant: str,
    version_id: str,
    entity_id: str,
    ml_repo_id: int,
    number: int,
    manifest: dict[str, Any],
    created_by_subject: dict[str, Any],
    created_at: datetime,
    updated_at: datetime,
    tags: list[str] | None,
    alias: str | None,
    metrics: list[dict[str, Any]] | None,
    entity_name: str,
    ml_repo_name: str,
) -> dict[str, Any]:
    """The one place a version's wire shape is made. Lists are copied: documents may be shared."""
    fqn = version_fqn(family.fqn_prefix, tenant, ml_repo_name, entity_name, number)
    created = iso(created_at)
    wire: dict[str, Any] = {
        "id": version_id,
        "fqn": fqn,
        family.parent_id_field: entity_id,
        "ml_repo_id": str(ml_repo_id),
        "manifest": manifest,
        "created_by_subject": created_by_subject,
        "created_at": created,
        # Most versions were never changed after their creation: one formatting for both.
        "updated_at": (
            created
            if updated_at == created_at and updated_at is not None and updated_at.tzinfo is created_at.tzinfo
            else iso(updated_at)
        ),
        "tags": list(tags or []),
        "usage_code_snippet": family.usage_code_snippet(fqn),
    }
    if family.usage_code_snippets is not None:
        wire["usage_code_snippets"] = family.usage_code_snippets(fqn)
    if alias is not None:
        wire["version_alias"] = alias
    if family.has_metrics:
        wire["metrics"] = list(metrics or [])
        wire["deployable"] = family.deployable(manifest)
    return wire


def entity_to_wire(
    row: EntityRow | ListedEntityRow, family: Family, tenant: str, *, run_steps: list[int]
) -> dict[str, Any]:
    """`run_steps`: the steps at which runs logged the entity's versions."""
    entity = row.entity
    wire: dict[str, Any] = {
        "id": entity.id,
        "ml_repo_id": str(entity.ml_repo_id),
        "type": family.entity_type,
        "name": entity.name,
        "fqn": entity_fqn(family.fqn_prefix, tenant, row.ml_repo_name, entity.name),
        "created_by_subject": entity.created_by_subject,
        "created_at": iso(entity.created_at),
        "updated_at": iso(entity.updated_at),
        "run_steps": run_steps,
    }
    if row.latest is not None:
        # A listed row holds its latest version as a record; a get's, as the ORM instance.
        latest = (
            VersionRecordRow(row.latest, entity.name, row.ml_repo_name)
            if isinstance(row, ListedEntityRow)
            else VersionRow(version=row.latest, entity_name=entity.name, access=row.access)
        )
        wire["latest_version"] = version_to_wire(latest, family, tenant)
    return wire


def data_directory_to_wire(directory: DataDirectory, ml_repo_name: str, tenant: str) -> dict[str, Any]:
    fqn = entity_fqn("data-dir", tenant, ml_repo_name, directory.name)
    return {
        "id": directory.id,
        "ml_repo_id": str(directory.ml_repo_id),
        "name": directory.name,
        "fqn": fqn,
        "manifest": directory.manifest,
        "created_by_subject": directory.created_by_subject,
        "created_at": iso(directory.created_at),
        "updated_at": iso(directory.updated_at),
        "usage_code_snippet": (
            "from truefoundry.ml import get_client\n\n"
            "client = get_client()\n"
            f'data_directory = client.get_data_directory_by_fqn(fqn="{fqn}")\n'
            'data_directory.download(download_path="your/download/location")'
        ),
    }


# --- the NeMo-style entity API ---------------------------------------------------------------

SECRET_MASK = "********"
SCALAR_TYPES = (str, int, float, bool, type(None))


def workspace_to_wire(workspace: Workspace) -> dict[str, Any]:
    return {
        "id": workspace.id,
        "name": workspace.name,
        "description": workspace.description,
        "created_at": iso(workspace.created_at),
        "updated_at": iso(workspace.updated_at),
        "created_by": workspace.created_by_subject,
    }


def workspace_members_to_wire(members: list[WorkspaceMember]) -> list[dict[str, Any]]:
    """One entry per principal with all of its roles (a principal's roles are granted together)."""
    entries: dict[str, dict[str, Any]] = {}
    for member in members:
        entry = entries.setdefault(
            member.principal, {"principal": member.principal, "roles": [], "granted_at": iso(member.granted_at)}
        )
        entry["roles"].append(member.role_id)
    return list(entries.values())


def workspace_model_to_wire(model: WorkspaceModel, workspace_name: str, *, verbose: bool) -> dict[str, Any]:
    """`verbose=False` trims `spec` to its top-level scalar keys; an endpoint's API key is never shown in clear."""
    spec = model.spec
    if spec is not None and not verbose:
        spec = {key: value for key, value in spec.items() if isinstance(value, SCALAR_TYPES)}
    api_endpoint = model.api_endpoint
    if api_endpoint is not None and api_endpoint.get("api_key"):
        api_endpoint = {**api_endpoint, "api_key": SECRET_MASK}
    return {
        "id": model.id,
        "name": model.name,
        "workspace": workspace_name,
        "project": model.project,
        "description": model.description,
        "spec": spec,
        "finetuning_type": model.finetuning_type,
        "fileset": model.fileset,
        "trust_remote_code": model.trust_remote_code,
        "base_model": model.base_model,
        "api_endpoint": api_endpoint,
        "backend_format": model.backend_format,
        "adapters": [],
        "prompt": model.prompt,
        "custom_fields": model.custom_fields or {},
        "ownership": model.ownership,
        "model_providers": list(model.model_providers or []),
        "created_by": model.created_by_subject,
        "created_at": iso(model.created_at),
        "updated_at": iso(model.updated_at),
    }
