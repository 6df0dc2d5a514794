"""The official truefoundry-sdk 0.6.0 against a live server: prompts and prompt versions."""

from __future__ import annotations

from typing import Any

import pytest
import truefoundry_sdk as tfs
from truefoundry_sdk import TrueFoundry
from truefoundry_sdk.core.api_error import ApiError
from truefoundry_sdk.errors import NotFoundError

from tests.factories import API, full_prompt_manifest, unique
from tests.live import LiveServer, LiveUser

NO_RETRY = {"max_retries": 0}


def sdk(server: LiveServer, user: LiveUser) -> TrueFoundry:
    return TrueFoundry(api_key=user.token, base_url=server.url)


def make_repo(client: TrueFoundry) -> tfs.MlRepo:
    manifest = tfs.MlRepoManifest(name=unique("sdk-prompts"), storage_integration_fqn="default")
    return client.ml_repos.create_or_update(manifest=manifest).data


def weather_prompt(repo: str, **fields: Any) -> tfs.ChatPromptManifest:
    """System and user messages, variables, a model configuration and two function tools."""
    values: dict[str, Any] = {
        "name": "weather-assistant",
        "ml_repo": repo,
        "metadata": {"owner": "support"},
        "messages": [
            tfs.SystemMessage(content="You are {{persona}}. Answer in {{language}}."),
            tfs.UserMessage(content="What is the weather in {{city}}?"),
        ],
        "variables": {"persona": "a weather bot", "language": "English", "city": None},
        "model_configuration": tfs.ModelConfiguration(
            provider="openai-main",
            model="gpt-4o-mini",
            parameters=tfs.Parameters(max_tokens=200, temperature=0.3, top_p=0.9, stop=["\n\n"]),
            extra_parameters={"seed": 42},
        ),
        "tools": [
            tfs.ToolSchema(
                function=tfs.FunctionSchema(
                    name="get_weather",
                    description="Weather for a city",
                    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
                )
            ),
            tfs.ToolSchema(
                function=tfs.FunctionSchema(
                    name="get_forecast",
                    parameters={
                        "type": "object",
                        "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1}},
                    },
                    strict=True,
                )
            ),
        ],
    }
    values.update(fields)
    return tfs.ChatPromptManifest(**values)


def test_done_when_scenario_through_sdk(server: LiveServer, user: LiveUser) -> None:
    client = sdk(server, user)
    repo = make_repo(client)
    name = repo.manifest.name
    applied = [
        client.prompts.create_or_update(manifest=weather_prompt(name, description="first")).data,
        client.prompts.create_or_update(manifest=weather_prompt(name, description="second")).data,
        client.prompts.create_or_update(manifest=weather_prompt(name, description="third", version_alias="v3")).data,
    ]
    assert [version.manifest.version for version in applied] == [1, 2, 3]
    assert [version.fqn for version in applied] == [f"chat_prompt:acme/{name}/weather-assistant:{n}" for n in (1, 2, 3)]
    assert len({version.prompt_id for version in applied}) == 1
    first = applied[0]
    assert isinstance(first.manifest.messages[0], tfs.SystemMessage)
    assert isinstance(first.manifest.messages[1], tfs.UserMessage)
    assert [tool.function.name for tool in first.manifest.tools or []] == ["get_weather", "get_forecast"]
    assert first.manifest.model_configuration is not None
    assert first.manifest.model_configuration.parameters is not None
    assert first.manifest.model_configuration.parameters.max_tokens == 200
    assert first.created_by_subject.subject_slug == user.slug
    assert first.usage_code_snippets and first.usage_code_snippets[0].language == "python"

    prompt_id = first.prompt_id
    listed = list(client.prompt_versions.list(prompt_id=prompt_id, limit=2))
    assert [version.manifest.version for version in listed] == [3, 2, 1]
    assert [version.manifest.description for version in listed] == ["third", "second", "first"]
    prompts = list(client.prompts.list(ml_repo_id=repo.id, include_empty_prompts=False))
    assert [prompt.id for prompt in prompts] == [prompt_id]
    assert prompts[0].type == "chat_prompt"
    assert prompts[0].latest_version is not None and prompts[0].latest_version.id == applied[2].id

    assert client.prompt_versions.get_by_fqn(applied[1].fqn).data.id == applied[1].id
    prompt = client.prompts.get_by_fqn(f"chat_prompt:acme/{name}/weather-assistant").data
    assert prompt.id == prompt_id
    assert client.prompts.get(prompt_id).data.fqn == prompt.fqn
    assert client.prompt_versions.get(applied[2].id).data.manifest.version_alias == "v3"

    client.prompt_versions.apply_tags(prompt_version_id=applied[1].id, tags=["prod", "reviewed"])
    with pytest.raises(ApiError) as taken:
        client.prompt_versions.apply_tags(
            prompt_version_id=applied[2].id, tags=["prod"], force=False, request_options=NO_RETRY
        )
    assert taken.value.status_code == 409
    client.prompt_versions.apply_tags(prompt_version_id=applied[2].id, tags=["prod"], force=True)
    assert [version.id for version in client.prompt_versions.list(prompt_id=prompt_id, tag="prod")] == [applied[2].id]
    assert client.prompt_versions.get(applied[1].id).data.tags == ["reviewed"]

    with server.client(user) as http:
        rendered = http.post(
            f"{API}/prompt-versions/{applied[2].id}/render", json={"variables": {"city": "Paris"}}
        ).json()["data"]
    assert rendered["messages"] == [
        {"role": "system", "content": "You are a weather bot. Answer in English."},
        {"role": "user", "content": "What is the weather in Paris?"},
    ]

    client.prompt_versions.delete(applied[0].id)
    with pytest.raises(NotFoundError):
        client.prompt_versions.get(applied[0].id)
    assert [version.manifest.version for version in client.prompt_versions.list(prompt_id=prompt_id)] == [3, 2]
    client.prompts.delete(prompt_id)
    with pytest.raises(NotFoundError):
        client.prompts.get(prompt_id)
    with pytest.raises(NotFoundError):
        client.prompt_versions.get_by_fqn(applied[2].fqn)
    assert list(client.prompts.list(ml_repo_id=repo.id)) == []


def test_full_manifest_round_trips_through_sdk(server: LiveServer, user: LiveUser) -> None:
    client = sdk(server, user)
    name = make_repo(client).manifest.name
    sent = tfs.ChatPromptManifest.model_validate(full_prompt_manifest(name, "everything"))
    returned = client.prompts.create_or_update(manifest=sent).data
    assert returned.manifest.version == 1
    expected = {**sent.model_dump(mode="json", by_alias=True), "version": 1}
    assert returned.manifest.model_dump(mode="json", by_alias=True) == expected
    fetched = client.prompt_versions.get(returned.id).data.manifest
    assert fetched.model_dump(mode="json", by_alias=True) == returned.manifest.model_dump(mode="json", by_alias=True)
    assert isinstance(fetched.routing_config, tfs.WeightBasedLoadBalancing)
    assert isinstance(fetched.cache_config, tfs.SemanticCacheConfig)
    assert isinstance(fetched.response_format, tfs.JsonSchemaResponseFormat)
    assert [type(server).__name__ for server in fetched.mcp_servers or []] == ["McpServerWithFqn", "McpServerWithUrl"]
    assert [message.role for message in fetched.messages][:6] == [
        "system",
        "system",
        "developer",
        "developer",
        "user",
        "user",
    ]


def test_update_named_version_through_sdk(server: LiveServer, user: LiveUser) -> None:
    client = sdk(server, user)
    name = make_repo(client).manifest.name
    first = client.prompts.create_or_update(manifest=weather_prompt(name)).data
    update = weather_prompt(name, version=1, description="edited", metadata={"owner": "platform"})
    updated = client.prompts.create_or_update(manifest=update).data
    assert updated.id == first.id and updated.manifest.version == 1
    assert updated.manifest.description == "edited" and updated.manifest.metadata == {"owner": "platform"}
    assert [version.id for version in client.prompt_versions.list(prompt_id=first.prompt_id)] == [first.id]


def test_sdk_sees_invalid_schema_and_undeclared_variables_as_422(server: LiveServer, user: LiveUser) -> None:
    client = sdk(server, user)
    repo = make_repo(client)
    broken_tool = tfs.ToolSchema(
        function=tfs.FunctionSchema(name="broken", parameters={"type": "object", "properties": {"x": {"type": 1}}})
    )
    with pytest.raises(ApiError) as invalid_schema:
        client.prompts.create_or_update(manifest=weather_prompt(repo.manifest.name, tools=[broken_tool]))
    assert invalid_schema.value.status_code == 422
    assert invalid_schema.value.body["message"].startswith(
        "manifest.tools.0.function.parameters.properties.x.type: not a valid JSON Schema"
    )
    with pytest.raises(ApiError) as undeclared:
        client.prompts.create_or_update(
            manifest=weather_prompt(repo.manifest.name, variables={"persona": "a bot"}),
        )
    assert undeclared.value.status_code == 422
    assert "undeclared variables: city, language" in undeclared.value.body["message"]
    assert list(client.prompts.list(ml_repo_id=repo.id)) == []
    with pytest.raises(NotFoundError):
        client.prompts.get("00000000-0000-0000-0000-000000000000")
    with pytest.raises(NotFoundError):
        client.prompt_versions.delete("missing")
