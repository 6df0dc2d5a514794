"""The authenticated caller of a request, as the services see it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Caller:
    subject_id: str
    subject_type: str
    slug: str
    email: str | None = None
    display_name: str | None = None
    is_tenant_admin: bool = False
    token_id: str | None = None
    pat_name: str | None = None
    external_identity_slug: str | None = None
    # Subject FQNs this caller acts as, matched against collaborators (`user:<email>`, `team:<name>`, ...).
    principals: frozenset[str] = field(default_factory=frozenset)

    def as_subject(self) -> dict[str, Any]:
        """The `created_by_subject` recorded on what this caller creates (camelCase keys)."""
        subject: dict[str, Any] = {
            "subjectId": self.subject_id,
            "subjectType": self.subject_type,
            "subjectSlug": self.slug,
            "subjectDisplayName": self.display_name or self.slug,
        }
        if self.pat_name:
            subject["subjectPatName"] = self.pat_name
        if self.external_identity_slug:
            subject["subjectExternalIdentitySlug"] = self.external_identity_slug
        return subject


def user_principals(slug: str, email: str | None) -> frozenset[str]:
    names = {f"user:{slug}"}
    if email:
        names.add(f"user:{email.lower()}")
    return frozenset(names)


# The member principal that stands for every authenticated caller.
EVERY_CALLER = "*"


def normalise_principal(subject: str) -> str:
    """The principal a member entry grants to. `user:` references are case-insensitive; a bare email or
    slug names a user; `*` (every caller) and other kinds (`team:<name>`) stay as they are."""
    kind, separator, reference = subject.partition(":")
    if not separator:
        return subject if subject == EVERY_CALLER else f"user:{subject.lower()}"
    return f"{kind}:{reference.lower()}" if kind == "user" else subject
