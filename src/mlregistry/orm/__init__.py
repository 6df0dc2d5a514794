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

__all__ = ["Base", "Entity", "EntityVersion", "MlRepo", "MlRepoCollaborator", "Token", "User", "VersionTag"]
