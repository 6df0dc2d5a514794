"""SQLAlchemy declarative tables. Importing this package registers every table on ``Base.metadata``."""

from mlregistry.orm.base import Base
from mlregistry.orm.identity import AuditEvent, Team, TeamMember, VirtualAccount, VirtualAccountToken
from mlregistry.orm.tables import (
    Entity,
    EntityVersion,
    MlRepo,
    MlRepoCollaborator,
    Token,
    User,
    VersionTag,
)
from mlregistry.orm.workspaces import Workspace, WorkspaceMember, WorkspaceModel

__all__ = [
    "AuditEvent",
    "Base",
    "Entity",
    "EntityVersion",
    "MlRepo",
    "MlRepoCollaborator",
    "Team",
    "TeamMember",
    "Token",
    "User",
    "VersionTag",
    "VirtualAccount",
    "VirtualAccountToken",
    "Workspace",
    "WorkspaceMember",
    "WorkspaceModel",
]
