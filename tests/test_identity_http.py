"""Users, personal access tokens, virtual accounts, teams, per-repo roles and the audit trail, over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from mlregistry.orm import AuditEvent, EntityVersion, MlRepo, Team, Token, User, VirtualAccount
from tests.factories import API, apply_model_version, create_repo, model_manifest, unique
from tests.identity_factories import apply_team, apply_virtual_account, audit_events, bearer, register_user
from tests.live import LiveServer, LiveUser


def test_users_are_managed_by_tenant_admins(server: LiveServer, admin: LiveUser, user: LiveUser) -> None:
    member = register_user(server, admin)
    with server.client(admin) as client:
        listed = client.get(f"{API}/users", params={"query": member.email[:12]}).json()
        found = [item for item in listed["data"] if item["email"] == member.email]
        assert len(found) == 1
        shown = found[0]
        for key in ("id", "email", "tenantName", "metadata", "active", "isEditable", "createdAt", "updatedAt"):
            assert key in shown
        assert shown["tenantName"] == "acme" and shown["active"] is True and shown["roles"] == ["tenant-member"]
        assert client.get(f"{API}/users/{member.id}").json()["data"]["email"] == member.email

        again = client.post(f"{API}/users/register", json={"email": member.email})
        assert again.status_code == 409 and again.json()["statusCode"] == 409
        skipped = client.post(f"{API}/users/register", json={"email": member.email, "skipIfUserExists": True})
        assert skipped.json() == {}
        dry_email = f"{unique('dry')}@example.com"
        assert client.post(f"{API}/users/register", json={"email": dry_email, "dryRun": True}).status_code == 200
        assert client.get(f"{API}/users", params={"query": dry_email}).json()["pagination"]["total"] == 0
        bad = client.post(f"{API}/users/register", json={"email": "not-an-email"})
        assert bad.status_code == 422 and "email" in bad.json()["message"]

        promoted = client.patch(f"{API}/users/roles", json={"email": member.email, "roles": ["tenant-admin"]})
        assert promoted.status_code == 200
        assert client.get(f"{API}/users/{member.id}").json()["data"]["roles"] == ["tenant-admin"]
        bad_role = client.patch(f"{API}/users/roles", json={"email": member.email, "roles": ["root"]})
        assert bad_role.status_code == 422 and "roles" in bad_role.json()["message"]
        client.patch(f"{API}/users/roles", json={"email": member.email, "roles": ["tenant-member"]})

    with server.client(user) as outsider:
        assert outsider.post(f"{API}/users/register", json={"email": "x@example.com"}).status_code == 403
        assert outsider.get(f"{API}/users/{member.id}").status_code == 404
        own = outsider.get(f"{API}/users").json()
        assert [item["id"] for item in own["data"]] == [user.id] and own["pagination"]["total"] == 1
        assert outsider.get(f"{API}/users/{user.id}").status_code == 200
        assert outsider.patch(f"{API}/users/deactivate", json={"email": member.email}).status_code == 403
        assert outsider.delete(f"{API}/users/{member.id}").status_code == 403


def test_deactivated_and_deleted_users_fail_on_the_next_request(server: LiveServer, admin: LiveUser) -> None:
    member = register_user(server, admin)
    with server.client() as client, server.client(admin) as admin_client:
        assert client.get(f"{API}/ml-repos", headers=bearer(member.token)).status_code == 200
        admin_client.patch(f"{API}/users/deactivate", json={"email": member.email})
        refused = client.get(f"{API}/ml-repos", headers=bearer(member.token))
        assert refused.status_code == 401 and refused.json()["statusCode"] == 401
        hidden = admin_client.get(f"{API}/users", params={"query": member.email}).json()
        assert hidden["data"] == []
        shown = admin_client.get(f"{API}/users", params={"query": member.email, "showInvalidUsers": "true"}).json()
        assert shown["data"][0]["active"] is False

        admin_client.patch(f"{API}/users/activate", json={"email": member.email})
        assert client.get(f"{API}/ml-repos", headers=bearer(member.token)).status_code == 200

        assert admin_client.delete(f"{API}/users/{member.id}").json() == {}
        assert client.get(f"{API}/ml-repos", headers=bearer(member.token)).status_code == 401
        assert admin_client.get(f"{API}/users/{member.id}").status_code == 404
        assert admin_client.delete(f"{API}/users/{admin.id}").status_code == 403, "admins cannot delete themselves"


def test_personal_access_tokens(server: LiveServer, user: LiveUser) -> None:
    with server.client(user) as client:
        created = client.post(f"{API}/personal-access-tokens", json={"name": "ci", "expirationDate": "2999-01-01"})
        assert created.status_code == 200, created.text
        ci_token = created.json()["token"]
        opaque = client.post(f"{API}/personal-access-tokens", json={"name": "cli", "tokenType": "opaque"}).json()
        assert opaque["token"].startswith("tfy_")
        assert client.post(f"{API}/personal-access-tokens", json={"name": "ci"}).status_code == 409
        past = client.post(f"{API}/personal-access-tokens", json={"name": "old", "expirationDate": "2001-01-01"})
        assert past.status_code == 422 and "expirationDate" in past.json()["message"]

        listed = client.get(f"{API}/personal-access-tokens").json()
        names = {item["manifest"]["name"]: item for item in listed["data"]}
        assert {"ci", "cli", f"{user.slug}-pat"} <= set(names)
        assert ci_token not in str(listed) and opaque["token"] not in str(listed)
        assert names["ci"]["manifest"]["expiration_date"].startswith("2999-01-02")
        assert names["ci"]["createdBySubject"]["subjectId"] == user.id
        by_prefix = client.get(f"{API}/personal-access-tokens", params={"nameSearchQuery": "cl"}).json()
        assert [item["manifest"]["name"] for item in by_prefix["data"]] == ["cli"]

    with server.client() as anonymous:
        repo = anonymous.put(
            f"{API}/ml-repos",
            json={"manifest": {"name": unique("repo"), "storage_integration_fqn": "x"}},
            headers=bearer(ci_token),
        ).json()["data"]
        assert repo["created_by_subject"]["subjectPatName"] == "ci"
        session = anonymous.get(f"{API}/session", headers=bearer(opaque["token"])).json()
        assert session["user"]["email"] == user.email and session["user"]["tenantName"] == "acme"
        assert session["user"]["subject"]["subjectPatName"] == "cli"

    outsider = server.create_user(prefix="outsider")
    with server.client(outsider) as other:
        assert other.delete(f"{API}/personal-access-tokens/{names['ci']['id']}").status_code == 404
        assert (
            other.request("DELETE", f"{API}/personal-access-tokens/revoke/all", json={"email": user.email}).status_code
            == 404
        )

    with server.client(user) as client:
        assert client.delete(f"{API}/personal-access-tokens/{names['ci']['id']}").json() == {}
        assert client.get(f"{API}/ml-repos", headers=bearer(ci_token)).status_code == 401
        assert client.get(f"{API}/ml-repos", headers=bearer(opaque["token"])).status_code == 200
        revoked = client.request("DELETE", f"{API}/personal-access-tokens/revoke/all", json={"email": user.email})
        assert revoked.json() == {}
        assert client.get(f"{API}/ml-repos", headers=bearer(opaque["token"])).status_code == 401
        assert client.get(f"{API}/ml-repos").status_code == 401, "revoke all includes the token used to ask"


def test_expired_personal_access_token_is_refused(server: LiveServer, user: LiveUser) -> None:
    with server.client(user) as client:
        token = client.post(f"{API}/personal-access-tokens", json={"name": "short", "expirationDate": "2999-01-01"})
        short = token.json()["token"]
        assert client.get(f"{API}/ml-repos", headers=bearer(short)).status_code == 200

    async def expire(session) -> None:  # type: ignore[no-untyped-def]
        past = datetime.now(UTC) - timedelta(seconds=1)
        await session.execute(
            update(Token).where(Token.user_id == user.id, Token.name == "short").values(expires_at=past)
        )

    server.run(expire)
    with server.client() as client:
        refused = client.get(f"{API}/ml-repos", headers=bearer(short))
        assert refused.status_code == 401 and "expired" in refused.json()["message"]


def test_virtual_account_is_limited_to_its_permissions(server: LiveServer, admin: LiveUser, user: LiveUser) -> None:
    name = unique("va")
    with server.client(admin) as client:
        allowed = create_repo(client)
        other = create_repo(client)
        created = apply_virtual_account(
            client,
            name,
            [
                {
                    "resource_fqn": allowed["manifest"]["name"],
                    "resource_type": "ml-repo",
                    "role_id": "mlf-project-editor",
                }
            ],
        )
        assert created.status_code == 200, created.text
        body = created.json()
        token, account = body["token"], body["data"]
        for key in ("id", "type", "tenantName", "createdBySubject", "createdAt", "updatedAt", "accountId"):
            assert key in account
        assert account["manifest"]["name"] == name and account["jwtId"] == account["jwts"][0]["id"]
        assert client.get(f"{API}/virtual-accounts/{account['id']}/token").json() == {"token": token}
        assert client.get(f"{API}/virtual-accounts/exists", params={"name": name}).json() == {"exists": True}
        assert client.get(f"{API}/virtual-accounts/exists", params={"name": name + "x"}).json() == {"exists": False}
        listed = client.get(f"{API}/virtual-accounts", params={"nameSearchQuery": name}).json()
        assert [item["id"] for item in listed["data"]] == [account["id"]]
        assert (
            client.get(f"{API}/virtual-accounts", params={"nameSearchQuery": name, "isExpired": "true"}).json()["data"]
            == []
        )
        owned_name, owner_team = unique("va"), unique("owners")
        owned = apply_virtual_account(client, owned_name, [], ownedBy={"team": owner_team}).json()["data"]
        by_team = client.get(f"{API}/virtual-accounts", params={"ownedByTeams": [owner_team, "nobody"]}).json()
        assert [item["id"] for item in by_team["data"]] == [owned["id"]]
        assert by_team["data"][0]["manifest"]["ownedBy"] == {"team": owner_team}
        bad_role = apply_virtual_account(
            client, unique("va"), [{"resource_fqn": "x", "resource_type": "ml-repo", "role_id": "owner"}]
        )
        assert bad_role.status_code == 422 and "permissions.0.role_id" in bad_role.json()["message"]

    with server.client() as va:
        va.headers.update(bearer(token))
        repos = va.get(f"{API}/ml-repos").json()
        assert [item["id"] for item in repos["data"]] == [allowed["id"]]
        assert va.get(f"{API}/ml-repos/{other['id']}").status_code == 404
        version = va.put(f"{API}/model-versions", json={"manifest": model_manifest(allowed["manifest"]["name"], "m")})
        assert version.status_code == 200, version.text
        subject = version.json()["data"]["created_by_subject"]
        assert subject["subjectType"] == "serviceaccount" and subject["subjectSlug"] == name
        assert (
            va.put(
                f"{API}/model-versions", json={"manifest": model_manifest(other["manifest"]["name"], "m")}
            ).status_code
            == 404
        )
        assert va.delete(f"{API}/ml-repos/{allowed['id']}").status_code == 403, "editor cannot delete the repo"
        created_repo = va.put(
            f"{API}/ml-repos", json={"manifest": {"name": unique("repo"), "storage_integration_fqn": "x"}}
        )
        assert created_repo.status_code == 403
        assert va.get(f"{API}/virtual-accounts").status_code == 403
        assert va.post(f"{API}/personal-access-tokens", json={"name": "x"}).status_code == 403

    with server.client(user) as member:
        assert member.get(f"{API}/virtual-accounts").status_code == 403
        assert member.get(f"{API}/virtual-accounts/{account['id']}/token").status_code == 403


def test_virtual_account_tokens_rotate_and_die_with_the_account(server: LiveServer, admin: LiveUser) -> None:
    with server.client(admin) as client:
        repo = create_repo(client)
        permission = {
            "resource_fqn": repo["manifest"]["name"],
            "resource_type": "ml-repo",
            "role_id": "mlf-project-viewer",
        }
        body = apply_virtual_account(client, unique("va"), [permission]).json()
        first, account_id = body["token"], body["data"]["id"]
        url = f"{API}/virtual-accounts/{account_id}"

        second = client.post(f"{url}/regenerate-token", json={"gracePeriodInMinutes": 10}).json()["token"]
        assert second != first
        assert client.get(f"{API}/ml-repos/{repo['id']}", headers=bearer(first)).status_code == 200, "grace period"
        assert client.get(f"{API}/ml-repos/{repo['id']}", headers=bearer(second)).status_code == 200
        assert client.get(f"{url}/token").json()["token"] == second

        third = client.post(f"{url}/regenerate-token", json={"gracePeriodInMinutes": 0}).json()["token"]
        assert client.get(f"{API}/ml-repos/{repo['id']}", headers=bearer(first)).status_code == 401
        assert client.get(f"{API}/ml-repos/{repo['id']}", headers=bearer(second)).status_code == 401
        assert client.get(f"{API}/ml-repos/{repo['id']}", headers=bearer(third)).status_code == 200

        jwts = client.get(url).json()["data"]["jwts"]
        assert client.delete(f"{url}/jwt/{jwts[0]['id']}").json() == {}
        assert client.get(f"{API}/ml-repos/{repo['id']}", headers=bearer(third)).status_code == 401

        fourth = client.post(f"{url}/regenerate-token", json={"gracePeriodInMinutes": 0}).json()["token"]
        assert client.get(f"{API}/ml-repos/{repo['id']}", headers=bearer(fourth)).status_code == 200
        assert client.delete(url).json() == {}
        assert client.get(f"{API}/ml-repos/{repo['id']}", headers=bearer(fourth)).status_code == 401
        assert client.get(url).status_code == 404


def test_roles_per_repo(server: LiveServer, user: LiveUser) -> None:
    viewer, editor, repo_admin = (server.create_user(prefix=p) for p in ("viewer", "editor", "repoadmin"))
    outsider = server.create_user(prefix="outsider")
    with server.client(user) as owner:
        repo = create_repo(
            owner,
            collaborators=[
                {"subject": f"user:{user.email}", "role_id": "mlf-project-admin"},
                {"subject": f"user:{viewer.email}", "role_id": "mlf-project-viewer"},
                {"subject": f"user:{editor.email}", "role_id": "mlf-project-editor"},
                {"subject": f"user:{repo_admin.email}", "role_id": "mlf-project-admin"},
            ],
        )
        name = repo["manifest"]["name"]
        version = apply_model_version(owner, name, "clf")
    tags = {"model_version_id": version["id"], "tags": ["prod"]}
    with server.client(viewer) as client:
        assert client.get(f"{API}/ml-repos/{repo['id']}").status_code == 200
        assert client.put(f"{API}/model-versions/tags", json=tags).status_code == 403
        assert client.put(f"{API}/model-versions", json={"manifest": model_manifest(name, "x")}).status_code == 403
    with server.client(editor) as client:
        assert client.put(f"{API}/model-versions/tags", json=tags).status_code == 200
        assert client.delete(f"{API}/models/{version['model_id']}").status_code == 403
        changed = client.put(f"{API}/ml-repos", json={"manifest": {**repo["manifest"], "collaborators": []}})
        assert changed.status_code == 403, "only admins change collaborators"
    with server.client(outsider) as client:
        assert client.get(f"{API}/ml-repos").json()["data"] == []
        assert client.get(f"{API}/model-versions", params={"model_id": version["model_id"]}).json()["data"] == []
        assert client.put(f"{API}/model-versions/tags", json=tags).status_code == 404
    with server.client(repo_admin) as client:
        assert client.delete(f"{API}/model-versions/{version['id']}").status_code == 200
        assert client.delete(f"{API}/ml-repos/{repo['id']}").status_code == 200


def test_each_caller_gets_its_own_role_from_statements_built_once(server: LiveServer, admin: LiveUser) -> None:
    """A get by id and a repo lookup by name are built once per process with the principals as a parameter:
    callers taking turns on the same routes each get their own role, whoever came first."""
    viewer, editor, outsider, team_member = (
        register_user(server, admin, prefix=p) for p in ("sviewer", "seditor", "soutsider", "steam")
    )
    team = unique("stmt-team")
    with server.client(admin) as client:
        assert apply_team(client, team, [team_member.email]).status_code == 200
        repo = create_repo(
            client,
            collaborators=[
                {"subject": f"user:{viewer.email}", "role_id": "mlf-project-viewer"},
                {"subject": f"user:{editor.email}", "role_id": "mlf-project-editor"},
                {"subject": f"team:{team}", "role_id": "mlf-project-editor"},
            ],
        )
        name = repo["manifest"]["name"]
        version = apply_model_version(client, name, "shared")
    url = f"{API}/model-versions/{version['id']}"
    expected = {
        outsider.email: (404, 404),
        viewer.email: (200, 403),
        editor.email: (200, 200),
        team_member.email: (200, 200),
    }
    for caller in (outsider, editor, viewer, outsider, team_member, viewer, editor, outsider):
        with server.client(caller) as client:
            got = client.get(url)
            applied = client.put(
                f"{API}/model-versions", json={"manifest": model_manifest(name, "shared-" + caller.email[:6])}
            )
            assert (got.status_code, applied.status_code) == expected[caller.email], caller.email
            if got.status_code == 200:
                assert got.json()["data"]["id"] == version["id"]


def test_two_teams_share_a_server(server: LiveServer, admin: LiveUser) -> None:
    a_lead, a_member, b_lead, b_member = (
        register_user(server, admin, prefix=p) for p in ("alead", "amem", "blead", "bmem")
    )
    team_a, team_b = unique("team-a"), unique("team-b")
    with server.client(admin) as client:
        created = apply_team(client, team_a, [a_lead.email, a_member.email], managers=[a_lead.email])
        assert created.status_code == 200, created.text
        team_a_id = created.json()["data"]["id"]
        team_b_id = apply_team(client, team_b, [b_lead.email, b_member.email]).json()["data"]["id"]

    repos = {}
    for lead, team in ((a_lead, team_a), (b_lead, team_b)):
        with server.client(lead) as client:
            repos[team] = create_repo(
                client, collaborators=[{"subject": f"team:{team}", "role_id": "mlf-project-editor"}]
            )
            apply_model_version(client, repos[team]["manifest"]["name"], "model")

    for member, mine, theirs in ((a_member, team_a, team_b), (b_member, team_b, team_a)):
        with server.client(member) as client:
            listed = client.get(f"{API}/ml-repos").json()
            assert [item["id"] for item in listed["data"]] == [repos[mine]["id"]]
            assert client.get(f"{API}/ml-repos/{repos[theirs]['id']}").status_code == 404
            assert client.get(f"{API}/models", params={"ml_repo_id": repos[theirs]["id"]}).json()["data"] == []
            write = client.put(
                f"{API}/model-versions", json={"manifest": model_manifest(repos[theirs]["manifest"]["name"], "x")}
            )
            assert write.status_code == 404
            assert client.delete(f"{API}/ml-repos/{repos[theirs]['id']}").status_code == 404
            own = client.put(
                f"{API}/model-versions", json={"manifest": model_manifest(repos[mine]["manifest"]["name"], "x")}
            )
            assert own.status_code == 200
            assert client.delete(f"{API}/ml-repos/{repos[mine]['id']}").status_code == 403, "editors cannot delete"
            assert client.get(f"{API}/teams/{team_a_id if theirs == team_a else team_b_id}").status_code == 404
            assert apply_team(client, theirs, [member.email]).status_code == 404

    with server.client(a_member) as client:
        teams = client.get(f"{API}/teams/user").json()
        assert [item["manifest"]["name"] for item in teams["data"]] == [team_a]
        assert (
            client.get(f"{API}/teams/user", params={"role": "manager", "includeMembership": "false"}).json()["data"]
            == []
        )
        members = client.get(f"{API}/teams/{team_a_id}/members").json()
        assert {item["subjectSlug"] for item in members["data"]} == {a_lead.email, a_member.email}
        assert all(item["subjectType"] == "user" for item in members["data"])
        assert apply_team(client, team_a, [a_member.email]).status_code == 403, "members do not manage the team"

    with server.client(a_lead) as lead:
        managers = lead.get(f"{API}/teams/{team_a_id}/managers").json()
        assert [item["subjectSlug"] for item in managers["data"]] == [a_lead.email]
        assert apply_team(lead, team_a, [a_lead.email], managers=[a_lead.email]).status_code == 200
    with server.client(a_member) as client:
        assert client.get(f"{API}/ml-repos/{repos[team_a]['id']}").status_code == 404, "removed from the team"

    with server.client(admin) as client:
        assert client.delete(f"{API}/teams/{team_b_id}").json() == {}
        for team, lead in ((team_a, a_lead), (team_b, b_lead)):
            events = audit_events(client, subject=lead.id, resource_type="ml-repo")
            assert [event["resource_id"] for event in events] == [repos[team]["id"]]
            assert events[0]["subject"]["subjectSlug"] == lead.email and events[0]["action"] == "create"
    with server.client(b_member) as client:
        assert client.get(f"{API}/ml-repos/{repos[team_b]['id']}").status_code == 404, "team deleted"


def test_team_creation_needs_a_tenant_admin(server: LiveServer, user: LiveUser) -> None:
    with server.client(user) as client:
        refused = apply_team(client, unique("team"), [user.email])
        assert refused.status_code == 403 and refused.json()["statusCode"] == 403


def test_every_mutation_is_in_the_audit_trail(server: LiveServer, admin: LiveUser, user: LiveUser) -> None:
    started = datetime.now(UTC) - timedelta(seconds=1)
    with server.client(user) as client:
        repo = create_repo(client)
        name = repo["manifest"]["name"]
        create_repo(client, name, description="changed")
        first = apply_model_version(client, name, "clf")
        manifest = {**first["manifest"], "description": "updated"}
        assert client.put(f"{API}/model-versions", json={"manifest": manifest}).status_code == 200
        client.put(f"{API}/model-versions/tags", json={"model_version_id": first["id"], "tags": ["prod"]})
        second = apply_model_version(client, name, "clf")
        clash = client.put(f"{API}/model-versions/tags", json={"model_version_id": second["id"], "tags": ["prod"]})
        assert clash.status_code == 409
        client.delete(f"{API}/model-versions/{second['id']}")
        client.delete(f"{API}/models/{first['model_id']}")
        token = client.post(f"{API}/personal-access-tokens", json={"name": "audit"}).json()["token"]
        assert client.get(f"{API}/audit-events").status_code == 403, "only tenant admins read the trail"
    with server.client() as client:
        client.headers.update(bearer(token))
        listed = client.get(f"{API}/personal-access-tokens", params={"nameSearchQuery": "audit"}).json()["data"]
        client.delete(f"{API}/personal-access-tokens/{listed[0]['id']}")
    with server.client(user) as client:
        client.delete(f"{API}/ml-repos/{repo['id']}")

    with server.client(admin) as client:
        events = list(reversed(audit_events(client, subject=user.id, since=started.isoformat())))
        assert [(event["action"], event["resource_type"]) for event in events] == [
            ("create", "ml-repo"),
            ("update", "ml-repo"),
            ("create", "model-version"),
            ("update", "model-version"),
            ("apply_tags", "model-version"),
            ("create", "model-version"),
            ("delete", "model-version"),
            ("delete", "model"),
            ("create", "personal-access-token"),
            ("revoke", "personal-access-token"),
            ("delete", "ml-repo"),
        ], "the refused tag move (409) left no event"
        assert all(event["subject"]["subjectId"] == user.id for event in events)
        assert events[0]["subject"]["subjectPatName"] == f"{user.slug}-pat" and events[0]["token_id"]
        assert events[-2]["subject"]["subjectPatName"] == "audit", "the token used is recorded"
        assert events[2]["resource_id"] == first["id"]

        by_resource = audit_events(client, resource_type="ml-repo", resource_id=repo["id"])
        assert [event["action"] for event in by_resource] == ["delete", "update", "create"]
        assert audit_events(client, subject=user.slug, since=started.isoformat())[0]["action"] == "delete"
        assert audit_events(client, subject=user.id, until=started.isoformat()) == [
            event for event in audit_events(client, subject=user.id) if event["occurred_at"] < started.isoformat()
        ]
        page = client.get(f"{API}/audit-events", params={"subject": user.id, "limit": 2, "offset": 1}).json()
        assert page["pagination"] == {"total": 11, "offset": 1, "limit": 2}
        assert [event["id"] for event in page["data"]] == [event["id"] for event in list(reversed(events))[1:3]]
        naive = client.get(f"{API}/audit-events", params={"since": "2020-01-01T00:00:00"})
        assert naive.status_code == 422 and "since" in naive.json()["message"]

        member_email = f"{unique('audited')}@example.com"
        client.post(f"{API}/users/register", json={"email": member_email})
        va = apply_virtual_account(client, unique("va"), []).json()["data"]
        team = apply_team(client, unique("team"), [member_email]).json()["data"]
        admin_events = audit_events(client, subject=admin.id, since=started.isoformat())
        assert {(event["action"], event["resource_type"]) for event in admin_events[:3]} == {
            ("create", "user"),
            ("create", "virtual-account"),
            ("create", "team"),
        }
        assert {event["resource_id"] for event in admin_events[:2]} == {va["id"], team["id"]}


def test_expired_virtual_account_stops_working(server: LiveServer, admin: LiveUser) -> None:
    name = unique("va")
    with server.client(admin) as client:
        repo = create_repo(client)
        permission = {
            "resource_fqn": repo["manifest"]["name"],
            "resource_type": "ml-repo",
            "role_id": "mlf-project-viewer",
        }
        tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
        body = apply_virtual_account(client, name, [permission], expiration_date=tomorrow).json()
        assert client.get(f"{API}/ml-repos/{repo['id']}", headers=bearer(body["token"])).status_code == 200
        past = apply_virtual_account(client, name, [permission], expiration_date="2001-01-01")
        assert past.status_code == 422 and "expiration_date" in past.json()["message"]

    async def expire(session) -> None:  # type: ignore[no-untyped-def]
        moment = datetime.now(UTC) - timedelta(seconds=1)
        await session.execute(update(VirtualAccount).where(VirtualAccount.name == name).values(expires_at=moment))

    server.run(expire)
    with server.client(admin) as client:
        refused = client.get(f"{API}/ml-repos/{repo['id']}", headers=bearer(body["token"]))
        assert refused.status_code == 401 and "expired" in refused.json()["message"]
        expired = client.get(f"{API}/virtual-accounts", params={"nameSearchQuery": name, "isExpired": "true"}).json()
        assert [item["id"] for item in expired["data"]] == [body["data"]["id"]] and expired["data"][0]["isExpired"]


def test_every_stored_resource_has_its_creation_in_the_audit_trail(server: LiveServer, admin: LiveUser) -> None:
    """Whatever the tests of this run created so far, each stored resource was audited with its subject."""
    with server.client(admin) as client:
        create_repo(client)  # at least one fresh mutation of this test itself

    async def unaudited(session) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
        created = select(AuditEvent.resource_type, AuditEvent.resource_id).where(AuditEvent.action == "create")
        audited = {(kind, resource) for kind, resource in (await session.execute(created)).all()}
        stored = {
            "user": select(User.id),
            "personal-access-token": select(Token.jti),
            "ml-repo": select(MlRepo.id),
            "model-version": select(EntityVersion.id).where(
                EntityVersion.family == "model", EntityVersion.state == "FINALIZED"
            ),
            "team": select(Team.id),
            "virtual-account": select(VirtualAccount.id),
        }
        missing: dict[str, list[str]] = {}
        for kind, query in stored.items():
            ids = [str(value) for value in (await session.scalars(query)).all()]
            assert ids or kind in {"team", "virtual-account"}, f"the run stored no {kind}"
            missing[kind] = [value for value in ids if (kind, value) not in audited]
        subjects = await session.scalars(select(AuditEvent.subject))
        assert all(subject.get("subjectId") and subject.get("subjectType") for subject in subjects)
        return missing

    assert server.run(unaudited) == {
        kind: [] for kind in ("user", "personal-access-token", "ml-repo", "model-version", "team", "virtual-account")
    }


def test_invite_is_for_tenant_admins_and_writes_the_user_and_an_audit_row(
    server: LiveServer, admin: LiveUser, user: LiveUser
) -> None:
    email = f"{unique('invite')}@Example.com"
    body = {"email": email, "acceptInviteClientUrl": "https://app.example.com/join"}
    with server.client(user) as outsider:
        refused = outsider.post(f"{API}/users/invite", json=body)
        assert refused.status_code == 403 and "tenant administrators" in refused.json()["message"]
    with server.client(admin) as client:
        assert client.get(f"{API}/users", params={"query": email.lower()}).json()["pagination"]["total"] == 0
        bad_url = client.post(f"{API}/users/invite", json={**body, "acceptInviteClientUrl": "javascript:alert(1)"})
        assert bad_url.status_code == 422 and "acceptInviteClientUrl" in bad_url.json()["message"]
        unparsable = client.post(f"{API}/users/invite", json={**body, "acceptInviteClientUrl": "http://[::1/join"})
        assert unparsable.status_code == 422 and "not a valid URL" in unparsable.json()["message"]
        no_email = client.post(f"{API}/users/invite", json={"acceptInviteClientUrl": "https://app.example.com"})
        assert no_email.status_code == 422 and "email" in no_email.json()["message"]

        invited = client.post("/api/ml/v1/users/invite", json=body)
        assert invited.status_code == 200, invited.text
        answer = invited.json()
        assert answer["link"] == f"https://app.example.com/join?email={email.lower().replace('@', '%40')}"
        assert answer["data"]["email"] == email.lower() and answer["data"]["roles"] == ["tenant-member"]
        again = client.post("/api/svc/v1/users/invite", json=body)
        assert again.status_code == 409 and email.lower() in again.json()["message"]
        actions = [
            event["action"] for event in audit_events(client, resource_type="user", resource_id=answer["data"]["id"])
        ]
        assert sorted(actions) == ["create", "invite"]


def test_a_users_roles_and_teams_are_shown_to_the_user_and_tenant_admins_only(
    server: LiveServer, admin: LiveUser, user: LiveUser
) -> None:
    member = register_user(server, admin)
    with server.client(admin) as client:
        team = apply_team(client, unique("perm-team"), [member.email]).json()["data"]
        create_repo(
            client, collaborators=[{"subject": f"team:{team['manifest']['name']}", "role_id": "mlf-project-viewer"}]
        )
    for prefix in ("/api/ml/v1", "/api/svc/v1"):
        for view in ("resources", "permissions", "teams"):
            path = f"{prefix}/x/users/{member.id}/{view}"
            with server.client(member) as own:
                assert own.get(path).status_code == 200
            with server.client(admin) as client:
                assert client.get(path).status_code == 200
            with server.client(user) as outsider:
                hidden = outsider.get(path)
                assert hidden.status_code == 404 and hidden.json()["message"] == f"User '{member.id}' not found"
        with server.client(admin) as client:
            missing = client.get(f"{prefix}/x/users/no-such-user/resources")
            assert missing.status_code == 404 and "no-such-user" in missing.json()["message"]
            assert client.get(f"{prefix}/teams/{team['id']}/permissions").status_code == 200
        with server.client(member) as own:
            assert [p["roleId"] for p in own.get(f"{prefix}/teams/{team['id']}/permissions").json()["data"]] == [
                "mlf-project-viewer"
            ]
        with server.client(user) as outsider:
            assert outsider.get(f"{prefix}/teams/{team['id']}/permissions").status_code == 404
    with server.client() as anonymous:
        assert anonymous.get(f"{API}/x/users/{member.id}/permissions").status_code == 401


def test_password_change_and_secret_store_sync_answer_400_not_a_missing_route(
    server: LiveServer, admin: LiveUser, user: LiveUser
) -> None:
    password = {"loginId": user.email, "oldPassword": "old-secret", "newPassword": "new-secret"}
    with server.client() as anonymous:
        assert anonymous.post(f"{API}/users/change-password", json=password).status_code == 401
    with server.client(admin) as client:
        account = apply_virtual_account(client, unique("sync"), []).json()["data"]
        missing = client.post(f"{API}/virtual-accounts/no-such-account/sync-to-secret-store")
        assert missing.status_code == 404 and "no-such-account" in missing.json()["message"]
    for prefix in ("/api/ml/v1", "/api/svc/v1"):
        with server.client(user) as member:
            refused = member.post(f"{prefix}/users/change-password", json=password)
            assert refused.status_code == 400, refused.text
            assert refused.json()["statusCode"] == 400
            assert "no passwords" in refused.json()["message"] and "create-token" in refused.json()["message"]
            not_admin = member.post(f"{prefix}/virtual-accounts/{account['id']}/sync-to-secret-store")
            assert not_admin.status_code == 403
        with server.client(admin) as client:
            sync = client.post(
                f"{prefix}/virtual-accounts/{account['id']}/sync-to-secret-store", params={"force": "true"}
            )
            assert sync.status_code == 400 and "no external secret store" in sync.json()["message"]
            assert f"/virtual-accounts/{account['id']}/token" in sync.json()["message"]
