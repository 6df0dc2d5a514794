"""Workspaces and their members through HTTP, on SQLite and Postgres (NeMo-style entity API)."""

from __future__ import annotations

import pytest

from tests.factories import (
    API,
    WORKSPACES,
    create_model_entity,
    create_workspace,
    models_path,
    unique_workspace,
)
from tests.live import LiveServer, LiveUser


def test_workspace_create_get_update_delete(server: LiveServer, user: LiveUser) -> None:
    name = unique_workspace()
    with server.client(user) as client:
        created = client.post(WORKSPACES, json={"name": name, "description": "NLP team"})
        assert created.status_code == 201, created.text
        workspace = created.json()
        assert workspace["name"] == name and workspace["description"] == "NLP team"
        assert workspace["id"] and workspace["created_at"].endswith("Z")
        assert workspace["created_by"]["subjectSlug"] == user.slug

        assert client.get(f"{WORKSPACES}/{name}").json() == workspace

        duplicate = client.post(WORKSPACES, json={"name": name})
        assert duplicate.status_code == 409
        assert name in duplicate.json()["detail"]

        put = client.put(f"{WORKSPACES}/{name}", json={"description": "renamed team"})
        assert put.status_code == 200 and put.json()["description"] == "renamed team"
        assert put.json()["updated_at"] >= workspace["updated_at"]
        patch = client.patch(f"{WORKSPACES}/{name}", json={"description": "patched"})
        assert patch.status_code == 200 and patch.json()["description"] == "patched"
        assert client.get(f"{WORKSPACES}/{name}").json()["description"] == "patched"

        deleted = client.delete(f"{WORKSPACES}/{name}")
        assert deleted.status_code == 204 and deleted.content == b""
        missing = client.get(f"{WORKSPACES}/{name}")
        assert missing.status_code == 404
        assert missing.json() == {"detail": f"Workspace '{name}' not found"}
        assert client.delete(f"{WORKSPACES}/{name}").status_code == 404


@pytest.mark.parametrize(
    "name",
    ["a", "1team", "-team", "team-", "te--am", "Team", "team_a", "team.a", "t" * 64, ""],
)
def test_workspace_name_rules(server: LiveServer, user: LiveUser, name: str) -> None:
    with server.client(user) as client:
        response = client.post(WORKSPACES, json={"name": name})
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail[0]["loc"] == ["body", "name"]
    assert "lowercase letter" in detail[0]["msg"]


def test_workspace_name_limits_accepted(server: LiveServer, user: LiveUser) -> None:
    shortest = "q7"  # only this test creates two-character names
    longest = ("z" + user.id.replace("-", "") * 2)[:63]
    with server.client(user) as client:
        for name in (shortest, longest, "a1-b2-c3"):
            response = client.post(WORKSPACES, json={"name": name})
            assert response.status_code == 201, response.text
            assert response.json()["name"] == name


def test_workspace_body_is_typed(server: LiveServer, user: LiveUser) -> None:
    with server.client(user) as client:
        unknown = client.post(WORKSPACES, json={"name": unique_workspace(), "descripton": "typo"})
        assert unknown.status_code == 422
        assert unknown.json()["detail"][0]["loc"] == ["body", "descripton"]
        assert unknown.json()["detail"][0]["type"] == "extra_forbidden"
        too_long = client.post(WORKSPACES, json={"name": unique_workspace(), "description": "d" * 1001})
        assert too_long.status_code == 422
        assert too_long.json()["detail"][0]["loc"] == ["body", "description"]
        missing = client.post(WORKSPACES, json={})
        assert missing.status_code == 422 and missing.json()["detail"][0]["type"] == "missing"


def test_workspace_list_pages_and_sorts(server: LiveServer, user: LiveUser) -> None:
    with server.client(user) as client:
        names = [create_workspace(client, f"b{index}-" + unique_workspace())["name"] for index in range(3)]
        listed = client.get(WORKSPACES, params={"page_size": 1000}).json()
        mine = [item["name"] for item in listed["data"] if item["name"] in names]
        assert mine == list(reversed(names))  # default sort: -created_at
        assert listed["object"] == "list" and listed["sort"] == "-created_at" and listed["filter"] == {}
        assert "default" in [item["name"] for item in listed["data"]]

        total = listed["pagination"]["total_results"]
        assert total == len(listed["data"])
        page = client.get(WORKSPACES, params={"page": 2, "page_size": 1, "sort": "name"}).json()
        assert page["pagination"] == {
            "page": 2,
            "page_size": 1,
            "current_page_size": 1,
            "total_pages": total,
            "total_results": total,
        }
        by_name = [item["name"] for item in client.get(WORKSPACES, params={"sort": "name"}).json()["data"]]
        assert by_name == sorted(by_name)
        by_name_desc = [item["name"] for item in client.get(WORKSPACES, params={"sort": "-name"}).json()["data"]]
        assert by_name_desc == sorted(by_name_desc, reverse=True)
        beyond = client.get(WORKSPACES, params={"page": total + 1, "page_size": 1}).json()
        assert beyond["data"] == [] and beyond["pagination"]["current_page_size"] == 0

        for params, loc in (
            ({"page": 0}, ["query", "page"]),
            ({"page_size": 0}, ["query", "page_size"]),
            ({"page_size": 1001}, ["query", "page_size"]),
            ({"sort": "size"}, ["query", "sort"]),
        ):
            response = client.get(WORKSPACES, params=params)
            assert response.status_code == 422, params
            assert response.json()["detail"][0]["loc"] == loc


def test_default_workspace_is_built_in_and_open_to_every_user(
    server: LiveServer, user: LiveUser, admin: LiveUser
) -> None:
    with server.client(user) as client:
        default = client.get(f"{WORKSPACES}/default")
        assert default.status_code == 200 and default.json()["created_by"] is None
        model = create_model_entity(client, "default")
        assert model["workspace"] == "default"
        assert client.put(f"{WORKSPACES}/default", json={"description": "mine"}).status_code == 403
        assert client.delete(f"{WORKSPACES}/default").status_code == 403
        assert client.delete(f"{models_path('default')}/{model['name']}").status_code == 204
    with server.client(admin) as client:
        refused = client.delete(f"{WORKSPACES}/default")
        assert refused.status_code == 409 and "built in" in refused.json()["detail"]


def test_workspace_cannot_be_deleted_while_it_holds_models(server: LiveServer, user: LiveUser) -> None:
    with server.client(user) as client:
        name = create_workspace(client)["name"]
        model = create_model_entity(client, name)
        refused = client.delete(f"{WORKSPACES}/{name}")
        assert refused.status_code == 409
        assert "holds models" in refused.json()["detail"]
        assert client.get(f"{models_path(name)}/{model['name']}").status_code == 200
        assert client.delete(f"{models_path(name)}/{model['name']}").status_code == 204
        assert client.delete(f"{WORKSPACES}/{name}").status_code == 204


def test_unreadable_workspace_answers_404_and_roles_apply(server: LiveServer, user: LiveUser, admin: LiveUser) -> None:
    other = server.create_user()
    with server.client(user) as owner:
        name = create_workspace(owner)["name"]
        model = create_model_entity(owner, name)
        listed = owner.get(f"{WORKSPACES}/{name}/members")
        assert listed.status_code == 200 and listed.json() == []

    with server.client(other) as client:
        hidden = client.get(f"{WORKSPACES}/{name}")
        assert hidden.status_code == 404 and hidden.json() == {"detail": f"Workspace '{name}' not found"}
        assert name not in [item["name"] for item in client.get(WORKSPACES, params={"page_size": 1000}).json()["data"]]
        assert client.get(f"{models_path(name)}/{model['name']}").status_code == 404
        assert client.get(models_path(name)).status_code == 404
        assert client.post(models_path(name), json={"name": "sneaky"}).status_code == 404
        assert client.delete(f"{WORKSPACES}/{name}").status_code == 404

    with server.client(admin) as client:  # tenant admins administer every workspace
        assert client.get(f"{WORKSPACES}/{name}").status_code == 200
        assert client.get(f"{models_path(name)}/{model['name']}").status_code == 200

    with server.client(user) as owner:
        granted = owner.post(f"{WORKSPACES}/{name}/members", json={"principal": other.email, "roles": ["Viewer"]})
        assert granted.status_code == 201, granted.text
        assert granted.json()["principal"] == f"user:{other.email}" and granted.json()["roles"] == ["Viewer"]

    with server.client(other) as viewer:
        assert viewer.get(f"{WORKSPACES}/{name}").status_code == 200
        assert viewer.get(f"{models_path(name)}/{model['name']}").status_code == 200
        assert viewer.get(models_path(name)).json()["pagination"]["total_results"] == 1
        write = viewer.post(models_path(name), json={"name": "viewer-model"})
        assert write.status_code == 403
        assert "editor role" in write.json()["detail"] and name in write.json()["detail"]
        assert viewer.patch(f"{models_path(name)}/{model['name']}", json={"description": "x"}).status_code == 403
        assert viewer.delete(f"{models_path(name)}/{model['name']}").status_code == 403
        assert viewer.put(f"{WORKSPACES}/{name}", json={"description": "x"}).status_code == 403

    with server.client(user) as owner:
        member_path = f"{WORKSPACES}/{name}/members/user:{other.email}"
        promoted = owner.put(member_path, json={"roles": ["Editor"]})
        assert promoted.status_code == 200 and promoted.json()["roles"] == ["Editor"]
        missing_member = owner.put(f"{WORKSPACES}/{name}/members/user:nobody@example.com", json={"roles": ["Editor"]})
        assert missing_member.status_code == 404
        bad_role = owner.post(f"{WORKSPACES}/{name}/members", json={"principal": other.email, "roles": ["Owner"]})
        assert bad_role.status_code == 422 and bad_role.json()["detail"][0]["loc"][:2] == ["body", "roles"]

    with server.client(other) as editor:
        created = editor.post(models_path(name), json={"name": "editor-model"})
        assert created.status_code == 201
        assert created.json()["created_by"]["subjectSlug"] == other.slug
        assert editor.delete(f"{models_path(name)}/editor-model").status_code == 204
        assert editor.delete(f"{WORKSPACES}/{name}").status_code == 403  # deleting a workspace needs admin
        members = editor.get(f"{WORKSPACES}/{name}/members").json()
        assert members == [
            {"principal": f"user:{other.email}", "roles": ["Editor"], "granted_at": members[0]["granted_at"]}
        ]
        assert (
            editor.post(f"{WORKSPACES}/{name}/members", json={"principal": "*", "roles": ["Admin"]}).status_code == 403
        )

    with server.client(user) as owner:
        assert owner.delete(f"{WORKSPACES}/{name}/members/user:{other.email}").status_code == 204
        assert owner.delete(f"{WORKSPACES}/{name}/members/user:{other.email}").status_code == 404

    with server.client(other) as client:
        assert client.get(f"{WORKSPACES}/{name}").status_code == 404


def test_every_caller_member_opens_a_workspace(server: LiveServer, user: LiveUser) -> None:
    other = server.create_user()
    with server.client(user) as owner:
        name = create_workspace(owner)["name"]
        assert (
            owner.post(f"{WORKSPACES}/{name}/members", json={"principal": "*", "roles": ["Viewer"]}).status_code == 201
        )
    with server.client(other) as client:
        assert client.get(f"{WORKSPACES}/{name}").status_code == 200
        assert client.post(models_path(name), json={"name": "m"}).status_code == 403


def test_entity_api_errors_are_fastapi_native_and_ml_api_errors_unchanged(server: LiveServer, user: LiveUser) -> None:
    with server.client() as anonymous:
        missing_token = anonymous.get(WORKSPACES)
        assert missing_token.status_code == 401
        assert set(missing_token.json()) == {"detail"} and "bearer" in missing_token.json()["detail"].lower()
        bad_token = anonymous.get(models_path("default"), headers={"Authorization": "Bearer not-a-token"})
        assert bad_token.status_code == 401 and set(bad_token.json()) == {"detail"}
        ml_api = anonymous.get(f"{API}/models")
        assert ml_api.status_code == 401 and ml_api.json()["statusCode"] == 401
    with server.client(user) as client:
        unknown_path = client.get("/apis/entities/v2/nothing-here")
        assert unknown_path.status_code == 404 and unknown_path.json() == {"detail": "Not Found"}
        bad_json = client.post(WORKSPACES, content=b"{not json", headers={"Content-Type": "application/json"})
        assert bad_json.status_code == 422 and bad_json.json()["detail"][0]["type"] == "json_invalid"
        ml_missing = client.get(f"{API}/ml-repos/999999999")
        assert ml_missing.status_code == 404 and ml_missing.json()["statusCode"] == 404
        ml_invalid = client.put(f"{API}/ml-repos", json={"manifest": {"type": "ml-repo", "name": "-bad"}})
        assert ml_invalid.status_code == 422 and ml_invalid.json()["statusCode"] == 422


def test_openapi_document_describes_the_entity_api(server: LiveServer) -> None:
    with server.client() as client:
        document = client.get("/openapi.json").json()
    paths = document["paths"]
    assert set(paths["/apis/entities/v2/workspaces"]) == {"get", "post"}
    assert set(paths["/apis/entities/v2/workspaces/{name}"]) == {"get", "put", "delete"}
    assert set(paths["/apis/models/v2/workspaces/{workspace}/models"]) == {"get", "post"}
    assert set(paths["/apis/models/v2/workspaces/{workspace}/models/{name}"]) == {"get", "patch", "delete"}
    create = paths["/apis/models/v2/workspaces/{workspace}/models"]["post"]
    assert "201" in create["responses"] and "422" in create["responses"]
    assert not any(path.startswith("/api/ml/v1/apis") or path.startswith("/api/svc/v1/apis") for path in paths)


def test_admin_member_administers_the_workspace(server: LiveServer, user: LiveUser) -> None:
    other = server.create_user()
    with server.client(user) as owner:
        name = create_workspace(owner)["name"]
        granted = owner.post(
            f"{WORKSPACES}/{name}/members", json={"principal": f"user:{other.slug}", "roles": ["Viewer", "Admin"]}
        )
        assert granted.status_code == 201 and granted.json()["roles"] == ["Admin", "Viewer"]
    with server.client(other) as admin_member:
        assert admin_member.put(f"{WORKSPACES}/{name}", json={"description": "by admin"}).status_code == 200
        assert (
            admin_member.post(f"{WORKSPACES}/{name}/members", json={"principal": "*", "roles": ["Viewer"]}).status_code
            == 201
        )
        assert {member["principal"] for member in admin_member.get(f"{WORKSPACES}/{name}/members").json()} == {
            "*",
            f"user:{other.slug}",
        }
        assert admin_member.delete(f"{WORKSPACES}/{name}").status_code == 204
