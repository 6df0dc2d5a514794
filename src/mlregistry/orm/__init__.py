"""SQLAlchemy declarative tables. Importing this package registers every table on ``Base.metadata``."""

from mlregistry.orm.base import Base
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
    "Base",
    "Entity",
    "EntityVersion",
    "MlRepo",
    "MlRepoCollaborator",
    "Token",
    "User",
    "VersionTag",
    "Workspace",
    "WorkspaceMember",
    "WorkspaceModel",
]
