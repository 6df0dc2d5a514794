"""The chat_prompt manifest (contract §5.9) and the prompt wire types.

Every sub-type keeps unknown keys, so what a client PUTs comes back unchanged. Unions on `type`
and `role` are closed: an unknown value is refused here, because the SDK could not parse it back.
Numbers typed `number` accept JSON ints and floats and keep the one the client sent.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt

from mlregistry.schemas.limits import Lenient, Tag
from mlregistry.schemas.manifests import VersionManifestBase, WireModel
from mlregistry.schemas.resources import EntityResource, VersionResource

Number = StrictInt | StrictFloat  # a JSON number, kept as sent (no bools, no strings)
# Bounds on each branch, so that the JSON schema states them as minimum and maximum.
NonNegativeNumber = Annotated[StrictInt, Field(ge=0)] | Annotated[StrictFloat, Field(ge=0)]
Fraction = Annotated[StrictInt, Field(ge=0, le=1)] | Annotated[StrictFloat, Field(ge=0, le=1)]
NonNegativeInt = Annotated[int, Field(ge=0), Lenient]

# --- content ----------------------------------------------------------------------------------


class BlobStorageReference(WireModel):
    type: Literal["blob-storage"]
    path: str = Field(min_length=1)
    mime_type: Literal["text/plain", "application/json", "image/png", "image/jpeg", "application/x-directory"]


TextOrBlob = str | BlobStorageReference


class TextContentPart(WireModel):
    type: Literal["text"]
    text: TextOrBlob


class ImageUrl(WireModel):
    url: TextOrBlob
    detail: str | None = None


class ImageContentPart(WireModel):
    type: Literal["image_url"]
    image_url: ImageUrl


class RefusalContentPart(WireModel):
    type: str  # a plain string in the contract, not a literal
    refusal: str


UserContentPart = Annotated[TextContentPart | ImageContentPart, Field(discriminator="type")]
# Refusal parts carry a free `type`, so this union is resolved by shape rather than by `type`.
AssistantContentPart = TextContentPart | RefusalContentPart


class ToolCallFunction(WireModel):
    name: str
    arguments: str


class ToolCall(WireModel):
    type: Literal["function"]
    id: str
    function: ToolCallFunction


# --- messages (discriminator `role`) ----------------------------------------------------------


class SystemMessage(WireModel):
    role: Literal["system"]
    content: TextOrBlob
    name: str | None = None


class UserMessage(WireModel):
    role: Literal["user"]
    content: str | list[UserContentPart] | BlobStorageReference
    name: str | None = None


class AssistantMessage(WireModel):
    role: Literal["assistant"]
    content: str | list[AssistantContentPart] | BlobStorageReference | None = None
    tool_calls: list[ToolCall] | None = None
    name: str | None = None


class ToolMessage(WireModel):
    role: Literal["tool"]
    content: TextOrBlob
    tool_call_id: str


class DeveloperMessage(WireModel):
    role: Literal["developer"]
    content: TextOrBlob
    name: str | None = None


Message = Annotated[
    SystemMessage | UserMessage | AssistantMessage | ToolMessage | DeveloperMessage, Field(discriminator="role")
]

# --- model, tools, response format ------------------------------------------------------------


class Parameters(WireModel):
    max_tokens: NonNegativeInt | None = None
    temperature: Number | None = None
    top_k: Number | None = None
    top_p: Number | None = None
    stop: list[str] | str | None = None


class ModelConfiguration(WireModel):
    provider: str = Field(min_length=1)
    model: str = Field(min_length=1)
    parameters: Parameters | None = None
    extra_parameters: dict[str, Any] | None = None


class FunctionSchema(WireModel):
    name: str = Field(min_length=1)
    description: str | None = None
    parameters: dict[str, Any] | None = Field(
        None, description="A JSON Schema object; an invalid schema is refused with the path of the fault."
    )
    strict: bool | None = False


class ToolSchema(WireModel):
    type: Literal["function"]
    function: FunctionSchema


class JsonObjectResponseFormat(WireModel):
    type: Literal["json_object"]


class JsonSchemaDefinition(WireModel):
    name: str = Field(min_length=1)
    schema_: dict[str, Any] = Field(alias="schema", description="A JSON Schema object, checked like tool parameters.")


class JsonSchemaResponseFormat(WireModel):
    type: Literal["json_schema"]
    json_schema: JsonSchemaDefinition


ResponseFormat = Annotated[JsonObjectResponseFormat | JsonSchemaResponseFormat, Field(discriminator="type")]

# --- MCP servers, guardrails ------------------------------------------------------------------


class McpTool(WireModel):
    name: str


class McpServerWithFqn(WireModel):
    type: Literal["mcp-server-fqn"]
    integration_fqn: str = Field(min_length=1)
    enable_all_tools: bool = False
    tools: list[McpTool] | None = None


class McpServerWithUrl(WireModel):
    type: Literal["mcp-server-url"]
    url: str = Field(min_length=1)
    headers: dict[str, str] | None = None
    enable_all_tools: bool = False
    tools: list[McpTool] | None = None


McpServer = Annotated[McpServerWithFqn | McpServerWithUrl, Field(discriminator="type")]


class Guardrails(WireModel):
    input_guardrails: list[str] | None = None
    output_guardrails: list[str] | None = None


class McpServerToolDetails(WireModel):
    mcp_server_integration_id: str
    tool_name: str


class LoggingConfig(WireModel):
    enabled: bool = True
    tracing_project_fqn: str | None = None


class SubAgent(WireModel):
    name: str = Field(min_length=1)


# --- routing and cache ------------------------------------------------------------------------


class RetryConfig(WireModel):
    attempts: NonNegativeInt
    delay: NonNegativeInt | None = 100
    on_status_codes: list[str] | None = None


class HeadersOverride(WireModel):
    remove: list[str] | None = None
    set_: dict[str, str] | None = Field(None, alias="set")


class TargetCommon(WireModel):
    target: str = Field(min_length=1)
    retry_config: RetryConfig | None = None
    fallback_status_codes: list[str] | None = None
    fallback_candidate: bool | None = True
    override_params: dict[str, Any] | None = None
    headers_override: HeadersOverride | None = None
    metadata_match: dict[str, str] | None = None


class LoadBalanceTarget(TargetCommon):
    weight: NonNegativeInt


class LatencyBasedLoadBalanceTarget(TargetCommon):
    pass


class SlaCutoff(WireModel):
    time_per_output_token_ms: NonNegativeInt | None = None
    time_to_first_token_ms: NonNegativeInt | None = None


class PriorityBasedLoadBalanceTarget(TargetCommon):
    priority: NonNegativeInt = 0
    sla_cutoff: SlaCutoff | None = None


class StickySessionIdentifier(WireModel):
    source: Literal["headers", "metadata"]
    key: str


class StickyRouting(WireModel):
    ttl_seconds: NonNegativeInt
    session_identifiers: list[StickySessionIdentifier]


class WeightBasedLoadBalancing(WireModel):
    type: Literal["weight-based-routing"]
    load_balance_targets: list[LoadBalanceTarget]
    sticky_routing: StickyRouting | None = None


class LatencyBasedLoadBalancing(WireModel):
    type: Literal["latency-based-routing"]
    load_balance_targets: list[LatencyBasedLoadBalanceTarget]


class PriorityBasedLoadBalancing(WireModel):
    type: Literal["priority-based-routing"]
    load_balance_targets: list[PriorityBasedLoadBalanceTarget]


RoutingConfig = Annotated[
    WeightBasedLoadBalancing | LatencyBasedLoadBalancing | PriorityBasedLoadBalancing, Field(discriminator="type")
]


class SemanticCacheConfig(WireModel):
    type: Literal["semantic"]
    similarity_threshold: Fraction
    namespace: str | None = None
    ttl: NonNegativeNumber = 3600.0


class ExactMatchCacheConfig(WireModel):
    type: Literal["exact-match"]
    namespace: str | None = None
    ttl: NonNegativeNumber = 3600.0


CacheConfig = Annotated[SemanticCacheConfig | ExactMatchCacheConfig, Field(discriminator="type")]

# --- the manifest -----------------------------------------------------------------------------


class ChatPromptManifest(VersionManifestBase):
    type: Literal["chat_prompt"]
    messages: list[Message] = Field(min_length=1)
    variables: dict[str, str | None] | None = Field(
        None, description="Every `{{name}}` used in a message must be declared here; values are defaults."
    )
    model_configuration: ModelConfiguration | None = None
    tools: list[ToolSchema] | None = None
    mcp_servers: list[McpServer] | None = None
    guardrails: Guardrails | None = None
    response_format: ResponseFormat | None = None
    routing_config: RoutingConfig | None = None
    cache_config: CacheConfig | None = None
    tool_call_to_mcp_mapping: dict[str, McpServerToolDetails] | None = None
    logging_config: LoggingConfig | None = None
    sub_agents: list[SubAgent] | None = None


# --- requests and responses -------------------------------------------------------------------


class ApplyPromptVersionRequest(BaseModel):
    manifest: ChatPromptManifest


class ApplyPromptVersionTagsRequest(BaseModel):
    prompt_version_id: str
    tags: list[Tag]
    force: bool = False


class RenderPromptRequest(BaseModel):
    variables: dict[str, str] = Field(
        default_factory=dict,
        description="Values for the `{{name}}` placeholders; a declared variable with a non-null value in "
        "the manifest's `variables` falls back to that value.",
    )


class UsageCodeSnippet(BaseModel):
    model_config = ConfigDict(extra="allow")

    display_name: str
    language: str
    code: str
    libraries: list[str] | None = None
    icon: str | None = None


class PromptVersion(VersionResource):
    prompt_id: str
    manifest: ChatPromptManifest
    usage_code_snippets: list[UsageCodeSnippet] | None = None


class Prompt(EntityResource):
    type: Literal["chat_prompt"] = "chat_prompt"
    latest_version: PromptVersion | None = None


class RenderedPrompt(BaseModel):
    id: str = Field(description="The prompt version id")
    fqn: str
    variables: dict[str, str] = Field(description="The value used for each placeholder")
    messages: list[dict[str, Any]] = Field(description="The version's messages with every `{{name}}` substituted")
