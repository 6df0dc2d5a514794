"""Request bodies of the identity modules (contract §8): note the camelCase keys."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from mlregistry.schemas.common import Subject
from mlregistry.schemas.limits import Lenient
from mlregistry.schemas.manifests import WireModel

# `\x1c-\x1f` and `\x85` are named: the regex engines disagree on whether `\s` covers them.
_NOT_IN_EMAIL = r"[^@\s:\x1c-\x1f\x85]"
EMAIL_PATTERN = rf"^{_NOT_IN_EMAIL}+@{_NOT_IN_EMAIL}+\.{_NOT_IN_EMAIL}+$"
IDENTITY_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,127}$"

Email = Annotated[str, Field(max_length=128, pattern=EMAIL_PATTERN)]
IdentityName = Annotated[str, Field(pattern=IDENTITY_NAME_PATTERN)]
TokenName = Annotated[str, Field(min_length=1, max_length=256)]


class Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class RegisterUserRequest(Body):
    email: Email
    sendInviteEmail: bool | None = None
    skipIfUserExists: bool | None = None
    dryRun: bool | None = None
    acceptInviteClientURL: str | None = None


class InviteUserRequest(Body):
    acceptInviteClientUrl: str = Field(
        max_length=2048,
        pattern=r"^https?://[^\s/?#]+[^\s]*$",
        description="http(s) URL of the page the invitee opens; the answered `link` is this URL with `email` added",
    )
    email: Email


class ChangePasswordRequest(Body):
    # Read so that the documented body is the SDK's; this server has no passwords and refuses every one.
    loginId: str = Field(max_length=320)
    newPassword: str = Field(max_length=1024)
    oldPassword: str = Field(max_length=1024)


class UpdateUserRolesRequest(Body):
    email: Email
    roles: list[Annotated[str, Field(json_schema_extra={"enum": ["tenant-admin", "tenant-member"]})]]
    resourceType: str | None = None


class UserStateRequest(Body):
    email: Email
    tenantName: str | None = None


class CreatePersonalAccessTokenRequest(Body):
    name: TokenName
    expirationDate: str | None = None
    accountName: str | None = None
    teamName: str | None = None
    tokenType: Literal["jwt", "opaque"] | None = None


class CreatePersonalAccessTokenForUserRequest(Body):
    name: TokenName
    userEmail: Email
    expirationDate: str | None = None
    teamName: str | None = None
    tokenType: Literal["jwt", "opaque"] | None = None


class RevokeAllTokensRequest(Body):
    email: Email


ML_REPO_ROLES: list[JsonValue] = ["mlf-project-viewer", "mlf-project-editor", "mlf-project-admin"]
WORKSPACE_ROLES: list[JsonValue] = ["workspace-viewer", "workspace-editor", "workspace-admin"]


class Permission(WireModel):
    # Which roles can be granted depends on the resource type (the server answers 422 otherwise).
    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {
                    "properties": {
                        "resource_type": {"enum": ["ml-repo", "mlf-project"]},
                        "role_id": {"enum": ML_REPO_ROLES},
                    }
                },
                {"properties": {"resource_type": {"enum": ["workspace"]}, "role_id": {"enum": WORKSPACE_ROLES}}},
            ]
        }
    )

    resource_fqn: str = Field(min_length=1, max_length=256)
    resource_type: str = Field(json_schema_extra={"enum": ["ml-repo", "mlf-project", "workspace"]})
    role_id: str


class VirtualAccountOwnedBy(WireModel):
    account: str | None = None
    team: str


class VirtualAccountManifest(WireModel):
    type: Literal["virtual-account"] = "virtual-account"
    name: IdentityName
    permissions: list[Permission] | None = None
    expiration_date: str | None = Field(None, description="yyyy-mm-dd: the account and its tokens stop working then")
    ownedBy: VirtualAccountOwnedBy | None = None
    tags: dict[str, Any] | None = None
    token_type: Literal["jwt"] | None = Field(
        None, description="Virtual-account tokens are JWTs (they can be shown again with GET .../token)"
    )


class ApplyVirtualAccountRequest(Body):
    manifest: VirtualAccountManifest
    dryRun: bool = False


class RegenerateTokenRequest(Body):
    gracePeriodInMinutes: Annotated[int, Field(ge=0, le=60 * 24 * 30), Lenient]


class TeamOwnedBy(WireModel):
    account: str


class TeamManifest(WireModel):
    type: Literal["team"] = "team"
    name: IdentityName
    displayName: str | None = None
    description: str | None = Field(None, max_length=1024)
    managers: list[Email] | None = None
    members: list[Email]
    ownedBy: TeamOwnedBy | None = None
    tags: dict[str, Any] | None = None


class ApplyTeamRequest(Body):
    manifest: TeamManifest
    dryRun: bool = False


# --- response shapes (documented on the OpenAPI page; the services build the dicts) ----------------


class Out(BaseModel):
    model_config = ConfigDict(extra="allow")


class UserOut(Out):
    id: str
    email: str
    tenantName: str
    metadata: dict[str, Any]
    roles: list[str] | None = None
    active: bool
    isEditable: bool
    createdAt: str
    updatedAt: str


class InviteUserOut(Out):
    link: str = Field(description="The client's accept-invite URL with the invitee's `email`; pass it on yourself")
    data: UserOut


class UserResourceOut(Out):
    resourceType: str = Field(description="`ml-repo` or `workspace`")
    resourceId: str
    resourceName: str | None = None
    roleId: str


class SubjectPermissionOut(Out):
    resourceType: str = Field(description="`ml-repo` or `workspace`")
    resourceId: str
    resourceName: str | None = None
    resourceFqn: str | None = None
    roleId: str
    roleName: str
    subjectId: str = Field(description="The user's id, or the id of the team the role comes through")
    subjectType: str = Field(description="`user` or `team`")


class UserTeamOut(Out):
    teamName: str
    teamId: str
    roles: list[str] = Field(description="`member` and/or `manager`")


class VirtualAccountOut(Out):
    """A virtual account, and also the shape of a listed personal access token (never with its secret)."""

    id: str
    type: str
    tenantName: str
    accountId: str
    manifest: dict[str, Any] | None = None
    jwtId: str | None = None
    jwts: list[dict[str, Any]] | None = None
    createdBySubject: Subject
    createdAt: str
    updatedAt: str
    isExpired: bool | None = None


class VirtualAccountApplied(Out):
    data: VirtualAccountOut
    token: str | None = Field(None, description="Present only when the account was created")


class TokenOut(Out):
    token: str


class ExistsOut(Out):
    exists: bool


class TeamOut(Out):
    id: str
    description: str
    tenantName: str
    accountId: str
    createdBySubject: Subject
    members: list[str] | None = None
    createdAt: str
    updatedAt: str
    manifest: TeamManifest
    isEditable: bool


class TeamSubjectOut(Out):
    subjectId: str
    subjectSlug: str
    subjectType: str


class AuditEventOut(Out):
    id: str
    occurred_at: str
    action: str
    resource_type: str
    resource_id: str
    subject: Subject
    token_id: str | None = None
    details: dict[str, Any]
