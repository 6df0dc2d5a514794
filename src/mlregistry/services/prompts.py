"""Prompts beyond the shared version engine: rendering a version's messages with variable values."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from mlregistry.auth.subject import Caller
from mlregistry.services import versions
from mlregistry.services.families import CHAT_PROMPT
from mlregistry.services.prompt_templates import render_messages
from mlregistry.settings import Settings


async def render_version(
    session: AsyncSession, settings: Settings, caller: Caller, version_id: str, given: dict[str, str]
) -> dict[str, Any]:
    """The version's messages with every `{{name}}` replaced; needs read access only."""
    version = await versions.get_version(session, settings, caller, CHAT_PROMPT, version_id)
    manifest = version["manifest"]
    messages, values = render_messages(manifest["messages"], manifest.get("variables") or {}, given)
    return {"id": version["id"], "fqn": version["fqn"], "variables": values, "messages": messages}
