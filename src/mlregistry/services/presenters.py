"""Turn stored rows into the exact wire shapes of the contract (plain dicts, built once per item)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mlregistry.orm import DataDirectory, MlRepo
from mlregistry.repositories.versions import EntityRow, VersionRow
from mlregistry.services.families import Family
from mlregistry.services.fqn import entity_fqn, version_fqn


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


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


def version_to_wire(row: VersionRow, family: Family, tenant: str) -> dict[str, Any]:
    version = row.version
    assert version.version is not None, "only finalized versions are presented"
    fqn = version_fqn(family.fqn_prefix, tenant, row.ml_repo_name, row.entity_name, version.version)
    wire: dict[str, Any] = {
        "id": version.id,
        "fqn": fqn,
        family.parent_id_field: version.entity_id,
        "ml_repo_id": str(version.ml_repo_id),
        "manifest": version.manifest,
        "created_by_subject": version.created_by_subject,
        "created_at": iso(version.created_at),
        "updated_at": iso(version.updated_at),
        "tags": list(version.tags or []),
        "usage_code_snippet": family.usage_code_snippet(fqn),
    }
    if version.version_alias is not None:
        wire["version_alias"] = version.version_alias
    if family.has_metrics:
        wire["metrics"] = list(version.metrics or [])
        wire["deployable"] = family.deployable(version.manifest)
    return wire


def entity_to_wire(row: EntityRow, family: Family, tenant: str) -> dict[str, Any]:
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
    }
    if row.latest is not None:
        wire["latest_version"] = version_to_wire(
            VersionRow(version=row.latest, entity_name=entity.name, access=row.access), family, tenant
        )
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
