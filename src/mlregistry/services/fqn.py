"""FQNs: `{prefix}:{tenant}/{ml_repo}/{name}` and, for versions, `...:{version}`."""

from __future__ import annotations

from dataclasses import dataclass


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


def parse_fqn(fqn: str, *, versioned: bool) -> ParsedFqn | None:
    """Parse an FQN; None when it is not of the expected form (a filter on it then matches nothing)."""
    prefix, sep, rest = fqn.partition(":")
    if not sep or not prefix:
        return None
    version: int | None = None
    if versioned:
        rest, sep, number = rest.rpartition(":")
        if not sep or not number.isdigit() or str(int(number)) != number:
            return None
        version = int(number)
    parts = rest.split("/")
    if len(parts) != 3 or not all(parts):
        return None
    tenant, ml_repo, name = parts
    return ParsedFqn(prefix=prefix, tenant=tenant, ml_repo=ml_repo, name=name, version=version)
