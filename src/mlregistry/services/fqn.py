"""FQNs: `{prefix}:{tenant}/{ml_repo}/{name}` and, for versions, `...:{version}`."""

from __future__ import annotations

from dataclasses import dataclass

from mlregistry.schemas.limits import INT32_MAX


@dataclass(frozen=True)
class ParsedFqn:
    prefix: str
    tenant: str
    ml_repo: str
    name: str
    version: int | None


def entity_fqn(prefix: str, tenant: str, ml_repo: str, name: str) -> str:
    return f"{prefix}:{tenant}/{ml_repo}/{name}"


def version_fqn(prefix: str, tenant: str, ml_repo: str, name: str, version: int) -> str:
    return f"{entity_fqn(prefix, tenant, ml_repo, name)}:{version}"


def parse_canonical_int(text: str) -> int | None:
    """`"42"` is 42; `"042"`, `"+42"`, `"4_2"`, `"²"` or any non-ASCII digit is None."""
    if not text.isascii() or not text.isdigit() or str(int(text)) != text:
        return None
    return int(text)


def parse_fqn(fqn: str, *, versioned: bool) -> ParsedFqn | None:
    """Parse an FQN; None when it is not of the expected form (a filter on it then matches nothing)."""
    prefix, sep, rest = fqn.partition(":")
    if not sep or not prefix:
        return None
    version: int | None = None
    if versioned:
        rest, sep, number = rest.rpartition(":")
        version = parse_canonical_int(number) if sep else None
        if version is None or version > INT32_MAX:
            return None
    parts = rest.split("/")
    if len(parts) != 3 or not all(parts):
        return None
    tenant, ml_repo, name = parts
    return ParsedFqn(prefix=prefix, tenant=tenant, ml_repo=ml_repo, name=name, version=version)
