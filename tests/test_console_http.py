"""The web console's HTML routes over plain HTTP: sign-in and its cookie, CSRF, roles as the API decides
them, HTML error pages, and each page showing what the registry holds."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from tests.console_helpers import ConsoleWorld, build_world, csrf_of, signed_in
from tests.factories import API, create_model_entity, create_workspace
from tests.live import LiveServer, LiveUser


@pytest.fixture
def world(server: LiveServer) -> ConsoleWorld:
    return build_world(server)


def version_url(world: ConsoleWorld) -> str:
    return f"/ui/model-versions/{world.model_version['id']}"


def api_version(server: LiveServer, world: ConsoleWorld) -> dict[str, object]:
    with server.client(world.owner) as client:
        data: dict[str, object] = client.get(f"{API}/model-versions/{world.model_version['id']}").json()["data"]
        return data


def test_root_redirects_browsers_and_keeps_its_answer_for_api_clients(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url) as client:
        browser = client.get("/", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
        assert browser.status_code == 303 and browser.headers["location"] == "/ui/"
        api = client.get("/", headers={"Accept": "application/json"})
        assert api.status_code == 404 and api.json()["statusCode"] == 404
        assert client.get("/").status_code == 404
        # Without a session every page sends the visitor to sign in, and back afterwards.
        page = client.get("/ui/repos/1/models")
        assert page.status_code == 303
        assert page.headers["location"] == "/ui/login?next=%2Fui%2Frepos%2F1%2Fmodels"


def test_sign_in_sets_a_strict_http_only_cookie_and_sign_out_clears_it(server: LiveServer, user: LiveUser) -> None:
    with httpx.Client(base_url=server.url) as client:
        form = client.get("/ui/login")
        assert form.headers["content-type"].startswith("text/html")
        refused = client.post("/ui/login", data={"csrf_token": "forged", "token": user.token})
        assert refused.status_code == 403 and "CSRF" in refused.text
        assert refused.headers["content-type"].startswith("text/html")
        wrong = client.post("/ui/login", data={"csrf_token": csrf_of(form.text), "token": "not-a-token"})
        assert wrong.status_code == 401 and "Sign in" in wrong.text
        assert "mlregistry_console=" not in wrong.headers.get("set-cookie", "")

        form = client.get("/ui/login", params={"next": "/ui/workspaces"})
        response = client.post(
            "/ui/login", data={"csrf_token": csrf_of(form.text), "token": user.token, "next": "/ui/workspaces"}
        )
        assert response.status_code == 303 and response.headers["location"] == "/ui/workspaces"
        cookie = next(v for v in response.headers.get_list("set-cookie") if v.startswith("mlregistry_console="))
        flags = {part.strip().lower() for part in cookie.split(";")[1:]}
        assert {"httponly", "samesite=strict", "path=/ui"} <= flags
        assert user.token not in cookie.split(";")[0] or "." in cookie  # signed: the value carries a MAC

        home = client.get("/ui/")
        assert home.status_code == 200 and user.slug.title() in home.text
        # A tampered cookie is no session.
        value = client.cookies["mlregistry_console"]
        # The MAC is hex at the end of the value; change its last digit (to another digit, always).
        tampered = value[:-1] + ("0" if value[-1] != "0" else "1")
        with httpx.Client(base_url=server.url, cookies={"mlregistry_console": tampered}) as forger:
            assert forger.get("/ui/").status_code == 303

        out = client.post("/ui/logout", data={"csrf_token": csrf_of(home.text)})
        assert out.status_code == 303
        cleared = next(v for v in out.headers.get_list("set-cookie") if v.startswith("mlregistry_console="))
        assert "max-age=0" in cleared.lower()
        assert client.get("/ui/").status_code == 303


def test_a_next_target_outside_the_console_is_ignored(server: LiveServer, user: LiveUser) -> None:
    with httpx.Client(base_url=server.url) as client:
        form = client.get("/ui/login")
        response = client.post(
            "/ui/login", data={"csrf_token": csrf_of(form.text), "token": user.token, "next": "//evil.example/"}
        )
        assert response.headers["location"] == "/ui/"


def test_pages_show_the_repo_its_model_version_files_and_download(server: LiveServer, world: ConsoleWorld) -> None:
    with signed_in(server, world.viewer) as client:
        listed = client.get("/ui/", params={"q": world.repo_name[3:].upper()})
        assert world.repo_name in listed.text
        assert world.repo_name not in client.get("/ui/", params={"q": "no-such-repo-name"}).text
        repo_page = client.get(f"/ui/repos/{world.repo['id']}/models")
        assert "fraud-clf" in repo_page.text and repo_page.headers["content-security-policy"].startswith("default-src")
        collaborators = client.get(f"/ui/repos/{world.repo['id']}/collaborators").text
        assert world.editor.email in collaborators and "editor" in collaborators
        model_id = world.model_version["model_id"]
        versions = client.get(f"/ui/models/{model_id}").text
        assert f"/ui/model-versions/{world.model_version['id']}" in versions and "sklearn" in versions
        assert "loss = 0.3" in versions  # the run's metric at the version's step

        page = client.get(version_url(world)).text
        assert world.runs[1]["info"]["run_id"] in page and "get_model_version_by_fqn" in page
        assert "config.json" in page and "weights/" in page
        inner = client.get(version_url(world), params={"path": "weights"}).text
        digest = re.search(r'<code class="hash">([0-9a-f]{64})</code>', inner)
        assert digest is not None
        download = client.get(f"{version_url(world)}/download", params={"path": "weights/model.bin"})
        assert download.status_code == 303
        with httpx.Client(timeout=60) as anonymous:
            body = anonymous.get(download.headers["location"]).content
        assert body == world.files["weights/model.bin"]
        # The viewer sees no edit forms; the API's rule refuses the POST anyway.
        assert "Save tags" not in page


def test_an_editor_sets_tags_alias_and_description_and_a_viewer_is_refused(
    server: LiveServer, world: ConsoleWorld
) -> None:
    with signed_in(server, world.editor) as client:
        page = client.get(version_url(world))
        assert "Save tags" in page.text and "Delete this version" not in page.text  # editors do not delete
        csrf = csrf_of(page.text)
        missing = client.post(f"{version_url(world)}/tags", data={"tags": "prod"})
        assert missing.status_code == 403 and missing.headers["content-type"].startswith("text/html")
        assert api_version(server, world)["tags"] == []
        saved = client.post(f"{version_url(world)}/tags", data={"csrf_token": csrf, "tags": "prod, champion"})
        assert saved.status_code == 303
        details = client.post(
            f"{version_url(world)}/details",
            data={"csrf_token": csrf, "description": "Nightly retrain", "version_alias": "v1-stable"},
        )
        assert details.status_code == 303, details.text
        bad_alias = client.post(
            f"{version_url(world)}/details", data={"csrf_token": csrf, "description": "", "version_alias": "nope"}
        )
        assert bad_alias.status_code == 422 and "version_alias" in bad_alias.text
    stored = api_version(server, world)
    assert stored["tags"] == ["prod", "champion"] and stored["version_alias"] == "v1-stable"
    assert stored["manifest"]["description"] == "Nightly retrain"  # type: ignore[index]

    with signed_in(server, world.viewer) as client:
        csrf = csrf_of(client.get(version_url(world)).text)
        refused = client.post(f"{version_url(world)}/tags", data={"csrf_token": csrf, "tags": ""})
        assert refused.status_code == 403 and "editor role" in refused.text
        assert refused.headers["content-type"].startswith("text/html")
    assert api_version(server, world)["tags"] == ["prod", "champion"]


def test_the_owner_deletes_after_confirming_the_fqn(server: LiveServer, world: ConsoleWorld) -> None:
    fqn = world.model_version["fqn"]
    with signed_in(server, world.owner) as client:
        confirm = client.get(f"{version_url(world)}/delete")
        assert fqn in confirm.text
        csrf = csrf_of(confirm.text)
        wrong = client.post(f"{version_url(world)}/delete", data={"csrf_token": csrf, "confirm_fqn": "something"})
        assert wrong.status_code == 422
        done = client.post(f"{version_url(world)}/delete", data={"csrf_token": csrf, "confirm_fqn": fqn})
        assert done.status_code == 303 and done.headers["location"] == f"/ui/models/{world.model_version['model_id']}"
        gone = client.get(version_url(world))
        assert gone.status_code == 404 and gone.headers["content-type"].startswith("text/html")
    with server.client(world.owner) as api:
        assert api.get(f"{API}/model-versions/{world.model_version['id']}").status_code == 404


def test_a_user_without_a_role_sees_no_trace_of_the_repo(server: LiveServer, world: ConsoleWorld) -> None:
    secrets = (world.repo_name, "Fraud models", "fraud-clf", "support-bot", "baseline")
    with signed_in(server, world.outsider) as client:
        searched = client.get("/ui/", params={"q": world.repo_name}).text
        assert f"/ui/repos/{world.repo['id']}/" not in searched and "Fraud models" not in searched
        assert "No ML repo you can see" in searched
        pages = [
            client.get("/ui/"),
            client.get(f"/ui/repos/{world.repo['id']}/models"),
            client.get(f"/ui/models/{world.model_version['model_id']}"),
            client.get(version_url(world)),
            client.get(f"/ui/prompt-versions/{world.prompt_version['id']}"),
            client.get(f"/ui/runs/{world.runs[0]['info']['run_id']}"),
            client.get(f"{version_url(world)}/download", params={"path": "config.json"}),
        ]
        assert [page.status_code for page in pages] == [200, 404, 404, 404, 404, 404, 404]
        for page in pages:
            assert page.headers["content-type"].startswith("text/html")
            assert not any(secret in page.text for secret in secrets)


def test_runs_table_filters_sorts_and_compares_with_chart_data(server: LiveServer, world: ConsoleWorld) -> None:
    ids = [run["info"]["run_id"] for run in world.runs]
    with signed_in(server, world.viewer) as client:
        table = client.get(f"/ui/repos/{world.repo['id']}/runs", params={"columns": "params.lr,metrics.loss"}).text
        assert "baseline" in table and "tuned" in table and "params.lr" in table
        filtered = client.get(f"/ui/repos/{world.repo['id']}/runs", params={"filter": "params.lr = '0.01'"}).text
        assert "tuned" in filtered and "baseline" not in filtered
        ordered = client.get(f"/ui/repos/{world.repo['id']}/runs", params={"order": "metrics.loss ASC"}).text
        assert ordered.index("tuned") < ordered.index("baseline")
        malformed = client.get(f"/ui/repos/{world.repo['id']}/runs", params={"filter": "metrics.loss <<< 1"})
        assert malformed.status_code == 422 and malformed.headers["content-type"].startswith("text/html")

        compare = client.get("/ui/runs/compare", params=[("ids", ids[0]), ("ids", ids[1])])
        assert compare.status_code == 200
        data = re.search(r'<script type="application/json" id="chart-data">(.*?)</script>', compare.text, re.S)
        assert data is not None
        [loss] = json.loads(data.group(1))
        assert loss["key"] == "loss" and loss["steps"] == [0, 1, 2, 3]
        assert [series["values"] for series in loss["series"]] == [[0.9, 0.7, 0.6, None], [0.8, 0.5, 0.3, 0.2]]
        assert 'class="differs"' in compare.text  # lr differs between the two


def test_prompt_page_renders_chat_and_a_preview_with_typed_values(server: LiveServer, world: ConsoleWorld) -> None:
    url = f"/ui/prompt-versions/{world.prompt_version['id']}"
    with signed_in(server, world.viewer) as client:
        page = client.get(url).text
        assert "Tell me about {{topic}}." in page and "get_weather" in page and "gpt-4o" in page
        preview = client.get(url, params={"preview": "1", "var.topic": "volcanoes"}).text
        assert "Tell me about volcanoes." in preview and "You are a helpful assistant." in preview
        missing = client.get(url, params={"preview": "1"})
        assert missing.status_code == 422 and "topic" in missing.text


def test_workspaces_and_the_audit_trail_for_admins(server: LiveServer, admin: LiveUser, user: LiveUser) -> None:
    with server.client(admin) as api:
        workspace = create_workspace(api)
        model = create_model_entity(api, workspace["name"], description="Entity model")
    with signed_in(server, admin) as client:
        assert workspace["name"] in client.get("/ui/workspaces").text
        detail = client.get(f"/ui/workspaces/{workspace['name']}").text
        assert model["name"] in detail
        entity = client.get(f"/ui/workspaces/{workspace['name']}/models/{model['name']}").text
        assert "Entity model" in entity
        trail = client.get("/ui/audit", params={"resource_type": "workspace", "subject": admin.slug}).text
        assert workspace["name"] in trail or "workspace" in trail
        assert client.get("/ui/audit", params={"since": "yesterday"}).status_code == 422
    with signed_in(server, user) as client:
        refused = client.get("/ui/audit")
        assert refused.status_code == 403 and refused.headers["content-type"].startswith("text/html")
        assert "Audit trail" not in client.get("/ui/").text  # not offered in the navigation either
        assert client.get("/ui/no/such/page").status_code == 404
