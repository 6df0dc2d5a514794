"""Wire types of the NeMo-style entity API: workspaces, their members and workspace model entities.

This API is typed: an unknown top-level key is refused (422) so that a typo never vanishes. Field
rules come from the seed pages "Create Model" and "Update Model"; nested shapes and enum values
follow NVIDIA's NeMo Platform types.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

T = TypeVar("T")

ENTITY_NAME_PATTERN = r"^[\w\-.]+$"
PROJECT_PATTERN = r"^[\w\-./]+$"
# `{workspace}/{name}`: a fileset or a model provider.
REFERENCE_PATTERN = r"^[\w\-.]+/[\w\-.]+$"
WORKSPACE_NAME_RE = re.compile(r"^(?!.*--)[a-z][a-z0-9-]{0,61}[a-z0-9]$")
WORKSPACE_NAME_RULE = (
    "must start with a lowercase letter, be 2-63 characters of lowercase letters, digits and hyphens, "
    "with no consecutive hyphens and no hyphen at the end"
)
MAX_DESCRIPTION_LENGTH = 1000
MAX_REFERENCE_LENGTH = 1024
WORKSPACE_LIST_ALL = "-"

FinetuningType = Literal[
    "lora_merged",
    "all_weights",
    "last_layer",
    "top_layers",
    "gradual_unfreezing",
    "bias_only",
    "attention_only",
    "lora",
    "qlora",
    "adalora",
    "dora",
    "lora_plus",
    "prompt_tuning",
    "prefix_tuning",
    "p_tuning",
    "p_tuning_v2",
    "soft_prompt",
    "ppo",
    "dpo",
    "cdpo",
    "ipo",
    "orpo",
    "kto",
    "rrhf",
    "grpo",
]
BackendFormat = Literal["OPENAI_CHAT", "ANTHROPIC_MESSAGES"]
WorkspaceRoleName = Literal["Viewer", "Editor", "Admin"]
EntitySort = Literal["name", "-name", "created_at", "-created_at", "updated_at", "-updated_at"]


def _workspace_name(value: str) -> str:
    if not WORKSPACE_NAME_RE.match(value):
        raise ValueError(f"Workspace name {WORKSPACE_NAME_RULE}")
    return value


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an absolute http or https URL")
    return value


# The same rule as WORKSPACE_NAME_RE, without lookarounds, for the OpenAPI document.
WORKSPACE_NAME_SCHEMA = {"pattern": r"^[a-z](?:-?[a-z0-9])+$", "minLength": 2, "maxLength": 63}
WorkspaceName = Annotated[str, AfterValidator(_workspace_name), Field(json_schema_extra=WORKSPACE_NAME_SCHEMA)]
EntityName = Annotated[str, Field(min_length=1, max_length=255, pattern=ENTITY_NAME_PATTERN)]
ProjectUrn = Annotated[str, Field(min_length=1, max_length=255, pattern=PROJECT_PATTERN)]
Description = Annotated[str, Field(max_length=MAX_DESCRIPTION_LENGTH)]
Reference = Annotated[str, Field(max_length=MAX_REFERENCE_LENGTH, pattern=REFERENCE_PATTERN)]
BaseModelReference = Annotated[str, Field(min_length=1, max_length=MAX_REFERENCE_LENGTH)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


# --- model entity fields ------------------------------------------------------------------


class ApiEndpoint(Strict):
    """Data about the inference endpoint of a model."""

    url: Annotated[
        str,
        Field(min_length=1, max_length=2048, json_schema_extra={"pattern": r"^[hH][tT][tT][pP][sS]?://[^/?#\[\]@]+"}),
        AfterValidator(_http_url),
    ]
    model_id: Annotated[str, Field(min_length=1, max_length=MAX_REFERENCE_LENGTH)]
    api_key: str | None = Field(None, description="Stored, never returned in clear")
    format: Annotated[str, Field(max_length=64)] | None = Field(None, description="API format, e.g. `openai`, `nim`")


class InferenceParams(BaseModel):
    """Inference parameters to override; extra keys are passed to the inference request as they are."""

    model_config = ConfigDict(extra="allow")

    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    model: str | None = None
    stop: list[str] | None = None
    temperature: float | None = Field(None, ge=0)
    top_p: float | None = Field(None, ge=0, le=1)


class PromptData(Strict):
    """Configuration for prompt engineering."""

    system_prompt: str | None = None
    icl_few_shot_examples: str | None = None
    system_prompt_template: str | None = None
    inference_params: InferenceParams | None = None


class ModelEntityFields(Strict):
    """The fields a client may set on create and on update."""

    description: Description | None = Field(None, description="Optional description of the model")
    spec: dict[str, Any] | None = Field(None, description="Detailed specification for the model")
    finetuning_type: FinetuningType | None = Field(None, description="Set for full weight finetuned models")
    fileset: Reference | None = Field(None, description="Checkpoint files of the model: `{workspace}/{fileset_name}`")
    base_model: BaseModelReference | None = Field(None, description="Link to the model this one is based on")
    api_endpoint: ApiEndpoint | None = Field(None, description="Data about the inference endpoint for this model")
    backend_format: BackendFormat | None = Field(
        None, description="Inference API wire format of the backend; unset means OPENAI_CHAT"
    )
    prompt: PromptData | None = Field(None, description="Configuration for prompt engineering")
    custom_fields: dict[str, Any] | None = Field(None, description="Custom fields for additional metadata")
    ownership: dict[str, Any] | None = Field(None, description="Ownership information for the model")
    model_providers: list[Reference] | None = Field(
        None, description="ModelProvider `workspace/name` resource names that serve this model"
    )


class CreateModelEntityRequest(ModelEntityFields):
    name: EntityName = Field(description="Letters, digits, underscores, hyphens and dots; unique in the workspace")
    project: ProjectUrn | None = Field(None, description="The URN of the project associated with this model entity")
    trust_remote_code: bool = Field(
        False,
        description="May be true only when the fileset's source is trusted "
        "(`MLREGISTRY_TRUSTED_FILESET_SOURCES`) or the caller is an administrator",
    )


class UpdateModelEntityRequest(ModelEntityFields):
    """A field absent or null keeps its old value; `name` and `workspace` cannot change."""

    name: str | None = Field(None, description="Accepted only with the model's current name")
    workspace: str | None = Field(None, description="Accepted only with the model's current workspace")
    trust_remote_code: bool | None = Field(None, description="Same rule as on create when it becomes true")


# --- workspaces and members ------------------------------------------------------------------


class CreateWorkspaceRequest(Strict):
    name: WorkspaceName = Field(description=f"Workspace name: {WORKSPACE_NAME_RULE}")
    description: Description | None = None
    wait_role_propagation: bool | None = Field(None, description="Accepted for compatibility; roles apply at once")


class UpdateWorkspaceRequest(Strict):
    description: Description | None = None


class CreateMemberRequest(Strict):
    principal: str = Field(
        min_length=1,
        # The member table holds 512 characters; a bare email is stored as `user:<email>`.
        max_length=512 - len("user:"),
        description="`user:<email>`, `user:<slug>`, a bare email, `team:<name>`, or `*` for every caller",
    )
    roles: list[WorkspaceRoleName] = Field(min_length=1)
    wait_role_propagation: bool | None = Field(None, description="Accepted for compatibility; roles apply at once")


class UpdateMemberRequest(Strict):
    roles: list[WorkspaceRoleName] = Field(min_length=1)
    wait_role_propagation: bool | None = Field(None, description="Accepted for compatibility; roles apply at once")


# --- responses (documentation of what the presenters build) -----------------------------------


class Workspace(BaseModel):
    id: str
    name: str
    description: str | None = None
    created_at: datetime
    updated_at: datetime
    created_by: dict[str, Any] | None = Field(None, description="Subject of the creator (none for built-ins)")


class WorkspaceMember(BaseModel):
    principal: str
    roles: list[WorkspaceRoleName]
    granted_at: datetime | None = None


class ModelEntity(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    id: str
    name: str
    workspace: str
    project: str | None = None
    description: str | None = None
    spec: dict[str, Any] | None = None
    finetuning_type: FinetuningType | None = None
    fileset: str | None = None
    trust_remote_code: bool = False
    base_model: str | None = None
    api_endpoint: dict[str, Any] | None = None
    backend_format: BackendFormat | None = None
    adapters: list[dict[str, Any]] = Field(default_factory=list)
    prompt: dict[str, Any] | None = None
    custom_fields: dict[str, Any] = Field(default_factory=dict)
    ownership: dict[str, Any] | None = None
    model_providers: list[str] = Field(default_factory=list)
    created_by: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class PaginationData(BaseModel):
    page: int
    page_size: int
    current_page_size: int
    total_pages: int
    total_results: int


class EntityPage(BaseModel, Generic[T]):
    object: Literal["list"] = "list"
    data: list[T]
    pagination: PaginationData
    sort: str
    filter: dict[str, Any]


class DetailError(BaseModel):
    """The body of every error of this API: a message, or (422) the list of invalid fields."""

    detail: str | list[dict[str, Any]]
