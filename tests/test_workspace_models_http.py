"""Workspace model entities (NeMo-style Models API) through HTTP, on SQLite and Postgres.

The live server trusts the fileset sources `trusted-src/` (a workspace) and `partner/approved-ckpt`
(one fileset); see tests/conftest.py.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from mlregistry.settings import Settings
from tests.factories import create_model_entity, create_workspace, models_path, unique
from tests.live import LiveServer, LiveUser

NESTED_SPEC = {
    "num_parameters": 1235814400,
    "context_size": 4096,
    "is_chat": True,
    "family": "llama",
    "checkpoint_model_name": "meta-llama/Llama-3.2-1B",
    "moe_config": None,
    "linear_layers": [{"name": "model.layers.0.self_attn.q_proj", "in_features": 2048, "out_features": 2048}],
    "tool_call_config": {"tool_call_parser": "llama3_json"},
}
TRIMMED_SPEC = {key: value for key, value in NESTED_SPEC.items() if not isinstance(value, dict | list)}


def seed_create_body(workspace: str) -> dict[str, Any]:
    """Every field of the seed page "Create Model"."""
    return {
        "name": "llama-3.2-1b-ft.v1",
        "project": "proj/nlp-team",
        "description": "Llama 3.2 1B fully fine-tuned on support tickets",
        "spec": NESTED_SPEC,
        "finetuning_type": "all_weights",
        "fileset": f"{workspace}/llama-ft-ckpt",
        "base_model": "meta/llama-3.2-1b",
        "api_endpoint": {
            "url": "https://nim.example.com/v1",
            "model_id": "meta/llama-3.2-1b",
            "api_key": "sk-secret-value",
            "format": "openai",
        },
        "backend_format": "OPENAI_CHAT",
        "prompt": {
            "system_prompt": "You are a helpful support assistant.",
            "icl_few_shot_examples": "Q: reset password?\nA: Use the link.",
            "system_prompt_template": "{{icl_few_shot_examples}}",
            "inference_params": {"temperature": 0.2, "top_p": 0.9, "max_tokens": 256, "seed": 7},
        },
        "custom_fields": {"team": "cx", "ticket": 42},
        "ownership": {"created_by": "cx-team", "access_policies": {"cx": "rw"}},
        "model_providers": [f"{workspace}/nim-provider"],
        "trust_remote_code": False,
    }


def seed_update_body(workspace: str) -> dict[str, Any]:
    """Every field of the seed page "Update Model"."""
    return {
        "description": "Llama 3.2 1B fine-tuned, second round",
        "spec": {**NESTED_SPEC, "context_size": 8192},
        "fileset": f"{workspace}/llama-ft-ckpt-2",
        "finetuning_type": "lora",
        "base_model": "meta/llama-3.2-1b-instruct",
        "api_endpoint": {"url": "https://nim.example.com/v2", "model_id": "meta/llama-3.2-1b-instruct"},
        "backend_format": "ANTHROPIC_MESSAGES",
        "prompt": {"system_prompt": "You are terse."},
        "custom_fields": {"team": "cx", "round": 2},
        "ownership": {"created_by": "cx-team"},
        "model_providers": [f"{workspace}/nim-provider", f"{workspace}/backup-provider"],
        "trust_remote_code": False,
    }


def curl_like(client: httpx.Client, method: str, path: str, body: dict[str, Any]) -> httpx.Response:
    """What `curl -X METHOD -H 'Content-Type: application/json' -d '<json>'` sends."""
    return client.request(
        method,
        path,
        content=json.dumps(body, indent=2).encode(),
        headers={"Content-Type": "application/json", "Accept": "*/*", "User-Agent": "curl/8.5.0"},
    )


@pytest.fixture
def workspace(server: LiveServer, user: LiveUser) -> str:
    with server.client(user) as client:
        return str(create_workspace(client)["name"])


def test_seed_request_bodies_create_then_update(server: LiveServer, user: LiveUser, workspace: str) -> None:
    create = seed_create_body(workspace)
    update = seed_update_body(workspace)
    with server.client(user) as client:
        created = curl_like(client, "POST", models_path(workspace), create)
        assert created.status_code == 201, created.text
        model = created.json()
        assert model["id"].startswith("model-")
        assert model["workspace"] == workspace and model["name"] == create["name"]
        for field in ("project", "description", "finetuning_type", "fileset", "base_model", "backend_format"):
            assert model[field] == create[field], field
        for field in ("prompt", "custom_fields", "ownership", "model_providers", "trust_remote_code"):
            assert model[field] == create[field], field
        assert model["spec"] == TRIMMED_SPEC
        assert model["api_endpoint"] == {**create["api_endpoint"], "api_key": "********"}
        assert model["adapters"] == []
        assert model["created_by"]["subjectSlug"] == user.slug
        assert model["created_at"] == model["updated_at"] and model["created_at"].endswith("Z")

        updated = curl_like(client, "PATCH", f"{models_path(workspace)}/{create['name']}?verbose=true", update)
        assert updated.status_code == 200, updated.text
        after = updated.json()
        for field, value in update.items():
            assert after[field] == value, field
        assert after["project"] == create["project"]  # not in the update body: kept
        assert after["id"] == model["id"] and after["created_at"] == model["created_at"]
        assert after["updated_at"] > model["updated_at"]

        fetched = client.get(f"{models_path(workspace)}/{create['name']}", params={"verbose": "true"}).json()
        assert fetched == after


def test_create_minimal_model_has_defaults(server: LiveServer, user: LiveUser, workspace: str) -> None:
    with server.client(user) as client:
        model = create_model_entity(client, workspace, "bare")
    assert {key: model[key] for key in model if key not in ("id", "created_at", "updated_at", "created_by")} == {
        "name": "bare",
        "workspace": workspace,
        "project": None,
        "description": None,
        "spec": None,
        "finetuning_type": None,
        "fileset": None,
        "trust_remote_code": False,
        "base_model": None,
        "api_endpoint": None,
        "backend_format": None,
        "adapters": [],
        "prompt": None,
        "custom_fields": {},
        "ownership": None,
        "model_providers": [],
    }


def test_names_are_unique_per_workspace(server: LiveServer, user: LiveUser, workspace: str) -> None:
    with server.client(user) as client:
        create_model_entity(client, workspace, "same.name")
        duplicate = client.post(models_path(workspace), json={"name": "same.name", "description": "again"})
        assert duplicate.status_code == 409
        assert duplicate.json() == {"detail": f"Model 'same.name' already exists in workspace '{workspace}'"}
        other = create_workspace(client)["name"]
        assert create_model_entity(client, other, "same.name")["workspace"] == other


def test_model_in_missing_workspace_is_404_and_never_created(server: LiveServer, user: LiveUser) -> None:
    with server.client(user) as client:
        response = client.post(models_path("no-such-ws"), json={"name": "m"})
        assert response.status_code == 404
        assert response.json() == {"detail": "Workspace 'no-such-ws' not found"}
        assert client.get("/apis/entities/v2/workspaces/no-such-ws").status_code == 404
        missing = client.get(f"{models_path('default')}/never-made")
        assert missing.status_code == 404
        assert missing.json() == {"detail": "Model 'never-made' not found in workspace 'default'"}
        assert client.patch(f"{models_path('default')}/never-made", json={}).status_code == 404
        assert client.delete(f"{models_path('default')}/never-made").status_code == 404


def test_get_and_delete_model(server: LiveServer, user: LiveUser, workspace: str) -> None:
    with server.client(user) as client:
        model = create_model_entity(client, workspace, "to-delete")
        assert client.get(f"{models_path(workspace)}/to-delete").json() == model
        deleted = client.delete(f"{models_path(workspace)}/to-delete")
        assert deleted.status_code == 204 and deleted.content == b""
        assert client.get(f"{models_path(workspace)}/to-delete").status_code == 404
        assert client.get(models_path(workspace)).json()["pagination"]["total_results"] == 0
        assert create_model_entity(client, workspace, "to-delete")["id"] != model["id"]


INVALID_BODIES: list[tuple[str, dict[str, Any], list[Any]]] = [
    ("name pattern: space", {"name": "bad name"}, ["body", "name"]),
    ("name pattern: slash", {"name": "a/b"}, ["body", "name"]),
    ("name pattern: colon", {"name": "a:b"}, ["body", "name"]),
    ("name empty", {"name": ""}, ["body", "name"]),
    ("name too long", {"name": "n" * 256}, ["body", "name"]),
    ("name missing", {"description": "no name"}, ["body", "name"]),
    ("name not a string", {"name": 12}, ["body", "name"]),
    ("project pattern", {"name": "m", "project": "proj a"}, ["body", "project"]),
    ("project too long", {"name": "m", "project": "p" * 256}, ["body", "project"]),
    ("description too long", {"name": "m", "description": "d" * 1001}, ["body", "description"]),
    ("spec not an object", {"name": "m", "spec": [1, 2]}, ["body", "spec"]),
    ("finetuning_type unknown", {"name": "m", "finetuning_type": "full"}, ["body", "finetuning_type"]),
    ("finetuning_type case", {"name": "m", "finetuning_type": "LORA"}, ["body", "finetuning_type"]),
    ("fileset without workspace", {"name": "m", "fileset": "ckpt"}, ["body", "fileset"]),
    ("fileset with two slashes", {"name": "m", "fileset": "a/b/c"}, ["body", "fileset"]),
    ("base_model empty", {"name": "m", "base_model": ""}, ["body", "base_model"]),
    ("api_endpoint without url", {"name": "m", "api_endpoint": {"model_id": "x"}}, ["body", "api_endpoint", "url"]),
    (
        "api_endpoint without model_id",
        {"name": "m", "api_endpoint": {"url": "https://x.example"}},
        ["body", "api_endpoint", "model_id"],
    ),
    (
        "api_endpoint url not http",
        {"name": "m", "api_endpoint": {"url": "ftp://x", "model_id": "x"}},
        ["body", "api_endpoint", "url"],
    ),
    (
        "api_endpoint unknown key",
        {"name": "m", "api_endpoint": {"url": "https://x.example", "model_id": "x", "key": "k"}},
        ["body", "api_endpoint", "key"],
    ),
    ("backend_format unknown", {"name": "m", "backend_format": "OPENAI"}, ["body", "backend_format"]),
    ("prompt unknown key", {"name": "m", "prompt": {"system": "x"}}, ["body", "prompt", "system"]),
    (
        "prompt inference_params type",
        {"name": "m", "prompt": {"inference_params": {"temperature": "hot"}}},
        ["body", "prompt", "inference_params", "temperature"],
    ),
    ("custom_fields not a map", {"name": "m", "custom_fields": ["a"]}, ["body", "custom_fields"]),
    ("ownership not a map", {"name": "m", "ownership": "me"}, ["body", "ownership"]),
    ("model_providers not a list", {"name": "m", "model_providers": "ws/p"}, ["body", "model_providers"]),
    ("model_providers item", {"name": "m", "model_providers": ["ws/p", "nope"]}, ["body", "model_providers", 1]),
    ("trust_remote_code not a bool", {"name": "m", "trust_remote_code": "maybe"}, ["body", "trust_remote_code"]),
    ("unknown top-level key", {"name": "m", "descripton": "typo"}, ["body", "descripton"]),
    ("read-only id", {"name": "m", "id": "model-1"}, ["body", "id"]),
]


@pytest.mark.parametrize(("case", "body", "loc"), INVALID_BODIES, ids=[case for case, _, _ in INVALID_BODIES])
def test_create_validation_rules(
    server: LiveServer, user: LiveUser, workspace: str, case: str, body: dict[str, Any], loc: list[Any]
) -> None:
    with server.client(user) as client:
        response = client.post(models_path(workspace), json=body)
        assert response.status_code == 422, response.text
        detail = response.json()["detail"]
        assert isinstance(detail, list) and detail
        assert detail[0]["loc"] == loc
        assert detail[0]["msg"] and detail[0]["type"]
        assert client.get(models_path(workspace)).json()["pagination"]["total_results"] == 0


def test_create_accepts_the_limits_and_every_enum_value(server: LiveServer, user: LiveUser, workspace: str) -> None:
    with server.client(user) as client:
        longest = create_model_entity(client, workspace, "n" * 255, project="p/" * 127 + "p", description="d" * 1000)
        assert len(longest["name"]) == 255 and len(longest["project"]) == 255
        assert create_model_entity(client, workspace, "Mixed_Case-1.2")["name"] == "Mixed_Case-1.2"
        for value in ("lora", "p_tuning", "all_weights", "lora_merged", "dpo"):
            assert (
                create_model_entity(client, workspace, f"ft-{value}", finetuning_type=value)["finetuning_type"] == value
            )
        for backend_format in ("OPENAI_CHAT", "ANTHROPIC_MESSAGES", None):
            model = create_model_entity(client, workspace, f"bf-{backend_format}", backend_format=backend_format)
            assert model["backend_format"] == backend_format


def test_patch_keeps_absent_and_null_fields(server: LiveServer, user: LiveUser, workspace: str) -> None:
    create = seed_create_body(workspace)
    path = f"{models_path(workspace)}/{create['name']}"
    with server.client(user) as client:
        before = client.post(models_path(workspace), json=create).json()
        time.sleep(0.002)
        described = client.patch(path, json={"description": "updated"})
        assert described.status_code == 200, described.text
        after = described.json()
        assert after["description"] == "updated"
        assert after["updated_at"] > before["updated_at"] and after["created_at"] == before["created_at"]
        assert {k: v for k, v in after.items() if k not in ("description", "updated_at")} == {
            k: v for k, v in before.items() if k not in ("description", "updated_at")
        }

        nulls = {field: None for field in seed_update_body(workspace)}
        kept = client.patch(path, json=nulls).json()
        assert {k: v for k, v in kept.items() if k != "updated_at"} == {
            k: v for k, v in after.items() if k != "updated_at"
        }
        assert kept["updated_at"] > after["updated_at"]

        empty = client.patch(path, json={}).json()
        assert empty["base_model"] == create["base_model"] and empty["updated_at"] > kept["updated_at"]

        # "", {} and [] are values: they clear a field.
        cleared = client.patch(path, json={"description": "", "custom_fields": {}, "model_providers": []}).json()
        assert cleared["description"] == "" and cleared["custom_fields"] == {} and cleared["model_providers"] == []
        assert cleared["spec"] == TRIMMED_SPEC and cleared["prompt"] == create["prompt"]


def test_patch_masked_api_key_keeps_the_stored_key(server: LiveServer, user: LiveUser, workspace: str) -> None:
    create = seed_create_body(workspace)
    path = f"{models_path(workspace)}/{create['name']}"
    with server.client(user) as client:
        read = client.post(models_path(workspace), json=create).json()
        assert read["api_endpoint"]["api_key"] == "********"
        echoed = client.patch(path, json={"api_endpoint": {**read["api_endpoint"], "format": "nim"}})
        assert echoed.status_code == 200
        assert echoed.json()["api_endpoint"] == {**create["api_endpoint"], "api_key": "********", "format": "nim"}
        without_key = client.patch(path, json={"api_endpoint": {"url": "https://other.example", "model_id": "m"}})
        assert without_key.json()["api_endpoint"] == {"url": "https://other.example", "model_id": "m"}


def test_patch_cannot_rename_or_move_and_is_validated(server: LiveServer, user: LiveUser, workspace: str) -> None:
    with server.client(user) as client:
        create_model_entity(client, workspace, "fixed", project="proj/a")
        path = f"{models_path(workspace)}/fixed"
        same = client.patch(path, json={"name": "fixed", "workspace": workspace, "description": "ok"})
        assert same.status_code == 200 and same.json()["description"] == "ok"
        for field, value in (("name", "renamed"), ("workspace", "default")):
            response = client.patch(path, json={field: value})
            assert response.status_code == 422
            assert response.json()["detail"][0]["loc"] == ["body", field]
            assert "cannot change" in response.json()["detail"][0]["msg"]
        for body, loc in (
            ({"project": "proj/b"}, ["body", "project"]),
            ({"description": "d" * 1001}, ["body", "description"]),
            ({"finetuning_type": "full"}, ["body", "finetuning_type"]),
            ({"backend_format": "XML"}, ["body", "backend_format"]),
            ({"fileset": "no-slash"}, ["body", "fileset"]),
            ({"spec": "big"}, ["body", "spec"]),
            ({"created_at": "2020-01-01T00:00:00Z"}, ["body", "created_at"]),
        ):
            response = client.patch(path, json=body)
            assert response.status_code == 422, body
            assert response.json()["detail"][0]["loc"] == loc
        unchanged = client.get(path).json()
        assert unchanged["name"] == "fixed" and unchanged["project"] == "proj/a" and unchanged["description"] == "ok"


def test_verbose_on_and_off(server: LiveServer, user: LiveUser, workspace: str) -> None:
    with server.client(user) as client:
        created = create_model_entity(client, workspace, "spec-model", spec=NESTED_SPEC)
        assert created["spec"] == TRIMMED_SPEC
        path = f"{models_path(workspace)}/spec-model"
        assert client.get(path).json()["spec"] == TRIMMED_SPEC
        assert client.get(path, params={"verbose": "false"}).json()["spec"] == TRIMMED_SPEC
        assert client.get(path, params={"verbose": "true"}).json()["spec"] == NESTED_SPEC
        assert client.patch(path, json={"description": "x"}).json()["spec"] == TRIMMED_SPEC
        assert client.patch(path, params={"verbose": "true"}, json={"description": "y"}).json()["spec"] == NESTED_SPEC
        listed = client.get(models_path(workspace), params={"verbose": "true"}).json()["data"]
        assert listed[0]["spec"] == NESTED_SPEC
        assert client.get(models_path(workspace)).json()["data"][0]["spec"] == TRIMMED_SPEC
        invalid = client.get(path, params={"verbose": "sometimes"})
        assert invalid.status_code == 422 and invalid.json()["detail"][0]["loc"] == ["query", "verbose"]


def test_list_pages_sorts_and_filters(server: LiveServer, user: LiveUser, workspace: str) -> None:
    with server.client(user) as client:
        names = ["charlie", "alpha", "bravo"]
        for name in names:
            create_model_entity(
                client,
                workspace,
                name,
                base_model="meta/llama-3.2-1b" if name != "bravo" else "other/base",
                finetuning_type="lora" if name == "alpha" else None,
            )
            time.sleep(0.002)
        client.patch(f"{models_path(workspace)}/charlie", json={"description": "touched last"})

        default = client.get(models_path(workspace)).json()
        assert [item["name"] for item in default["data"]] == ["bravo", "alpha", "charlie"]
        assert default["object"] == "list" and default["sort"] == "-created_at" and default["filter"] == {}
        assert default["pagination"] == {
            "page": 1,
            "page_size": 100,
            "current_page_size": 3,
            "total_pages": 1,
            "total_results": 3,
        }

        def order(**params: Any) -> list[str]:
            response = client.get(models_path(workspace), params=params)
            assert response.status_code == 200, response.text
            return [item["name"] for item in response.json()["data"]]

        assert order(sort="name") == ["alpha", "bravo", "charlie"]
        assert order(sort="-name") == ["charlie", "bravo", "alpha"]
        assert order(sort="created_at") == ["charlie", "alpha", "bravo"]
        assert order(sort="-updated_at")[0] == "charlie"
        assert order(sort="updated_at")[-1] == "charlie"

        second = client.get(models_path(workspace), params={"sort": "name", "page": 2, "page_size": 2}).json()
        assert [item["name"] for item in second["data"]] == ["charlie"]
        assert second["pagination"] == {
            "page": 2,
            "page_size": 2,
            "current_page_size": 1,
            "total_pages": 2,
            "total_results": 3,
        }

        as_json = client.get(
            models_path(workspace), params={"filter": json.dumps({"base_model": "meta/llama-3.2-1b"}), "sort": "name"}
        ).json()
        assert [item["name"] for item in as_json["data"]] == ["alpha", "charlie"]
        assert as_json["filter"] == {"base_model": "meta/llama-3.2-1b"}
        assert as_json["pagination"]["total_results"] == 2
        assert order(**{"filter[base_model]": "meta/llama-3.2-1b", "filter[finetuning_type]": "lora"}) == ["alpha"]
        assert order(**{"filter[name]": "bravo"}) == ["bravo"]
        assert order(**{"filter[trust_remote_code]": "false", "sort": "name"}) == ["alpha", "bravo", "charlie"]
        assert order(filter=json.dumps({"trust_remote_code": True})) == []
        assert order(filter=json.dumps({"workspace": workspace, "name": "alpha"})) == ["alpha"]
        assert order(filter=json.dumps({"workspace": "default"})) == []

        for params, loc in (
            ({"filter": "{not json"}, ["query", "filter"]),
            ({"filter": "[1]"}, ["query", "filter"]),
            ({"filter": json.dumps({"colour": "red"})}, ["query", "filter", "colour"]),
            ({"filter[spec]": "x"}, ["query", "filter", "spec"]),
            ({"filter": json.dumps({"name": 3})}, ["query", "filter", "name"]),
            ({"filter[trust_remote_code]": "perhaps"}, ["query", "filter", "trust_remote_code"]),
            ({"page": 0}, ["query", "page"]),
            ({"page_size": 1001}, ["query", "page_size"]),
            ({"page_size": 0}, ["query", "page_size"]),
            ({"sort": "size"}, ["query", "sort"]),
        ):
            response = client.get(models_path(workspace), params=params)
            assert response.status_code == 422, params
            assert response.json()["detail"][0]["loc"] == loc, params


def test_list_across_every_readable_workspace(server: LiveServer, user: LiveUser) -> None:
    stranger = server.create_user()
    base = unique("base")
    with server.client(user) as client:
        first, second = create_workspace(client)["name"], create_workspace(client)["name"]
        create_model_entity(client, first, "m1", base_model=base)
        create_model_entity(client, second, "m2", base_model=base)
    with server.client(stranger) as client:
        hidden = create_workspace(client)["name"]
        create_model_entity(client, hidden, "m3", base_model=base)
    with server.client(user) as client:
        listed = client.get(models_path("-"), params={"filter[base_model]": base, "sort": "name"}).json()
        assert [(item["workspace"], item["name"]) for item in listed["data"]] == [(first, "m1"), (second, "m2")]
        assert listed["pagination"]["total_results"] == 2
        one = client.get(models_path("-"), params={"filter": json.dumps({"base_model": base, "workspace": second})})
        assert [item["name"] for item in one.json()["data"]] == ["m2"]
        assert client.get(models_path("-"), params={"filter[workspace]": hidden}).status_code == 404


TRUST_REFUSED = "MLREGISTRY_TRUSTED_FILESET_SOURCES"


def test_trust_remote_code_needs_a_trusted_fileset_or_an_administrator(
    server: LiveServer, user: LiveUser, admin: LiveUser, workspace: str
) -> None:
    with server.client(user) as client:
        refused = client.post(
            models_path(workspace),
            json={"name": "untrusted", "fileset": f"{workspace}/ckpt", "trust_remote_code": True},
        )
        assert refused.status_code == 403
        assert TRUST_REFUSED in refused.json()["detail"] and "administrator" in refused.json()["detail"]
        assert f"{workspace}/ckpt" in refused.json()["detail"]
        no_fileset = client.post(models_path(workspace), json={"name": "nofs", "trust_remote_code": True})
        assert no_fileset.status_code == 403 and "no fileset" in no_fileset.json()["detail"]
        assert client.get(f"{models_path(workspace)}/untrusted").status_code == 404

        by_workspace = create_model_entity(
            client, workspace, "trusted-ws", fileset="trusted-src/any-ckpt", trust_remote_code=True
        )
        assert by_workspace["trust_remote_code"] is True
        by_name = create_model_entity(
            client, workspace, "trusted-name", fileset="partner/approved-ckpt", trust_remote_code=True
        )
        assert by_name["trust_remote_code"] is True
        other_partner = client.post(
            models_path(workspace),
            json={"name": "partner-other", "fileset": "partner/other-ckpt", "trust_remote_code": True},
        )
        assert other_partner.status_code == 403
        lookalike = client.post(
            models_path(workspace),
            json={"name": "lookalike", "fileset": "trusted-src-fake/ckpt", "trust_remote_code": True},
        )
        assert lookalike.status_code == 403

        # PATCH: becoming true is checked; moving a trusting model to another fileset is checked.
        create_model_entity(client, workspace, "plain", fileset=f"{workspace}/ckpt")
        plain = f"{models_path(workspace)}/plain"
        assert client.patch(plain, json={"trust_remote_code": True}).status_code == 403
        assert client.get(plain).json()["trust_remote_code"] is False
        assert client.patch(plain, json={"fileset": "trusted-src/x", "trust_remote_code": True}).json()[
            "trust_remote_code"
        ]
        moved = client.patch(plain, json={"fileset": f"{workspace}/elsewhere"})
        assert moved.status_code == 403 and TRUST_REFUSED in moved.json()["detail"]
        assert client.get(plain).json()["fileset"] == "trusted-src/x"
        assert client.patch(plain, json={"fileset": "trusted-src/y"}).status_code == 200
        assert client.patch(plain, json={"description": "still trusted"}).json()["trust_remote_code"] is True
        turned_off = client.patch(plain, json={"trust_remote_code": False, "fileset": f"{workspace}/elsewhere"})
        assert turned_off.status_code == 200 and turned_off.json()["trust_remote_code"] is False

    with server.client(admin) as client:  # administrators bypass the allow-list
        by_admin = create_model_entity(
            client, workspace, "admin-trusted", fileset=f"{workspace}/ckpt", trust_remote_code=True
        )
        assert by_admin["trust_remote_code"] is True
        assert client.patch(plain, json={"trust_remote_code": True}).json()["trust_remote_code"] is True


def test_trusted_fileset_sources_setting_reads_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLREGISTRY_TRUSTED_FILESET_SOURCES", "team-a/, partner/ckpt ,")
    assert Settings().trusted_fileset_sources == ["team-a/", "partner/ckpt"]
    monkeypatch.delenv("MLREGISTRY_TRUSTED_FILESET_SOURCES")
    assert Settings().trusted_fileset_sources == []
