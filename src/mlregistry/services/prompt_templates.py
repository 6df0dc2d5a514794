"""Chat-prompt rules that need no database: JSON Schema checks, `{{name}}` variables and rendering.

Placeholders are `{{name}}` (spaces inside the braces allowed); rendering is a single pass of plain
substitution, so a value that itself contains `{{...}}` is inserted as text and never expanded.
Placeholders live in the text a model reads: a string `content`, the `text` of a text part, the
`url` of an image part and the `refusal` of a refusal part. Blob-storage references are left alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from jsonschema.exceptions import best_match
from jsonschema.validators import Draft202012Validator, validator_for

from mlregistry.schemas.common import json_nesting
from mlregistry.services.errors import Invalid

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.\-]*)\s*\}\}")

Loc = list[str | int]


# JSON nesting a schema may have: checking is recursive, and real tool schemas stay far below this.
MAX_SCHEMA_NESTING = 64


def json_schema_fault(schema: dict[str, Any]) -> tuple[Loc, str] | None:
    """(path inside the schema, reason) of the most relevant fault, or None for a valid JSON Schema.

    The draft follows `$schema` when it names a known one, else the latest (2020-12). Formats the
    meta-schema declares (e.g. `pattern` must be a regex) are checked too; nothing is fetched.
    """
    if json_nesting(schema, MAX_SCHEMA_NESTING) > MAX_SCHEMA_NESTING:
        return [], f"nested deeper than {MAX_SCHEMA_NESTING} levels"
    declared = schema.get("$schema")
    validator_class = (
        validator_for(schema, default=Draft202012Validator) if isinstance(declared, str) else Draft202012Validator
    )
    meta_validator = validator_class(validator_class.META_SCHEMA, format_checker=validator_class.FORMAT_CHECKER)
    error = best_match(meta_validator.iter_errors(schema))
    if error is None:
        return None
    return list(error.absolute_path), error.message


def check_json_schema(schema: dict[str, Any] | None, loc: Loc) -> None:
    if schema is None:
        return
    fault = json_schema_fault(schema)
    if fault is not None:
        path, reason = fault
        raise Invalid.field([*loc, *path], f"not a valid JSON Schema: {reason}", "json_schema")


def _templated_strings(message: dict[str, Any], loc: Loc) -> Iterator[tuple[Loc, dict[str, Any], str]]:
    """(location, holder, key) of every string in a message that may hold placeholders."""
    content = message.get("content")
    if isinstance(content, str):
        yield [*loc, "content"], message, "content"
    elif isinstance(content, list):
        for index, part in enumerate(content):
            if not isinstance(part, dict):
                continue
            part_loc: Loc = [*loc, "content", index]
            for key in ("text", "refusal"):
                if isinstance(part.get(key), str):
                    yield [*part_loc, key], part, key
            image_url = part.get("image_url")
            if isinstance(image_url, dict) and isinstance(image_url.get("url"), str):
                yield [*part_loc, "image_url", "url"], image_url, "url"


def used_variables(messages: list[dict[str, Any]]) -> dict[str, Loc]:
    """Each variable used in the messages, with the location of its first use."""
    used: dict[str, Loc] = {}
    for index, message in enumerate(messages):
        for loc, holder, key in _templated_strings(message, ["manifest", "messages", index]):
            for name in PLACEHOLDER.findall(holder[key]):
                used.setdefault(name, loc)
    return used


def check_chat_prompt(wire: dict[str, Any]) -> None:
    """The rules of a chat_prompt manifest beyond its shape: valid JSON Schemas, declared variables."""
    for index, tool in enumerate(wire.get("tools") or []):
        check_json_schema(tool["function"].get("parameters"), ["manifest", "tools", index, "function", "parameters"])
    response_format = wire.get("response_format") or {}
    if response_format.get("type") == "json_schema":
        check_json_schema(
            response_format["json_schema"]["schema"], ["manifest", "response_format", "json_schema", "schema"]
        )
    declared = wire.get("variables") or {}
    undeclared = {name: loc for name, loc in used_variables(wire["messages"]).items() if name not in declared}
    if undeclared:
        names = ", ".join(sorted(undeclared))
        raise Invalid(
            f"manifest.messages: undeclared variables: {names}; declare them in manifest.variables",
            details=[
                {"loc": loc, "msg": f"variable '{name}' is not declared in manifest.variables", "type": "undeclared"}
                for name, loc in sorted(undeclared.items())
            ],
        )


def render_messages(
    messages: list[dict[str, Any]], declared: dict[str, str | None], given: dict[str, str]
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The messages with every placeholder replaced, and the value used for each variable.

    A variable takes the given value, else its non-null default from `variables`; one with
    neither is missing, and all missing ones are reported together.
    """
    used = used_variables(messages)
    values: dict[str, str] = {}
    missing: list[str] = []
    for name in used:
        value = given.get(name, declared.get(name))
        if value is None:
            missing.append(name)
        else:
            values[name] = value
    if missing:
        names = ", ".join(sorted(missing))
        raise Invalid(
            f"variables: missing values for {names}",
            details=[
                {"loc": ["body", "variables", name], "msg": "no value given and no default", "type": "missing"}
                for name in sorted(missing)
            ],
        )
    rendered: list[dict[str, Any]] = []
    for message in messages:
        copy = _copy_templated_holders(message)
        for _loc, holder, key in _templated_strings(copy, []):
            holder[key] = PLACEHOLDER.sub(lambda match: values[match.group(1)], holder[key])
        rendered.append(copy)
    return rendered, values


def _copy_templated_holders(message: dict[str, Any]) -> dict[str, Any]:
    """A copy of the message in which every dict `_templated_strings` may write to is a new one."""
    copy = dict(message)
    if isinstance(copy.get("content"), list):
        parts = []
        for part in copy["content"]:
            if isinstance(part, dict):
                part = dict(part)
                if isinstance(part.get("image_url"), dict):
                    part["image_url"] = dict(part["image_url"])
            parts.append(part)
        copy["content"] = parts
    return copy
