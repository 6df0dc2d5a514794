"""Small builders for requests the tests send over and over."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

API = "/api/ml/v1"
SVC = "/api/svc/v1"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def create_repo(client: httpx.Client, name: str | None = None, **manifest: Any) -> dict[str, Any]:
    body = {
        "manifest": {
            "type": "ml-repo",
            "name": name or unique("repo"),
            "storage_integration_fqn": "default",
            **manifest,
        },
        "dryRun": False,
    }
    response = client.put(f"{API}/ml-repos", json=body)
    assert response.status_code == 200, response.text
    return response.json()["data"]


def model_manifest(repo: str, name: str, **fields: Any) -> dict[str, Any]:
    manifest: dict[str, Any] = {
        "name": name,
        "metadata": {"accuracy": 0.9},
        "ml_repo": repo,
        "type": "model-version",
        "source": {"type": "external", "uri": f"s3://bucket/{name}/{uuid.uuid4().hex[:6]}"},
        "framework": {"type": "sklearn"},
        "step": 0,
    }
    manifest.update(fields)
    return manifest


def apply_model_version(client: httpx.Client, repo: str, name: str, **fields: Any) -> dict[str, Any]:
    response = client.put(f"{API}/model-versions", json={"manifest": model_manifest(repo, name, **fields)})
    assert response.status_code == 200, response.text
    return response.json()["data"]


WORKSPACES = "/apis/entities/v2/workspaces"


def models_path(workspace: str) -> str:
    return f"/apis/models/v2/workspaces/{workspace}/models"


def unique_workspace(prefix: str = "ws") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def create_workspace(client: httpx.Client, name: str | None = None, **fields: Any) -> dict[str, Any]:
    response = client.post(WORKSPACES, json={"name": name or unique_workspace(), **fields})
    assert response.status_code == 201, response.text
    return response.json()


def create_model_entity(client: httpx.Client, workspace: str, name: str | None = None, **fields: Any) -> dict[str, Any]:
    response = client.post(models_path(workspace), json={"name": name or unique("model"), **fields})
    assert response.status_code == 201, response.text
    return response.json()


def prompt_manifest(repo: str, name: str, **fields: Any) -> dict[str, Any]:
    """A chat prompt with a system and a user message, two variables and two function tools."""
    manifest: dict[str, Any] = {
        "name": name,
        "metadata": {"team": "support"},
        "ml_repo": repo,
        "type": "chat_prompt",
        "messages": [
            {"role": "system", "content": "You are {{persona}}."},
            {"role": "user", "content": "Tell me about {{topic}}."},
        ],
        "variables": {"persona": "a helpful assistant", "topic": None},
        "model_configuration": {
            "provider": "openai-main",
            "model": "gpt-4o",
            "parameters": {"max_tokens": 256, "temperature": 0.2},
        },
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "description": "Current weather for a city",
                    "parameters": {
                        "type": "object",
                        "properties": {"city": {"type": "string"}},
                        "required": ["city"],
                    },
                    "strict": False,
                },
            },
            {
                "type": "function",
                "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}, "strict": False},
            },
        ],
    }
    manifest.update(fields)
    return manifest


def apply_prompt_version(client: httpx.Client, repo: str, name: str, **fields: Any) -> dict[str, Any]:
    response = client.put(f"{API}/prompt-versions", json={"manifest": prompt_manifest(repo, name, **fields)})
    assert response.status_code == 200, response.text
    return response.json()["data"]


def blob(path: str, mime_type: str = "text/plain") -> dict[str, Any]:
    return {"type": "blob-storage", "path": path, "mime_type": mime_type}


def full_prompt_manifest(repo: str, name: str) -> dict[str, Any]:
    """A chat_prompt manifest that uses every field and sub-type of the contract (§5.9)."""
    return {
        "name": name,
        "description": "Support assistant",
        "metadata": {"team": "support", "nested": {"list": [1, 2.5, None, True]}},
        "version_alias": "v1-full",
        "ml_repo": repo,
        "type": "chat_prompt",
        "messages": [
            {"role": "system", "content": "You are {{persona}}.", "name": "system-main"},
            {"role": "system", "content": blob("prompts/system.txt")},
            {"role": "developer", "content": "Answer in {{language}}.", "name": "dev"},
            {"role": "developer", "content": blob("prompts/developer.json", "application/json")},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Describe {{subject}}."},
                    {"type": "text", "text": blob("prompts/extra.txt")},
                    {
                        "type": "image_url",
                        "image_url": {"url": "https://img.example.com/{{image}}.png", "detail": "high"},
                    },
                    {"type": "image_url", "image_url": {"url": blob("images/cat.png", "image/png")}},
                ],
                "name": "customer",
            },
            {"role": "user", "content": "Plain question"},
            {"role": "user", "content": blob("images/photo.jpg", "image/jpeg")},
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Looking it up"},
                    {"type": "refusal", "refusal": "I will not {{forbidden}}"},
                ],
                "tool_calls": [
                    {"type": "function", "id": "call-1", "function": {"name": "lookup", "arguments": '{"q": "cats"}'}}
                ],
                "name": "bot",
            },
            {"role": "assistant", "content": None, "tool_calls": []},
            {"role": "assistant", "content": "Plain answer"},
            {"role": "assistant", "content": blob("runs/", "application/x-directory")},
            {"role": "tool", "content": '{"result": 42}', "tool_call_id": "call-1"},
            {"role": "tool", "content": blob("tool/result.json", "application/json"), "tool_call_id": "call-2"},
        ],
        "variables": {
            "persona": "a helpful assistant",
            "language": None,
            "subject": None,
            "image": "default-image",
            "forbidden": "share secrets",
            "declared_but_unused": "fine",
        },
        "model_configuration": {
            "provider": "openai-main",
            "model": "gpt-4o",
            "parameters": {"max_tokens": 512, "temperature": 0.7, "top_k": 40, "top_p": 0.95, "stop": ["\n\n", "END"]},
            "extra_parameters": {"seed": 7, "logit_bias": {"50256": -100}},
        },
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "lookup",
                    "description": "Search the knowledge base",
                    "parameters": {
                        "$schema": "https://json-schema.org/draft/2020-12/schema",
                        "type": "object",
                        "properties": {
                            "q": {"type": "string", "minLength": 1, "pattern": "^[a-z ]+$"},
                            "limit": {"type": "integer", "minimum": 1, "maximum": 50},
                            "filters": {"type": "array", "items": {"enum": ["docs", "faq"]}},
                        },
                        "required": ["q"],
                        "additionalProperties": False,
                    },
                    "strict": True,
                },
            },
            {"type": "function", "function": {"name": "noop", "parameters": {}, "strict": False}},
        ],
        "mcp_servers": [
            {
                "type": "mcp-server-fqn",
                "integration_fqn": "acme:mcp-server:github",
                "enable_all_tools": False,
                "tools": [{"name": "search_issues"}],
            },
            {
                "type": "mcp-server-url",
                "url": "https://mcp.example.com/sse",
                "headers": {"X-Api-Key": "k"},
                "enable_all_tools": True,
            },
        ],
        "guardrails": {"input_guardrails": ["pii-redaction"], "output_guardrails": ["toxicity"]},
        "response_format": {
            "type": "json_schema",
            "json_schema": {
                "name": "answer",
                "schema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
            },
        },
        "routing_config": {
            "type": "weight-based-routing",
            "load_balance_targets": [
                {
                    "target": "openai-main/gpt-4o",
                    "weight": 70,
                    "retry_config": {"attempts": 3, "delay": 200, "on_status_codes": ["429", "503"]},
                    "fallback_status_codes": ["500", "502"],
                    "fallback_candidate": True,
                    "override_params": {"temperature": 0.1},
                    "headers_override": {"remove": ["x-debug"], "set": {"x-team": "support"}},
                    "metadata_match": {"env": "prod"},
                },
                {"target": "azure-main/gpt-4o", "weight": 30, "fallback_candidate": False},
            ],
            "sticky_routing": {
                "ttl_seconds": 600,
                "session_identifiers": [
                    {"source": "headers", "key": "x-session"},
                    {"source": "metadata", "key": "user"},
                ],
            },
        },
        "cache_config": {"type": "semantic", "similarity_threshold": 0.92, "namespace": "support", "ttl": 7200.0},
        "tool_call_to_mcp_mapping": {"lookup": {"mcp_server_integration_id": "integration-1", "tool_name": "search"}},
        "logging_config": {"enabled": True, "tracing_project_fqn": "acme:tracing-project:support"},
        "sub_agents": [{"name": "researcher"}, {"name": "writer"}],
        "x_client_extension": {"kept": True},
    }
