"""The families of versioned entities that share one version engine."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from mlregistry.schemas.manifests import ArtifactManifest, ModelManifest
from mlregistry.schemas.prompts import ChatPromptManifest
from mlregistry.services.prompt_templates import check_chat_prompt


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


def _prompt_snippet(fqn: str) -> str:
    return (
        "import os\n\n"
        "from truefoundry_sdk import TrueFoundry\n\n"
        'client = TrueFoundry(base_url=os.environ["TFY_HOST"], api_key=os.environ["TFY_API_KEY"])\n'
        f'prompt_version = client.prompt_versions.get_by_fqn(fqn="{fqn}").data\n'
        "messages = prompt_version.manifest.messages"
    )


def _prompt_snippets(fqn: str) -> list[dict[str, Any]]:
    return [
        {
            "display_name": "Python SDK",
            "language": "python",
            "code": _prompt_snippet(fqn),
            "libraries": ["truefoundry-sdk"],
        },
        {
            "display_name": "curl",
            "language": "shell",
            "code": (
                'curl -G "$TFY_HOST/api/ml/v1/prompt-versions" -H "Authorization: Bearer $TFY_API_KEY" '
                f'--data-urlencode "fqn={fqn}"'
            ),
        },
    ]


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
    # Rules beyond the manifest's shape, on the manifest as it will be stored (raise Invalid).
    check_manifest: Callable[[dict[str, Any]], None] = field(default=lambda manifest: None)
    usage_code_snippets: Callable[[str], list[dict[str, Any]]] | None = None


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

CHAT_PROMPT = Family(
    name="prompt",
    label="Prompt",
    entity_type="chat_prompt",
    manifest_type="chat_prompt",
    fqn_prefix="chat_prompt",
    parent_id_field="prompt_id",
    manifest_model=ChatPromptManifest,
    usage_code_snippet=_prompt_snippet,
    stageable=False,
    check_manifest=check_chat_prompt,
    usage_code_snippets=_prompt_snippets,
)

FAMILIES = {family.name: family for family in (MODEL, ARTIFACT, CHAT_PROMPT)}
FAMILY_BY_MANIFEST_TYPE = {family.manifest_type: family for family in FAMILIES.values()}
