"""The families of versioned entities that share one version engine."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from mlregistry.schemas.manifests import ArtifactManifest, ModelManifest


def _model_snippet(fqn: str) -> str:
    return (
        "from truefoundry.ml import get_client\n\n"
        "client = get_client()\n"
        f'model_version = client.get_model_version_by_fqn(fqn="{fqn}")\n'
        'download_info = model_version.download(path="your/download/location")'
    )


def _artifact_snippet(fqn: str) -> str:
    return (
        "from truefoundry.ml import get_client\n\n"
        "client = get_client()\n"
        f'artifact_version = client.get_artifact_version_by_fqn(fqn="{fqn}")\n'
        'download_path = artifact_version.download(path="your/download/location")'
    )


def _model_deployable(manifest: dict[str, Any]) -> bool:
    return bool(manifest.get("framework")) and manifest.get("source", {}).get("type") in {"truefoundry", "external"}


@dataclass(frozen=True)
class Family:
    name: str  # stored in `entities.family`
    label: str  # for messages: "Model"
    entity_type: str  # `type` of the entity on the wire
    manifest_type: str  # `manifest.type` of its versions
    fqn_prefix: str
    parent_id_field: str  # `model_id`, `artifact_id`, `prompt_id`
    manifest_model: type[BaseModel]
    usage_code_snippet: Callable[[str], str]
    has_metrics: bool = False
    deployable: Callable[[dict[str, Any]], bool] = field(default=lambda manifest: False)
    stageable: bool = True


MODEL = Family(
    name="model",
    label="Model",
    entity_type="model",
    manifest_type="model-version",
    fqn_prefix="model",
    parent_id_field="model_id",
    manifest_model=ModelManifest,
    usage_code_snippet=_model_snippet,
    has_metrics=True,
    deployable=_model_deployable,
)

ARTIFACT = Family(
    name="artifact",
    label="Artifact",
    entity_type="artifact",
    manifest_type="artifact-version",
    fqn_prefix="artifact",
    parent_id_field="artifact_id",
    manifest_model=ArtifactManifest,
    usage_code_snippet=_artifact_snippet,
)

FAMILIES = {family.name: family for family in (MODEL, ARTIFACT)}
FAMILY_BY_MANIFEST_TYPE = {family.manifest_type: family for family in FAMILIES.values()}
