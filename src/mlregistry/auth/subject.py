"""The authenticated caller of a request, as the services see it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

RESOURCE_ML_REPO = "ml-repo"
RESOURCE_WORKSPACE = "workspace"

SUBJECT_USER = "user"
SUBJECT_SERVICE_ACCOUNT = "serviceaccount"  # virtual accounts act as `serviceaccount` subjects


@dataclass(frozen=True)
class Grant:
    """An explicit permission held by the caller itself (a virtual account's manifest `permissions`)."""

    resource_type: str  # RESOURCE_ML_REPO or RESOURCE_WORKSPACE
    resource: str  # the ML repo or workspace name
    rank: int  # 1 viewer, 2 editor, 3 admin (services.access.Role)


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
    grants: tuple[Grant, ...] = ()

    @property
    def is_virtual_account(self) -> bool:
        return self.subject_type == SUBJECT_SERVICE_ACCOUNT

    def granted_rank(self, resource_type: str, resource: str) -> int:
        return max(
            (g.rank for g in self.grants if g.resource_type == resource_type and g.resource == resource), default=0
        )

    def granted_resources(self, resource_type: str) -> frozenset[str]:
        return frozenset(g.resource for g in self.grants if g.resource_type == resource_type)

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


def user_principals(slug: str, email: str | None, teams: tuple[str, ...] | list[str] = ()) -> frozenset[str]:
    names = {f"user:{slug}"}
    if email:
        names.add(f"user:{email.lower()}")
    names.update(f"team:{team}" for team in teams)
    return frozenset(names)


def virtual_account_principals(name: str) -> frozenset[str]:
    return frozenset({f"virtualaccount:{name}", f"serviceaccount:{name}"})


# The subject recorded for changes made outside any request (CLI, first start, test set-up).
SYSTEM_CALLER = Caller(
    subject_id="system",
    subject_type=SUBJECT_SERVICE_ACCOUNT,
    slug="mlregistry-system",
    display_name="mlregistry (command line)",
    is_tenant_admin=True,
)


# The member principal that stands for every authenticated caller.
EVERY_CALLER = "*"


def normalise_principal(subject: str) -> str:
    """The principal a member entry grants to. `user:` references are case-insensitive; a bare email or
    slug names a user; `*` (every caller) and other kinds (`team:<name>`) stay as they are."""
    kind, separator, reference = subject.partition(":")
    if not separator:
        return subject if subject == EVERY_CALLER else f"user:{subject.lower()}"
    return f"{kind}:{reference.lower()}" if kind == "user" else subject
