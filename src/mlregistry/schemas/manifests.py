"""Version and ML repo manifests as the SDK sends them: discriminated unions on `type`.

Manifests keep unknown keys (`extra="allow"`) so that what a client PUTs comes back unchanged.
The name, `ml_repo`, description, alias and step rules are those the `truefoundry` library
re-validates on read-back: a manifest it could not read is refused before anything is stored.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mlregistry.schemas.common import json_nesting
from mlregistry.schemas.limits import Step, VersionNumber

ENTITY_NAME_PATTERN = r"^[A-Za-z0-9_\-]+$"
ML_REPO_NAME_PATTERN = r"^[a-zA-Z][a-zA-Z0-9\-]{1,98}[a-zA-Z0-9]$"
VERSION_ALIAS_PATTERN = r"^v[a-zA-Z0-9.\-]*([a-zA-Z0-9]+)$"
MAX_DESCRIPTION_LENGTH = 512
# Deeper documents cannot be serialized back (pydantic stops near 255 levels); refuse them up front.
MAX_MANIFEST_NESTING = 100

EntityName = Annotated[str, Field(min_length=1, max_length=256, pattern=ENTITY_NAME_PATTERN)]
MlRepoName = Annotated[str, Field(max_length=100, pattern=ML_REPO_NAME_PATTERN)]
Description = Annotated[str, Field(max_length=MAX_DESCRIPTION_LENGTH)]
VersionAlias = Annotated[str, Field(max_length=128, pattern=VERSION_ALIAS_PATTERN)]


class WireModel(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


# --- sources -------------------------------------------------------------------------------


class TrueFoundryManagedSource(WireModel):
    type: Literal["truefoundry"]
    uri: str | None = None


class ExternalBlobStorageSource(WireModel):
    type: Literal["external"]
    uri: str = Field(min_length=1)


class LocalModelSource(WireModel):
    type: Literal["local"]
    file_or_folder: str


class LocalArtifactPath(WireModel):
    src: str
    dest: str | None = None


class LocalArtifactSource(WireModel):
    type: Literal["local"]
    paths: list[LocalArtifactPath]


class AgentSkillSourceInline(WireModel):
    type: Literal["inline"]
    skill_md: str


class AgentSkillSourceBlobStorage(WireModel):
    type: Literal["blob-storage"]
    description: str = Field(min_length=1, max_length=1024)
    uri: str


class AgentSkillSourceLocal(WireModel):
    type: Literal["local"]
    skill_dir: str


ModelSource = Annotated[
    TrueFoundryManagedSource | ExternalBlobStorageSource | LocalModelSource, Field(discriminator="type")
]
ArtifactSource = Annotated[
    TrueFoundryManagedSource | ExternalBlobStorageSource | LocalArtifactSource, Field(discriminator="type")
]
DataDirectorySource = Annotated[TrueFoundryManagedSource | ExternalBlobStorageSource, Field(discriminator="type")]
AgentSkillSource = Annotated[
    AgentSkillSourceInline | AgentSkillSourceBlobStorage | AgentSkillSourceLocal, Field(discriminator="type")
]

# --- frameworks ----------------------------------------------------------------------------

SerializationFormat = Literal["cloudpickle", "joblib", "pickle"]


class SklearnModelSchema(WireModel):
    infer_method_name: Literal["predict", "predict_proba"]
    inputs: list[dict[str, Any]]
    outputs: list[dict[str, Any]]


class XgBoostModelSchema(WireModel):
    infer_method_name: Literal["predict"] = "predict"
    inputs: list[dict[str, Any]]
    outputs: list[dict[str, Any]]


class TransformersFramework(WireModel):
    type: Literal["transformers"]
    library_name: Literal["transformers", "sentence-transformers", "diffusers"] | None = None
    pipeline_tag: str | None = None
    base_model: str | None = None


class SklearnFramework(WireModel):
    type: Literal["sklearn"]
    model_filepath: str | None = None
    serialization_format: SerializationFormat | None = None
    model_schema: SklearnModelSchema | None = None


class XgBoostFramework(WireModel):
    type: Literal["xgboost"]
    serialization_format: Literal["cloudpickle", "joblib", "pickle", "json"] | None = None
    model_filepath: str | None = None
    model_schema: XgBoostModelSchema | None = None


class TensorFlowFramework(WireModel):
    type: Literal["tensorflow"]


class PyTorchFramework(WireModel):
    type: Literal["pytorch"]


class KerasFramework(WireModel):
    type: Literal["keras"]


class LightGbmFramework(WireModel):
    type: Literal["lightgbm"]


class FastAiFramework(WireModel):
    type: Literal["fastai"]


class H2OFramework(WireModel):
    type: Literal["h2o"]


class OnnxFramework(WireModel):
    type: Literal["onnx"]


class SpaCyFramework(WireModel):
    type: Literal["spacy"]


class StatsModelsFramework(WireModel):
    type: Literal["statsmodels"]


class GluonFramework(WireModel):
    type: Literal["gluon"]


class PaddleFramework(WireModel):
    type: Literal["paddle"]


Framework = Annotated[
    TransformersFramework
    | TensorFlowFramework
    | SklearnFramework
    | PyTorchFramework
    | KerasFramework
    | XgBoostFramework
    | LightGbmFramework
    | FastAiFramework
    | H2OFramework
    | OnnxFramework
    | SpaCyFramework
    | StatsModelsFramework
    | GluonFramework
    | PaddleFramework,
    Field(discriminator="type"),
]


class ModelVersionEnvironment(WireModel):
    python_version: str | None = None
    pip_packages: list[str] | None = None


# --- version manifests ----------------------------------------------------------------------


class VersionManifestBase(WireModel):
    name: EntityName
    metadata: dict[str, Any]
    ml_repo: MlRepoName
    version: VersionNumber | None = None
    description: Description | None = None
    version_alias: VersionAlias | None = None

    @model_validator(mode="before")
    @classmethod
    def _bounded_nesting(cls, data: Any) -> Any:
        if json_nesting(data, MAX_MANIFEST_NESTING) > MAX_MANIFEST_NESTING:
            raise ValueError(f"nested deeper than {MAX_MANIFEST_NESTING} levels")
        return data


class ModelManifest(VersionManifestBase):
    type: Literal["model-version"]
    source: ModelSource
    framework: Framework | None = None
    environment: ModelVersionEnvironment | None = None
    step: Step = 0
    run_id: str | None = None


class ArtifactManifest(VersionManifestBase):
    type: Literal["artifact-version"]
    source: ArtifactSource
    step: Step = 0
    run_id: str | None = None


class AgentSkillManifest(VersionManifestBase):
    type: Literal["agent-skill"]
    source: AgentSkillSource


# --- ML repo ------------------------------------------------------------------------------

ROLE_VIEWER = "mlf-project-viewer"
ROLE_EDITOR = "mlf-project-editor"
ROLE_ADMIN = "mlf-project-admin"


class Collaborator(WireModel):
    subject: str = Field(
        pattern=r"^(user|team|virtualaccount|serviceaccount):[^\s]+$",
        description="Subject FQN: `user:<email>` or `team:<name>`.",
    )
    role_id: Literal["mlf-project-viewer", "mlf-project-editor", "mlf-project-admin"]


class OwnedBy(WireModel):
    account: str


class MlRepoManifest(WireModel):
    type: Literal["ml-repo"] = "ml-repo"
    name: MlRepoName
    description: Description | None = None
    storage_integration_fqn: str = Field(min_length=1, max_length=1024)
    collaborators: list[Collaborator] | None = None
    ownedBy: OwnedBy | None = None


def manifest_to_wire(manifest: BaseModel) -> dict[str, Any]:
    """The manifest as the client sent it (unset fields stay absent, extra keys stay)."""
    data = manifest.model_dump(mode="json", exclude_unset=True, by_alias=True)
    data.setdefault("type", getattr(manifest, "type", None))
    return data
