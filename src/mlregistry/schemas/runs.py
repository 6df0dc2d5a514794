"""Wire types of runs (experiment tracking): request bodies and responses of the 12 runs routes."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from mlregistry.schemas.common import integral

KEY_MAX = 250
PARAM_VALUE_MAX = 1000
TAG_VALUE_MAX = 5000
RUN_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,255}$"
# Epoch milliseconds; bounded so they fit the BIGINT columns.
EPOCH_MS_MAX = 2**53
STEP_MAX = 2**53
MAX_BATCH_METRICS = 1000
MAX_BATCH_PARAMS_TAGS = 100
MAX_SEARCH_RESULTS = 1000
MAX_FILTER_LENGTH = 4096
MAX_ORDER_BY = 10
MAX_EXPERIMENT_IDS = 100
RUN_STATUSES = ("RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED")
TERMINAL_STATUSES = ("FINISHED", "FAILED", "KILLED")

EpochMs = Annotated[int, Field(ge=0, le=EPOCH_MS_MAX), BeforeValidator(integral)]
Step = Annotated[int, Field(ge=-STEP_MAX, le=STEP_MAX), BeforeValidator(integral)]
Offset = Annotated[int, Field(ge=0, le=2**31 - 1), BeforeValidator(integral)]
MaxResults = Annotated[int, Field(ge=1, le=MAX_SEARCH_RESULTS), BeforeValidator(integral)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class RunTagInput(_Body):
    key: str = Field(min_length=1, max_length=KEY_MAX)
    value: str = Field(max_length=TAG_VALUE_MAX)


class RunParamInput(_Body):
    key: str = Field(min_length=1, max_length=KEY_MAX)
    value: str = Field(max_length=PARAM_VALUE_MAX)


class MetricInput(_Body):
    key: str = Field(min_length=1, max_length=KEY_MAX)
    value: float = Field(allow_inf_nan=False)
    timestamp: EpochMs | None = Field(None, description="Epoch milliseconds; now if absent")
    step: Step = 0


class CreateRunRequest(_Body):
    experiment_id: str = Field(max_length=64, description="The ML repo's id")
    name: str | None = Field(
        None, pattern=RUN_NAME_PATTERN, description="Unique within the ML repo; generated if absent"
    )
    start_time: EpochMs | None = Field(None, description="Epoch milliseconds; now if absent")
    tags: list[RunTagInput] | None = Field(None, max_length=MAX_BATCH_PARAMS_TAGS)
    description: str | None = Field(None, max_length=4096)


class UpdateRunRequest(_Body):
    status: Literal["RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"] | None = None
    end_time: EpochMs | None = Field(None, description="Epoch milliseconds")
    description: str | None = Field(None, max_length=4096)


class SearchRunsRequest(_Body):
    experiment_ids: list[str] | None = Field(None, max_length=MAX_EXPERIMENT_IDS)
    filter: str | None = Field(
        None,
        max_length=MAX_FILTER_LENGTH,
        description="Comparisons joined by `and`: `metrics.rmse < 1 and params.model = \"lr\" and tags.k = 'v' and "
        "attributes.status = 'FINISHED'`; operators =, !=, <, <=, >, >=, LIKE, ILIKE, IN, NOT IN.",
    )
    run_view_type: Literal["ACTIVE_ONLY", "DELETED_ONLY", "ALL"] | None = "ACTIVE_ONLY"
    max_results: MaxResults | None = 1000
    order_by: list[str] | None = Field(
        None, max_length=MAX_ORDER_BY, description="e.g. `metrics.accuracy DESC`, `params.y`, `attributes.start_time`"
    )
    page_token: str | None = Field(None, max_length=512)
    offset: Offset | None = None
    fqn: str | None = Field(None, max_length=1024, description="Exact run FQN `tenant/ml_repo/run_name`")
    name: str | None = Field(None, max_length=256)
    experiment_id: str | None = Field(None, max_length=64)
    ml_repo_name: str | None = Field(None, max_length=256)


class ListMetricHistoryRequest(_Body):
    metric_keys: list[str] | None = Field(None, max_length=1000)
    step: Step | None = None


class LogParameterRequest(RunParamInput):
    pass


class SetTagRequest(RunTagInput):
    pass


class DeleteTagRequest(_Body):
    key: str = Field(min_length=1, max_length=KEY_MAX)


class LogBatchRequest(_Body):
    metrics: list[MetricInput] | None = Field(None, max_length=MAX_BATCH_METRICS)
    params: list[RunParamInput] | None = Field(None, max_length=MAX_BATCH_PARAMS_TAGS)
    tags: list[RunTagInput] | None = Field(None, max_length=MAX_BATCH_PARAMS_TAGS)


class Metric(BaseModel):
    key: str
    value: float | None = None
    timestamp: int | None = None
    step: int | None = None


class KeyValue(BaseModel):
    key: str
    value: str


class RunInfo(BaseModel):
    model_config = ConfigDict(extra="allow")

    run_uuid: str
    run_id: str
    experiment_id: str
    name: str
    fqn: str
    status: str
    created_by_subject: dict[str, Any]
    user_id: str | None = None
    start_time: int | None = None
    end_time: int | None = None
    artifact_uri: str | None = None
    lifecycle_stage: str | None = None
    description: str | None = None


class RunData(BaseModel):
    metrics: list[Metric]
    params: list[KeyValue]
    tags: list[KeyValue]


class Run(BaseModel):
    info: RunInfo
    data: RunData


class RunResponse(BaseModel):
    run: Run


class UpdateRunResponse(BaseModel):
    run_info: RunInfo


class SearchRunsResponse(BaseModel):
    runs: list[Run]
    total: int | None = None
    next_page_token: str | None = None


class MetricHistoryResponse(BaseModel):
    metrics: list[Metric]


class MetricCollection(BaseModel):
    key: str
    metrics: list[Metric]


class ListMetricHistoryResponse(BaseModel):
    metric_collections: list[MetricCollection]
