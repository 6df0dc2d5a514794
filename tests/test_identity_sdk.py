"""Identity modules through the official SDK (`truefoundry_sdk`) and tokens through the `truefoundry` library."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from truefoundry_sdk import Permissions, TeamManifest, TrueFoundry, VirtualAccountManifest
from truefoundry_sdk.core.api_error import ApiError
from truefoundry_sdk.errors import BadRequestError, ConflictError

from tests.factories import create_repo, create_workspace, unique
from tests.live import LiveServer, LiveUser


def sdk(server: LiveServer, token: str) -> TrueFoundry:
    return TrueFoundry(api_key=token, base_url=server.url)


def test_users_and_personal_access_tokens_through_the_sdk(server: LiveServer, admin: LiveUser) -> None:
    client = sdk(server, admin.token)
    email = f"{unique('sdk')}@example.com"
    client.users.pre_register_users(email=email)
    found = list(client.users.list(query=email))
    assert [user.email for user in found] == [email]
    user = client.users.get(found[0].id).data
    assert user.tenant_name == "acme" and user.active and user.roles == ["tenant-member"]
    client.users.update_roles(email=email, roles=["tenant-admin"])
    assert client.users.get(user.id).data.roles == ["tenant-admin"]
    client.users.update_roles(email=email, roles=["tenant-member"])

    token = client.personal_access_tokens.create_for_user(name="sdk", user_email=email).token
    member = sdk(server, token)
    own = member.personal_access_tokens.create(name="own", token_type="opaque").token
    assert own.startswith("tfy_")
    listed = {item.manifest.name: item for item in member.personal_access_tokens.list() if item.manifest}
    assert set(listed) == {"sdk", "own"}
    assert listed["sdk"].created_by_subject.subject_id == admin.id
    member.personal_access_tokens.delete(listed["own"].id)
    with pytest.raises(ApiError) as revoked:
        sdk(server, own).personal_access_tokens.create(name="again")
    assert revoked.value.status_code == 401

    client.users.deactivate(email=email)
    with pytest.raises(ApiError) as deactivated:
        list(member.personal_access_tokens.list())
    assert deactivated.value.status_code == 401
    client.users.activate(email=email)
    assert [item.manifest.name for item in member.personal_access_tokens.list() if item.manifest] == ["sdk"]

    client.personal_access_tokens.revoke_all(email=email)
    with pytest.raises(ApiError) as all_revoked:
        list(member.personal_access_tokens.list())
    assert all_revoked.value.status_code == 401
    client.users.delete(user.id)
    assert list(client.users.list(query=email)) == []


def test_virtual_accounts_and_teams_through_the_sdk(server: LiveServer, admin: LiveUser) -> None:
    client = sdk(server, admin.token)
    with server.client(admin) as http:
        repo = create_repo(http)
    name = unique("sdk-va")
    permission = Permissions(
        resource_fqn=repo["manifest"]["name"], resource_type="ml-repo", role_id="mlf-project-viewer"
    )
    created = client.virtual_accounts.create_or_update(
        manifest=VirtualAccountManifest(name=name, permissions=[permission])
    )
    assert created.token and created.data.manifest and created.data.manifest.name == name
    account_id = created.data.id
    assert client.virtual_accounts.exists(name=name).exists is True
    assert client.virtual_accounts.get(account_id).data.jwt_id == created.data.jwt_id
    assert [item.id for item in client.virtual_accounts.list(name_search_query=name)] == [account_id]
    assert client.virtual_accounts.get_token(account_id).token == created.token

    robot = sdk(server, created.token)
    assert [item.id for item in robot.ml_repos.list()] == [repo["id"]]
    new_token = client.virtual_accounts.regenerate_token(account_id, grace_period_in_minutes=0).token
    with pytest.raises(ApiError) as old:
        list(robot.ml_repos.list())
    assert old.value.status_code == 401
    jwt_id = client.virtual_accounts.get(account_id).data.jwt_id
    assert jwt_id is not None
    assert [item.id for item in sdk(server, new_token).ml_repos.list()] == [repo["id"]]
    client.virtual_accounts.delete_jwt(account_id, jwt_id)
    with pytest.raises(ApiError):
        list(sdk(server, new_token).ml_repos.list())
    client.virtual_accounts.delete(account_id)
    assert client.virtual_accounts.exists(name=name).exists is False

    team_name = unique("sdk-team")
    team = client.teams.create_or_update(manifest=TeamManifest(name=team_name, members=[admin.email])).data
    assert team.manifest.name == team_name and team.is_editable
    assert client.teams.get(team.id).data.manifest.members == [admin.email]
    assert team.id in [item.id for item in client.teams.list()]
    members = list(client.teams.list_members(team.id))
    assert [(row.subject_slug, row.subject_id) for row in members] == [(admin.email, admin.id)]
    client.teams.delete(team.id)
    assert team.id not in [item.id for item in client.teams.list()]


LIBRARY_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from truefoundry.ml import get_client

    client = get_client()
    action, name = sys.argv[1], sys.argv[2]
    if action == "create":
        client.create_ml_repo(name=name, storage_integration_fqn="default")
    try:
        client.create_ml_repo(name=name + "-x", storage_integration_fqn="default") if action == "robot" else None
        created = True
    except Exception as exc:
        created = str(exc)
    print(json.dumps({"repos": client.list_ml_repos(), "created": created}))
    """
)


def run_library(server: LiveServer, token: str, action: str, name: str) -> dict[str, object]:
    env = {**os.environ, "TFY_HOST": server.url, "TFY_API_KEY": token}
    result = subprocess.run(
        [sys.executable, "-c", LIBRARY_SCRIPT, action, name], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    output: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return output


def test_truefoundry_library_with_opaque_pat_and_virtual_account(server: LiveServer, admin: LiveUser) -> None:
    client = sdk(server, admin.token)
    email = f"{unique('lib')}@example.com"
    client.users.pre_register_users(email=email)
    token = client.personal_access_tokens.create_for_user(name="lib", user_email=email).token
    opaque = sdk(server, token).personal_access_tokens.create(name="lib-opaque", token_type="opaque").token
    repo = unique("librepo")
    assert run_library(server, opaque, "create", repo)["repos"] == [repo]
    with server.client() as http:
        created = http.get("/api/ml/v1/ml-repos", params={"name": repo}, headers={"Authorization": f"Bearer {opaque}"})
        subject = created.json()["data"][0]["created_by_subject"]
        assert subject["subjectSlug"] == email and subject["subjectPatName"] == "lib-opaque"

    permission = Permissions(resource_fqn=repo, resource_type="ml-repo", role_id="mlf-project-viewer")
    robot = client.virtual_accounts.create_or_update(
        manifest=VirtualAccountManifest(name=unique("lib-va"), permissions=[permission])
    )
    assert robot.token
    result = run_library(server, robot.token, "robot", repo)
    assert result["repos"] == [repo]
    assert "Virtual accounts cannot be used to create new ML Repos" in str(result["created"])


def test_invite_user_and_a_users_roles_and_teams_through_the_sdk(server: LiveServer, admin: LiveUser) -> None:
    client = sdk(server, admin.token)
    email = f"{unique('invited')}@example.com"
    invited = client.users.invite_user(accept_invite_client_url="https://app.example.com/accept?from=sdk", email=email)
    assert invited.link == f"https://app.example.com/accept?from=sdk&email={email.replace('@', '%40')}"
    found = list(client.users.list(query=email))
    assert [user.email for user in found] == [email] and found[0].active and found[0].roles == ["tenant-member"]
    with pytest.raises(ConflictError) as again:
        client.users.invite_user(accept_invite_client_url="https://app.example.com/accept", email=email)
    assert email in again.value.body.message

    member_id = found[0].id
    token = client.personal_access_tokens.create_for_user(name="sdk", user_email=email).token
    member = sdk(server, token)
    team = client.teams.create_or_update(manifest=TeamManifest(name=unique("sdk-team"), members=[email])).data
    with server.client(admin) as http:
        shared = create_repo(http, collaborators=[{"subject": f"user:{email}", "role_id": "mlf-project-viewer"}])
        teamed = create_repo(
            http, collaborators=[{"subject": f"team:{team.manifest.name}", "role_id": "mlf-project-editor"}]
        )
        create_repo(http)  # the member holds no role on this one
    with server.client(LiveUser(slug=email, email=email, token=token, id=member_id)) as http:
        own = create_repo(http)
        workspace = create_workspace(http)

    resources = {
        (r.resource_type, r.resource_name, r.resource_id, r.role_id) for r in member.users.get_resources(member_id).data
    }
    assert resources == {
        ("ml-repo", own["manifest"]["name"], own["id"], "mlf-project-admin"),
        ("ml-repo", shared["manifest"]["name"], shared["id"], "mlf-project-viewer"),
        ("workspace", workspace["name"], workspace["id"], "Admin"),
    }
    assert {r.resource_name for r in client.users.get_resources(member_id).data} == {
        name for _, name, _, _ in resources
    }

    permissions = {
        (p.resource_type, p.resource_name, p.role_id, p.role_name, p.subject_type, p.subject_id)
        for p in member.users.get_permissions(member_id).data
    }
    assert permissions == {
        ("ml-repo", own["manifest"]["name"], "mlf-project-admin", "Admin", "user", member_id),
        ("ml-repo", shared["manifest"]["name"], "mlf-project-viewer", "Viewer", "user", member_id),
        ("workspace", workspace["name"], "Admin", "Admin", "user", member_id),
        ("ml-repo", teamed["manifest"]["name"], "mlf-project-editor", "Editor", "team", team.id),
    }

    teams = member.users.get_teams(member_id).data
    assert [(item.team_name, item.roles) for item in teams] == [(team.manifest.name, ["member"])]
    team_permissions = client.teams.get_permissions(team.id).data
    assert [(p.resource_id, p.role_id, p.subject_type, p.subject_id) for p in team_permissions] == [
        (teamed["id"], "mlf-project-editor", "team", team.id)
    ]
    assert [p.resource_id for p in member.teams.get_permissions(team.id).data] == [teamed["id"]]


def test_password_and_secret_store_calls_are_refused_with_what_to_do_instead(
    server: LiveServer, admin: LiveUser
) -> None:
    client = sdk(server, admin.token)
    with pytest.raises(ApiError) as password:
        client.users.change_password(login_id=admin.email, old_password="old-secret", new_password="new-secret")
    assert password.value.status_code == 400
    assert "no passwords" in password.value.body["message"]
    assert "personal access token" in password.value.body["message"]

    account = client.virtual_accounts.create_or_update(manifest=VirtualAccountManifest(name=unique("sdk-sync"))).data
    with pytest.raises(BadRequestError) as sync:
        client.virtual_accounts.sync_to_secret_store(account.id, force=True)
    assert sync.value.status_code == 400
    assert "no external secret store" in sync.value.body["message"]
    assert f"/virtual-accounts/{account.id}/token" in sync.value.body["message"]
