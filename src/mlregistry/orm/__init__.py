"""SQLAlchemy declarative tables. Importing this package registers every table on ``Base.metadata``."""

from mlregistry.orm.artifacts import DataDirectory, StorageDeletion, VersionFile
from mlregistry.orm.base import Base
from mlregistry.orm.identity import AuditEvent, Team, TeamMember, VirtualAccount, VirtualAccountToken
from mlregistry.orm.runs import Run, RunCount, RunLatestMetric, RunMetric, RunParam, RunTag, RunTagCount
from mlregistry.orm.tables import (
    ApplyIdempotencyKey,
    Entity,
    EntityVersion,
    LabelInterval,
    MlRepo,
    MlRepoCollaborator,
    Token,
    User,
    VersionTag,
)
from mlregistry.orm.webhooks import Webhook, WebhookDelivery
from mlregistry.orm.workspaces import Workspace, WorkspaceMember, WorkspaceModel

__all__ = [
    "ApplyIdempotencyKey",
    "AuditEvent",
    "Base",
    "DataDirectory",
    "Entity",
    "EntityVersion",
    "LabelInterval",
    "MlRepo",
    "MlRepoCollaborator",
    "Run",
    "RunCount",
    "RunLatestMetric",
    "RunMetric",
    "RunParam",
    "RunTag",
    "RunTagCount",
    "StorageDeletion",
    "Team",
    "TeamMember",
    "Token",
    "User",
    "VersionFile",
    "VersionTag",
    "VirtualAccount",
    "VirtualAccountToken",
    "Webhook",
    "WebhookDelivery",
    "Workspace",
    "WorkspaceMember",
    "WorkspaceModel",
]
