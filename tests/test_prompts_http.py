"""Prompts and chat-prompt versions through HTTP, on SQLite and Postgres."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.factories import (
    API,
    SVC,
    apply_model_version,
    apply_prompt_version,
    blob,
    create_repo,
    full_prompt_manifest,
    prompt_manifest,
)
from tests.live import LiveServer, LiveUser


def put_prompt(client: httpx.Client, manifest: dict[str, Any], prefix: str = API) -> httpx.Response:
    return client.put(f"{prefix}/prompt-versions", json={"manifest": manifest})


def prompt_total(client: httpx.Client, ml_repo_id: str) -> int:
    response = client.get(f"{API}/prompts", params={"ml_repo_id": ml_repo_id})
    assert response.status_code == 200, response.text
    return int(response.json()["pagination"]["total"])


@pytest.mark.parametrize("prefix", [API, SVC])
def test_full_manifest_round_trips_unchanged(server: LiveServer, user: LiveUser, prefix: str) -> None:
    with server.client(user) as client:
        repo = create_repo(client)
        repo_name = repo["manifest"]["name"]
        manifest = full_prompt_manifest(repo_name, "support-bot")
        response = put_prompt(client, manifest, prefix)
        assert response.status_code == 200, response.text
        version = response.json()["data"]
        assert version["manifest"] == {**manifest, "version": 1}
        # Numbers come back as the client wrote them (70 stays an int, 7200.0 a float).
        routing, cache = version["manifest"]["routing_config"], version["manifest"]["cache_config"]
        assert type(routing["load_balance_targets"][0]["weight"]) is int and type(cache["ttl"]) is float
        assert type(version["manifest"]["model_configuration"]["parameters"]["top_k"]) is int
        assert version["fqn"] == f"chat_prompt:acme/{repo_name}/support-bot:1"
        assert version["ml_repo_id"] == repo["id"]
        assert version["created_by_subject"]["subjectSlug"] == user.slug
        assert version["tags"] == []
        assert version["fqn"] in version["usage_code_snippet"]
        assert [snippet["language"] for snippet in version["usage_code_snippets"]] == ["python", "shell"]
        assert all(version["fqn"] in snippet["code"] for snippet in version["usage_code_snippets"])
        assert "metrics" not in version and "deployable" not in version

        fetched = client.get(f"{prefix}/prompt-versions/{version['id']}").json()["data"]
        assert fetched["manifest"] == version["manifest"]
        assert json.dumps(fetched["manifest"]) == json.dumps(version["manifest"])
        by_fqn = client.get(f"{prefix}/prompt-versions", params={"fqn": version["fqn"], "limit": 1}).json()["data"]
        assert [item["id"] for item in by_fqn] == [version["id"]]

        prompt = client.get(f"{prefix}/prompts/{version['prompt_id']}").json()["data"]
        assert prompt["type"] == "chat_prompt"
        assert prompt["name"] == "support-bot"
        assert prompt["fqn"] == f"chat_prompt:acme/{repo_name}/support-bot"
        assert prompt["latest_version"]["id"] == version["id"]
        assert prompt["latest_version"]["manifest"] == version["manifest"]


@pytest.mark.parametrize(
    "change",
    [
        {"response_format": {"type": "json_object"}},
        {"routing_config": {"type": "latency-based-routing", "load_balance_targets": [{"target": "a/b"}]}},
        {
            "routing_config": {
                "type": "priority-based-routing",
                "load_balance_targets": [
                    {
                        "target": "a/b",
                        "priority": 0,
                        "sla_cutoff": {"time_per_output_token_ms": 40, "time_to_first_token_ms": 900},
                        "retry_config": {"attempts": 2},
                    },
                    {"target": "c/d", "priority": 1},
                ],
            }
        },
        {"cache_config": {"type": "exact-match", "ttl": 3600.0}},
        {"cache_config": {"type": "exact-match", "namespace": "n", "ttl": 60}},
        {"model_configuration": {"provider": "p", "model": "m", "parameters": {"stop": "END", "top_k": 1.5}}},
        {"logging_config": {"enabled": False}},
        {"variables": {"persona": "x", "topic": "y"}, "version_alias": "v2.0.1"},
    ],
)
def test_manifest_variants_round_trip(server: LiveServer, user: LiveUser, change: dict[str, Any]) -> None:
    with server.client(user) as client:
        repo = create_repo(client)["manifest"]["name"]
        version = apply_prompt_version(client, repo, "variant", **change)
        assert version["manifest"] == {**prompt_manifest(repo, "variant", **change), "version": 1}


@pytest.mark.parametrize(
    ("tool_parameters", "path"),
    [
        ({"type": "object", "properties": {"city": {"type": "strin"}}}, "properties.city.type"),
        ({"type": "object", "required": "city"}, "required"),
        ({"type": "object", "properties": {"q": {"type": "string", "pattern": "["}}}, "properties.q.pattern"),
        ({"type": "object", "properties": {"n": {"minimum": "one"}}}, "properties.n.minimum"),
        (
            {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object", "properties": []},
            "properties",
        ),
    ],
)
def test_invalid_tool_schema_is_refused_with_its_path(
    server: LiveServer, user: LiveUser, tool_parameters: dict[str, Any], path: str
) -> None:
    with server.client(user) as client:
        repo = create_repo(client)
        manifest = prompt_manifest(repo["manifest"]["name"], "bad-schema")
        manifest["tools"][1]["function"]["parameters"] = tool_parameters
        response = put_prompt(client, manifest)
        assert response.status_code == 422, response.text
        body = response.json()
        assert body["statusCode"] == 422
        assert body["message"].startswith(f"manifest.tools.1.function.parameters.{path}: not a valid JSON Schema")
        assert body["details"][0]["loc"] == ["manifest", "tools", 1, "function", "parameters", *path.split(".")]
        assert prompt_total(client, repo["id"]) == 0, "a refused apply leaves nothing behind"


@pytest.mark.parametrize(
    ("depth", "message"),
    [
        (40, "manifest.tools.0.function.parameters: not a valid JSON Schema: nested deeper than 64 levels"),
        (200, "manifest: Value error, nested deeper than 100 levels"),
    ],
)
def test_deeply_nested_tool_schema_is_refused_not_crashed(
    server: LiveServer, user: LiveUser, depth: int, message: str
) -> None:
    schema: dict[str, Any] = {"type": "object"}
    for _ in range(depth):
        schema = {"type": "object", "properties": {"a": schema}}
    with server.client(user) as client:
        repo = create_repo(client)["manifest"]["name"]
        manifest = prompt_manifest(repo, "deep")
        manifest["tools"][0]["function"]["parameters"] = schema
        response = put_prompt(client, manifest)
        assert response.status_code == 422, response.text
        assert response.json()["message"] == message
        manifest["tools"][0]["function"]["parameters"] = {"type": "object", "properties": {"a": {"type": "string"}}}
        assert put_prompt(client, manifest).status_code == 200


def test_invalid_response_format_schema_is_refused(server: LiveServer, user: LiveUser) -> None:
    with server.client(user) as client:
        repo = create_repo(client)["manifest"]["name"]
        response_format = {"type": "json_schema", "json_schema": {"name": "a", "schema": {"type": 12}}}
        response = put_prompt(client, prompt_manifest(repo, "bad-format", response_format=response_format))
        assert response.status_code == 422
        assert response.json()["message"].startswith("manifest.response_format.json_schema.schema.type:")


def test_tool_parameters_must_be_an_object(server: LiveServer, user: LiveUser) -> None:
    with server.client(user) as client:
        repo = create_repo(client)["manifest"]["name"]
        manifest = prompt_manifest(repo, "array-schema")
        manifest["tools"][0]["function"]["parameters"] = ["not", "an", "object"]
        response = put_prompt(client, manifest)
        assert response.status_code == 422
        assert "manifest.tools.0.function.parameters" in response.json()["message"]


def test_undeclared_variables_are_listed(server: LiveServer, user: LiveUser) -> None:
    with server.client(user) as client:
        repo = create_repo(client)
        name = repo["manifest"]["name"]
        messages = [
            {"role": "system", "content": "You are {{persona}} speaking {{ language }}."},
            {"role": "user", "content": [{"type": "text", "text": "About {{topic}} and {{ zeta }}"}]},
        ]
        response = put_prompt(client, prompt_manifest(name, "undeclared", messages=messages))
        assert response.status_code == 422
        body = response.json()
        assert body["message"] == (
            "manifest.messages: undeclared variables: language, zeta; declare them in manifest.variables"
        )
        assert [detail["loc"] for detail in body["details"]] == [
            ["manifest", "messages", 0, "content"],
            ["manifest", "messages", 1, "content", 0, "text"],
        ]
        without_variables = prompt_manifest(name, "no-vars")
        del without_variables["variables"]
        listed = put_prompt(client, without_variables).json()["message"]
        assert "undeclared variables: persona, topic" in listed
        assert prompt_total(client, repo["id"]) == 0

        unused = apply_prompt_version(client, name, "unused", variables={"persona": "p", "topic": "t", "extra": None})
        assert unused["manifest"]["variables"]["extra"] is None
        literal = apply_prompt_version(
            client, name, "literal", messages=[{"role": "user", "content": "Braces {{ }} and {{#if x}} stay text"}]
        )
        assert literal["manifest"]["version"] == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"messages": []}, "manifest.messages"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "manifest.messages.0"),
        ({"messages": [{"content": "x"}]}, "manifest.messages.0"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "manifest.messages.0.tool.tool_call_id"),
        ({"messages": [{"role": "system", "content": blob("a.bin", "application/octet-stream")}]}, "mime_type"),
        ({"messages": [{"role": "user", "content": [{"type": "video", "url": "x"}]}]}, "manifest.messages.0.user"),
        ({"tools": [{"type": "retrieval", "function": {"name": "x"}}]}, "manifest.tools.0.type"),
        ({"model_configuration": {"provider": "p"}}, "manifest.model_configuration.model"),
        ({"mcp_servers": [{"type": "mcp-server-grpc", "url": "x"}]}, "manifest.mcp_servers.0"),
        ({"routing_config": {"type": "random", "load_balance_targets": []}}, "manifest.routing_config"),
        ({"cache_config": {"type": "semantic", "similarity_threshold": 1.5}}, "manifest.cache_config"),
        ({"response_format": {"type": "json_schema"}}, "manifest.response_format.json_schema.json_schema"),
        ({"version_alias": "1.0"}, "manifest.version_alias"),
        ({"type": "chat-prompt"}, "manifest.type"),
        ({"variables": {"persona": 3, "topic": None}}, "manifest.variables.persona"),
        ({"model_configuration": {"provider": "p", "model": "m", "parameters": {"temperature": True}}}, "temperature"),
        ({"model_configuration": {"provider": "p", "model": "m", "parameters": {"max_tokens": -1}}}, "max_tokens"),
    ],
)
def test_invalid_manifests_are_refused_before_storing(
    server: LiveServer, user: LiveUser, change: dict[str, Any], field: str
) -> None:
    with server.client(user) as client:
        repo = create_repo(client)
        response = put_prompt(client, prompt_manifest(repo["manifest"]["name"], "invalid", **change))
        assert response.status_code == 422, response.text
        assert field in response.json()["message"], response.json()["message"]
        assert prompt_total(client, repo["id"]) == 0


def test_versions_numbering_update_and_aliases(server: LiveServer, user: LiveUser) -> None:
    with server.client(user) as client:
        repo = create_repo(client)["manifest"]["name"]
        created = [apply_prompt_version(client, repo, "assistant", description=f"take {n}") for n in range(3)]
        assert [item["manifest"]["version"] for item in created] == [1, 2, 3]
        assert len({item["prompt_id"] for item in created}) == 1
        prompt_id = created[0]["prompt_id"]
        listed = client.get(f"{API}/prompt-versions", params={"prompt_id": prompt_id}).json()
        assert [item["manifest"]["version"] for item in listed["data"]] == [3, 2, 1]
        assert listed["pagination"] == {"total": 3, "offset": 0, "limit": 100}

        update = {**created[1]["manifest"], "description": "edited", "version_alias": "v2-stable"}
        updated = put_prompt(client, update)
        assert updated.status_code == 200, updated.text
        assert updated.json()["data"]["id"] == created[1]["id"]
        assert updated.json()["data"]["manifest"] == update
        missing = put_prompt(client, {**update, "version": 9})
        assert missing.status_code == 404 and "no version 9" in missing.json()["message"]

        clash = put_prompt(client, prompt_manifest(repo, "assistant", version_alias="v2-stable"))
        assert clash.status_code == 409 and "version_alias" in clash.json()["message"]
        assert client.get(f"{API}/prompt-versions", params={"prompt_id": prompt_id}).json()["pagination"]["total"] == 3

        assert client.delete(f"{API}/prompt-versions/{created[2]['id']}").json() == {}
        assert client.get(f"{API}/prompts/{prompt_id}").json()["data"]["latest_version"]["id"] == created[1]["id"]
        again = apply_prompt_version(client, repo, "assistant")
        assert again["manifest"]["version"] == 4, "numbers are never reused"


def test_concurrent_applies_get_consecutive_numbers(server: LiveServer, user: LiveUser) -> None:
    with server.client(user) as client:
        repo = create_repo(client)["manifest"]["name"]

    def apply(index: int) -> int:
        with server.client(user) as worker:
            version = apply_prompt_version(worker, repo, "busy", description=f"writer {index}")
            return int(version["manifest"]["version"])

    with ThreadPoolExecutor(max_workers=8) as pool:
        numbers = sorted(pool.map(apply, range(12)))
    assert numbers == list(range(1, 13))


def test_version_filters(server: LiveServer, user: LiveUser) -> None:
    with server.client(user) as client:
        repo = create_repo(client)
        name = repo["manifest"]["name"]
        a1 = apply_prompt_version(client, name, "alpha")
        a2 = apply_prompt_version(client, name, "alpha", description="second")  # an identical one is a replay
        b1 = apply_prompt_version(client, name, "beta")
        model = apply_model_version(client, name, "alpha")

        def ids(**params: object) -> list[str]:
            response = client.get(f"{API}/prompt-versions", params=params)
            assert response.status_code == 200, response.text
            return [item["id"] for item in response.json()["data"]]

        assert set(ids(ml_repo_id=repo["id"])) == {a1["id"], a2["id"], b1["id"]}
        assert ids(ml_repo_id=repo["id"], name="alpha") == [a2["id"], a1["id"]]
        assert ids(ml_repo_id=repo["id"], name="alpha", version="1.0") == [a1["id"]]
        assert ids(fqn=a2["fqn"]) == [a2["id"]]
        assert ids(fqn=a2["fqn"].replace("chat_prompt:", "model:")) == []
        assert ids(fqn=model["fqn"]) == []
        assert ids(fqn="chat_prompt:other-tenant/x/alpha:1") == []
        assert ids(prompt_id=a1["prompt_id"], ml_repo_id=repo["id"]) == [a2["id"], a1["id"]]
        assert ids(ml_repo_id=repo["id"], limit=1, offset=3) == []

        # The families stay apart: a model version is not a prompt version and vice versa.
        assert client.get(f"{API}/prompt-versions/{model['id']}").status_code == 404
        assert client.get(f"{API}/model-versions/{a1['id']}").status_code == 404
        assert client.get(f"{API}/prompts/{model['model_id']}").status_code == 404
        assert (
            client.put(
                f"{API}/prompt-versions/tags", json={"prompt_version_id": model["id"], "tags": ["x"]}
            ).status_code
            == 404
        )


def test_tags_are_unique_per_prompt_and_force_moves_them(server: LiveServer, user: LiveUser) -> None:
    with server.client(user) as client:
        repo = create_repo(client)["manifest"]["name"]
        v1 = apply_prompt_version(client, repo, "tagged")
        v2 = apply_prompt_version(client, repo, "tagged", description="second")
        other = apply_prompt_version(client, repo, "other")
        url = f"{API}/prompt-versions/tags"
        assert client.put(url, json={"prompt_version_id": v1["id"], "tags": ["prod", "stable"]}).json() == {}
        clash = client.put(url, json={"prompt_version_id": v2["id"], "tags": ["prod"], "force": False})
        assert clash.status_code == 409 and "prod" in clash.json()["message"]
        assert client.put(url, json={"prompt_version_id": other["id"], "tags": ["prod"]}).status_code == 200
        moved = client.put(url, json={"prompt_version_id": v2["id"], "tags": ["prod"], "force": True})
        assert moved.status_code == 200
        assert client.get(f"{API}/prompt-versions/{v1['id']}").json()["data"]["tags"] == ["stable"]
        assert client.get(f"{API}/prompt-versions/{v2['id']}").json()["data"]["tags"] == ["prod"]
        tagged = client.get(f"{API}/prompt-versions", params={"tag": "prod", "prompt_id": v1["prompt_id"]}).json()
        assert [item["id"] for item in tagged["data"]] == [v2["id"]]
        assert client.put(url, json={"prompt_version_id": v1["id"], "tags": [" bad"]}).status_code == 422


def test_prompt_list_filters_empty_prompts_and_delete(server: LiveServer, user: LiveUser) -> None:
    with server.client(user) as client:
        repo = create_repo(client)
        name = repo["manifest"]["name"]
        kept = apply_prompt_version(client, name, "kept")
        emptied = apply_prompt_version(client, name, "emptied")
        apply_model_version(client, name, "kept")
        client.delete(f"{API}/prompt-versions/{emptied['id']}")

        def names(**params: object) -> list[str]:
            response = client.get(f"{API}/prompts", params={"ml_repo_id": repo["id"], **params})
            assert response.status_code == 200, response.text
            return sorted(item["name"] for item in response.json()["data"])

        assert names() == ["emptied", "kept"]
        assert names(include_empty_prompts="true") == ["emptied", "kept"]
        assert names(include_empty_prompts="false") == ["kept"]
        assert names(name="kept") == ["kept"]
        assert names(fqn=f"chat_prompt:acme/{name}/kept") == ["kept"]
        assert names(fqn=f"model:acme/{name}/kept") == []
        empty = client.get(f"{API}/prompts/{emptied['prompt_id']}").json()["data"]
        assert "latest_version" not in empty

        assert client.delete(f"{API}/prompts/{kept['prompt_id']}").json() == {}
        assert client.get(f"{API}/prompts/{kept['prompt_id']}").status_code == 404
        assert client.get(f"{API}/prompt-versions/{kept['id']}").status_code == 404
        assert client.get(f"{API}/models", params={"ml_repo_id": repo["id"]}).json()["pagination"]["total"] == 1
        assert client.delete(f"{API}/prompts/{kept['prompt_id']}").status_code == 404


def test_render_substitutes_variables(server: LiveServer, user: LiveUser) -> None:
    with server.client(user) as client:
        repo = create_repo(client)["manifest"]["name"]
        version = put_prompt(client, full_prompt_manifest(repo, "render-me")).json()["data"]
        url = f"{API}/prompt-versions/{version['id']}/render"
        values = {"language": "French", "subject": "{{persona}} cats", "image": "tabby", "unrelated": "ignored"}
        response = client.post(url, json={"variables": values})
        assert response.status_code == 200, response.text
        rendered = response.json()["data"]
        assert rendered["id"] == version["id"] and rendered["fqn"] == version["fqn"]
        assert rendered["variables"] == {
            "persona": "a helpful assistant",
            "language": "French",
            "subject": "{{persona}} cats",
            "image": "tabby",
            "forbidden": "share secrets",
        }
        messages = rendered["messages"]
        assert messages[0] == {"role": "system", "content": "You are a helpful assistant.", "name": "system-main"}
        assert messages[2]["content"] == "Answer in French."
        assert messages[4]["content"][0] == {"type": "text", "text": "Describe {{persona}} cats."}, "no re-expansion"
        assert messages[4]["content"][2]["image_url"]["url"] == "https://img.example.com/tabby.png"
        assert messages[7]["content"][1] == {"type": "refusal", "refusal": "I will not share secrets"}
        original = version["manifest"]["messages"]
        for index in (1, 3, 5, 6, 8, 9, 10, 11, 12):
            assert messages[index] == original[index], "text without placeholders and blob references stay as they are"
        stored = client.get(f"{API}/prompt-versions/{version['id']}").json()["data"]["manifest"]
        assert stored == version["manifest"], "rendering changes nothing stored"

        missing = client.post(url, json={"variables": {"language": "French"}})
        assert missing.status_code == 422
        body = missing.json()
        assert body["message"] == "variables: missing values for subject"
        assert [detail["loc"] for detail in body["details"]] == [["body", "variables", "subject"]]
        nothing = client.post(url, json={})
        assert nothing.json()["message"] == "variables: missing values for language, subject"
        assert client.post(url, json={"variables": {"language": 3}}).status_code == 422
        assert client.post(f"{API}/prompt-versions/no-such-id/render", json={}).status_code == 404


def test_render_is_documented_in_openapi(server: LiveServer) -> None:
    with server.client() as client:
        schema = client.get("/openapi.json").json()
    operation = schema["paths"]["/api/ml/v1/prompt-versions/{id}/render"]["post"]
    assert "{{name}}" in operation["description"]
    assert "422" in operation["responses"]
    assert "/api/ml/v1/prompt-versions/tags" in schema["paths"]
    assert set(schema["paths"]["/api/ml/v1/prompts/{id}"]) == {"get", "delete"}


def test_permissions_on_prompts(server: LiveServer, user: LiveUser) -> None:
    viewer = server.create_user(prefix="viewer")
    outsider = server.create_user(prefix="outsider")
    with server.client(user) as owner:
        repo = create_repo(owner, collaborators=[{"subject": f"user:{viewer.email}", "role_id": "mlf-project-viewer"}])
        name = repo["manifest"]["name"]
        version = apply_prompt_version(owner, name, "guarded")
    render = f"{API}/prompt-versions/{version['id']}/render"
    with server.client(viewer) as client:
        assert client.get(f"{API}/prompt-versions/{version['id']}").status_code == 200
        assert client.post(render, json={"variables": {"topic": "x"}}).status_code == 200
        assert put_prompt(client, prompt_manifest(name, "guarded")).status_code == 403
        tags = client.put(f"{API}/prompt-versions/tags", json={"prompt_version_id": version["id"], "tags": ["t"]})
        assert tags.status_code == 403
        assert client.delete(f"{API}/prompt-versions/{version['id']}").status_code == 403
        assert client.delete(f"{API}/prompts/{version['prompt_id']}").status_code == 403
    with server.client(outsider) as client:
        assert client.get(f"{API}/prompt-versions/{version['id']}").status_code == 404
        assert client.post(render, json={"variables": {"topic": "x"}}).status_code == 404
        assert client.get(f"{API}/prompts/{version['prompt_id']}").status_code == 404
        assert client.get(f"{API}/prompt-versions", params={"fqn": version["fqn"]}).json()["data"] == []
        assert client.get(f"{API}/prompts").json()["pagination"]["total"] == 0
        assert put_prompt(client, prompt_manifest(name, "intruder")).status_code == 404
    with server.client() as anonymous:
        assert anonymous.get(f"{API}/prompts").status_code == 401
        assert anonymous.post(render, json={}).status_code == 401


def test_unique_names_do_not_leak_between_repos(server: LiveServer, user: LiveUser) -> None:
    with server.client(user) as client:
        first = create_repo(client)
        second = create_repo(client)
        one = apply_prompt_version(client, first["manifest"]["name"], "shared-name")
        two = apply_prompt_version(client, second["manifest"]["name"], "shared-name")
        assert one["prompt_id"] != two["prompt_id"]
        assert two["manifest"]["version"] == 1
        by_name = client.get(f"{API}/prompt-versions", params={"name": "shared-name", "ml_repo_id": second["id"]})
        assert [item["id"] for item in by_name.json()["data"]] == [two["id"]]
