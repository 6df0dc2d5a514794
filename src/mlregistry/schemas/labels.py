"""Wire types of tag and alias history (the server's own extension of the ML API)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from mlregistry.schemas.common import Subject


class VersionReference(BaseModel):
    id: str
    version: int


class LabelInterval(BaseModel):
    """A stretch of time during which a tag or alias named one version; `valid_to` null: it still does."""

    kind: Literal["tag", "alias"]
    name: str = Field(description="The tag or the alias")
    version_id: str
    version: int
    valid_from: str = Field(description="ISO-8601, UTC; the interval includes this instant")
    valid_to: str | None = Field(description="ISO-8601, UTC; the interval ends just before this instant")
    set_by_subject: Subject
    set_reason: Literal["set", "moved"] = Field(description="`moved`: taken from `from_version` with force")
    from_version: VersionReference | None
    ended_by_subject: Subject | None
    end_reason: Literal["removed", "moved", "deleted"] | None
    to_version: VersionReference | None = Field(description="Where a forced move took it")


class LabelEvent(BaseModel):
    """A version gained (`set`, `moved` here) or lost (`removed`, `moved` away, `deleted`) a tag or the alias."""

    kind: Literal["tag", "alias"]
    name: str
    event: Literal["set", "moved", "removed", "deleted"]
    occurred_at: str
    subject: Subject | None = Field(description="Who made the move")
    from_version: VersionReference | None
    to_version: VersionReference | None
