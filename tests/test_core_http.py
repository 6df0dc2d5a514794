"""ML repos, models and model versions through HTTP, on SQLite and Postgres."""

from __future__ import annotations

import pytest

from tests.factories import API, SVC, apply_model_version, create_repo, model_manifest, unique
from tests.live import LiveServer, LiveUser

SEED_MODEL_MANIFEST = {
    "name": "seed-model",
    "metadata": {},
    "source": {"type": "truefoundry", "uri": "s3://bucket/seed"},
    "type": "model-version",
    "description": "a description",
    "version_alias": "v1-prod",
    "framework": {
        "type": "transformers",
        "library_name": "transformers",
        "pipeline_tag": "text-generation",
        "base_model": "gpt2",
    },
    "environment": {"python_version": "3.11", "pip_packages": ["torch==2.3.0"]},
    "step": 0,
    "run_id": "run-1",
}


def test_fresh_user_sees_empty_model_list(server: LiveServer, user: LiveUser) -> None:
    with server.client(user) as client:
        response = client.get(f"{API}/models")
    assert response.status_code == 200
    assert response.json() == {"data": [], "pagination": {"total": 0, "offset": 0, "limit": 100}}


@pytest.mark.parametrize("prefix", [API, SVC])
def test_both_prefixes_serve_the_same_routes(server: LiveServer, user: LiveUser, prefix: str) -> None:
    with server.client(user) as client:
        repo = create_repo(client)
        response = client.get(f"{prefix}/ml-repos/{repo['id']}")
    assert response.status_code == 200
    assert response.json()["data"]["manifest"]["name"] == repo["manifest"]["name"]


def test_requests_without_valid_token_are_refused(server: LiveServer) -> None:
    with server.client() as client:
        assert client.get(f"{API}/models").status_code == 401
        body = client.get(f"{API}/models", headers={"Authorization": "Bearer not-a-token"}).json()
        assert body["statusCode"] == 401 and body["message"]
        assert client.get(f"{API}/models", headers={"Authorization": "Basic abc"}).status_code == 401
        forged = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ4In0."
        assert client.get(f"{API}/models", headers={"Authorization": f"Bearer {forged}"}).status_code == 401


def test_ml_repo_apply_get_list_delete(server: LiveServer, user: LiveUser) -> None:
    name = unique("repo")
    with server.client(user) as client:
        dry = client.put(
            f"{API}/ml-repos",
            json={"manifest": {"type": "ml-repo", "name": name, "storage_integration_fqn": "default"}, "dryRun": True},
        )
        assert dry.status_code == 200
        assert client.get(f"{API}/ml-repos", params={"name": name}).json()["pagination"]["total"] == 0

        repo = create_repo(client, name, description="first", ownedBy={"account": "team-a"})
        assert repo["id"].isdigit() and repo["id"] != "0"
        assert repo["tenant_name"] == "acme"
        assert repo["account_id"] == "team-a"
        assert repo["created_by_subject"]["subjectSlug"] == user.slug
        assert repo["created_by_subject"]["subjectType"] == "user"
        assert repo["created_by_subject"]["subjectPatName"] == f"{user.slug}-pat"

        updated = create_repo(client, name, description="second")
        assert updated["id"] == repo["id"]
        assert updated["manifest"]["description"] == "second"

        listed = client.get(f"{API}/ml-repos", params={"name": name, "limit": 1}).json()
        assert [item["id"] for item in listed["data"]] == [repo["id"]]
        assert client.get(f"{API}/ml-repos", params={"name": name, "limit": 1, "offset": 1}).json()["data"] == []
        assert client.get(f"{API}/ml-repos", params={"name": name[:-1]}).json()["data"] == []

        changed_storage = client.put(
            f"{API}/ml-repos",
            json={"manifest": {"type": "ml-repo", "name": name, "storage_integration_fqn": "other"}},
        )
        assert changed_storage.status_code == 409
        assert "storage_integration_fqn" in changed_storage.json()["message"]

        assert client.delete(f"{API}/ml-repos/{repo['id']}").json() == {}
        missing = client.get(f"{API}/ml-repos/{repo['id']}")
        assert missing.status_code == 404
        assert missing.json()["statusCode"] == 404


def test_ml_repo_manifest_is_validated(server: LiveServer, user: LiveUser) -> None:
    with server.client(user) as client:
        bad_name = client.put(
            f"{API}/ml-repos", json={"manifest": {"type": "ml-repo", "name": "-bad", "storage_integration_fqn": "x"}}
        )
        assert bad_name.status_code == 422
        body = bad_name.json()
        assert body["statusCode"] == 422 and "manifest.name" in body["message"]
        assert body["details"][0]["loc"] == ["body", "manifest", "name"]
        missing_storage = client.put(f"{API}/ml-repos", json={"manifest": {"type": "ml-repo", "name": "good-name"}})
        assert missing_storage.status_code == 422


def test_seed_model_version_round_trips_unchanged(server: LiveServer, user: LiveUser) -> None:
    with server.client(user) as client:
        repo = create_repo(client)
        manifest = {**SEED_MODEL_MANIFEST, "ml_repo": repo["manifest"]["name"], "extra_key": {"kept": True}}
        response = client.put(f"{API}/model-versions", json={"manifest": manifest})
        assert response.status_code == 200, response.text
        version = response.json()["data"]
        assert version["manifest"] == {**manifest, "version": 1}
        assert version["fqn"] == f"model:acme/{repo['manifest']['name']}/seed-model:1"
        assert version["ml_repo_id"] == repo["id"]
        assert version["version_alias"] == "v1-prod"
        assert "get_model_version_by_fqn" in version["usage_code_snippet"]
        assert version["metrics"] == [] and version["tags"] == []
        fetched = client.get(f"{API}/model-versions/{version['id']}").json()["data"]
        assert fetched["manifest"] == version["manifest"]
        model = client.get(f"{API}/models/{version['model_id']}").json()["data"]
        assert model["type"] == "model"
        assert model["fqn"] == f"model:acme/{repo['manifest']['name']}/seed-model"
        assert model["latest_version"]["id"] == version["id"]


def test_versions_are_numbered_and_listed_newest_first(server: LiveServer, user: LiveUser) -> None:
    with server.client(user) as client:
        repo = create_repo(client)["manifest"]["name"]
        created = [apply_model_version(client, repo, "clf", step=index) for index in range(3)]
        assert [item["manifest"]["version"] for item in created] == [1, 2, 3]
        model_id = created[0]["model_id"]
        listed = client.get(f"{API}/model-versions", params={"model_id": model_id}).json()
        assert [item["manifest"]["version"] for item in listed["data"]] == [3, 2, 1]
        assert listed["pagination"] == {"total": 3, "offset": 0, "limit": 100}

        client.delete(f"{API}/model-versions/{created[2]['id']}")
        after_delete = client.get(f"{API}/model-versions", params={"model_id": model_id}).json()
        assert after_delete["pagination"]["total"] == 2
        repo_id = created[0]["ml_repo_id"]
        assert client.get(f"{API}/model-versions", params={"ml_repo_id": repo_id}).json()["pagination"]["total"] == 2
        model = client.get(f"{API}/models/{model_id}").json()["data"]
        assert model["latest_version"]["id"] == created[1]["id"]
        again = apply_model_version(client, repo, "clf")
        assert again["manifest"]["version"] == 4, "numbers are never reused after a delete"


def test_model_version_filters(server: LiveServer, user: LiveUser) -> None:
    with server.client(user) as client:
        repo = create_repo(client)
        name = repo["manifest"]["name"]
        a1 = apply_model_version(client, name, "alpha", run_id="run-a", step=1)
        a2 = apply_model_version(client, name, "alpha", run_id="run-b", step=2)
        b1 = apply_model_version(client, name, "beta", run_id="run-a", step=2)

        def ids(**params: object) -> list[str]:
            response = client.get(f"{API}/model-versions", params=params)
            assert response.status_code == 200, response.text
            return [item["id"] for item in response.json()["data"]]

        assert set(ids(ml_repo_id=repo["id"])) == {a1["id"], a2["id"], b1["id"]}
        assert ids(ml_repo_id=repo["id"], name="alpha") == [a2["id"], a1["id"]]
        assert ids(ml_repo_id=repo["id"], name="alpha", version=1) == [a1["id"]]
        assert ids(ml_repo_id=repo["id"], name="alpha", version="1.0") == [a1["id"]]
        assert ids(fqn=a2["fqn"]) == [a2["id"]]
        assert ids(fqn=a2["fqn"] + "0") == []
        assert ids(fqn="model:other-tenant/x/alpha:1") == []
        assert set(ids(run_ids=["run-a"])) == {a1["id"], b1["id"]}
        assert set(
            client.get(f"{API}/model-versions?run_ids=run-a&run_ids=run-b&ml_repo_id={repo['id']}").json()["data"][i][
                "id"
            ]
            for i in range(3)
        ) == {a1["id"], a2["id"], b1["id"]}
        assert set(ids(run_ids="run-a,run-b", ml_repo_id=repo["id"])) == {a1["id"], a2["id"], b1["id"]}
        assert set(ids(run_steps=["2.0"], ml_repo_id=repo["id"])) == {a2["id"], b1["id"]}
        assert ids(run_steps=["2.5"], ml_repo_id=repo["id"]) == []
        assert ids(ml_repo_id="0042") == []


def test_model_list_filters_and_paging(server: LiveServer, user: LiveUser) -> None:
    with server.client(user) as client:
        repo = create_repo(client)
        name = repo["manifest"]["name"]
        for index in range(5):
            apply_model_version(client, name, f"model-{index}", run_id=f"run-{index}")
        listed = client.get(f"{API}/models", params={"ml_repo_id": repo["id"], "limit": 2})
        body = listed.json()
        assert body["pagination"] == {"total": 5, "offset": 0, "limit": 2}
        seen: list[str] = []
        offset = 0
        while True:
            page = client.get(f"{API}/models", params={"ml_repo_id": repo["id"], "limit": 2, "offset": offset}).json()
            if not page["data"]:
                break
            seen.extend(item["name"] for item in page["data"])
            offset += len(page["data"])
        assert sorted(seen) == [f"model-{index}" for index in range(5)]
        beyond = client.get(f"{API}/models", params={"ml_repo_id": repo["id"], "offset": 50}).json()
        assert beyond == {"data": [], "pagination": {"total": 5, "offset": 50, "limit": 100}}
        by_fqn = client.get(f"{API}/models", params={"fqn": f"model:acme/{name}/model-3"}).json()["data"]
        assert [item["name"] for item in by_fqn] == ["model-3"]
        by_run = client.get(f"{API}/models", params={"run_id": "run-1"}).json()["data"]
        assert [item["name"] for item in by_run] == ["model-1"]
        by_name = client.get(f"{API}/models", params={"name": "model-2", "ml_repo_id": repo["id"]}).json()["data"]
        assert [item["name"] for item in by_name] == ["model-2"]
        assert client.get(f"{API}/models", params={"limit": 100000}).status_code == 422
        assert client.get(f"{API}/models", params={"limit": 0}).status_code == 422
        assert client.get(f"{API}/models", params={"limit": "10.0"}).status_code == 200


def test_update_named_version_and_missing_version(server: LiveServer, user: LiveUser) -> None:
    with server.client(user) as client:
        repo = create_repo(client)["manifest"]["name"]
        first = apply_model_version(client, repo, "clf")
        manifest = dict(first["manifest"])
        manifest.update(description="updated", version_alias="v1-prod", metadata={"new": True})
        updated = client.put(f"{API}/model-versions", json={"manifest": manifest})
        assert updated.status_code == 200, updated.text
        data = updated.json()["data"]
        assert data["id"] == first["id"] and data["manifest"]["version"] == 1
        assert data["manifest"]["description"] == "updated" and data["manifest"]["metadata"] == {"new": True}

        missing = client.put(f"{API}/model-versions", json={"manifest": {**manifest, "version": 7}})
        assert missing.status_code == 404
        assert "no version 7" in missing.json()["message"]

        moved = client.put(
            f"{API}/model-versions",
            json={"manifest": {**manifest, "source": {"type": "external", "uri": "s3://elsewhere"}}},
        )
        assert moved.status_code == 422


def test_version_alias_is_unique_per_model(server: LiveServer, user: LiveUser) -> None:
    with server.client(user) as client:
        repo = create_repo(client)["manifest"]["name"]
        apply_model_version(client, repo, "clf", version_alias="v1-prod")
        clash = client.put(
            f"{API}/model-versions", json={"manifest": model_manifest(repo, "clf", version_alias="v1-prod")}
        )
        assert clash.status_code == 409
        assert "version_alias" in clash.json()["message"]
        other_model = apply_model_version(client, repo, "other", version_alias="v1-prod")
        assert other_model["manifest"]["version_alias"] == "v1-prod"
        listed = client.get(f"{API}/model-versions", params={"name": "clf", "ml_repo_id": other_model["ml_repo_id"]})
        assert listed.json()["pagination"]["total"] == 1, "the refused apply left nothing behind"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": "my.model"}, "manifest.name"),
        ({"description": "x" * 513}, "manifest.description"),
        ({"version_alias": "1.0"}, "manifest.version_alias"),
        ({"step": -1}, "manifest.step"),
        ({"ml_repo": "x"}, "manifest.ml_repo"),
        ({"type": "model"}, "manifest.type"),
        ({"source": {"uri": "s3://x"}}, "manifest.source"),
        ({"framework": {"type": "catboost"}}, "manifest.framework"),
        ({"framework": {"model_filepath": "m.pkl"}}, "manifest.framework"),
    ],
)
def test_invalid_manifests_are_refused_before_storing(
    server: LiveServer, user: LiveUser, change: dict[str, object], field: str
) -> None:
    with server.client(user) as client:
        repo = create_repo(client)
        response = client.put(
            f"{API}/model-versions", json={"manifest": {**model_manifest(repo["manifest"]["name"], "m"), **change}}
        )
        assert response.status_code == 422, response.text
        assert field in response.json()["message"]
        assert client.get(f"{API}/models", params={"ml_repo_id": repo["id"]}).json()["pagination"]["total"] == 0


def test_missing_manifest_type_is_refused(server: LiveServer, user: LiveUser) -> None:
    with server.client(user) as client:
        repo = create_repo(client)["manifest"]["name"]
        manifest = model_manifest(repo, "m")
        del manifest["type"]
        response = client.put(f"{API}/model-versions", json={"manifest": manifest})
        assert response.status_code == 422
        assert "manifest.type" in response.json()["message"]


@pytest.mark.parametrize(
    "framework",
    [
        {"type": "transformers", "library_name": "diffusers"},
        {"type": "tensorflow"},
        {
            "type": "sklearn",
            "serialization_format": "joblib",
            "model_schema": {"infer_method_name": "predict_proba", "inputs": [], "outputs": []},
        },
        {"type": "pytorch"},
        {"type": "keras"},
        {"type": "xgboost", "serialization_format": "json"},
        {"type": "lightgbm"},
        {"type": "fastai"},
        {"type": "h2o"},
        {"type": "onnx"},
        {"type": "spacy"},
        {"type": "statsmodels"},
        {"type": "gluon"},
        {"type": "paddle"},
    ],
)
def test_every_framework_variant_round_trips(server: LiveServer, user: LiveUser, framework: dict[str, object]) -> None:
    with server.client(user) as client:
        repo = create_repo(client)["manifest"]["name"]
        version = apply_model_version(client, repo, "fw", framework=framework)
        assert version["manifest"]["framework"] == framework


@pytest.mark.parametrize(
    "source",
    [
        {"type": "truefoundry", "uri": "s3://bucket/root"},
        {"type": "external", "uri": "gs://bucket/model"},
        {"type": "local", "file_or_folder": "./model"},
    ],
)
def test_model_source_variants_round_trip(server: LiveServer, user: LiveUser, source: dict[str, object]) -> None:
    with server.client(user) as client:
        repo = create_repo(client)["manifest"]["name"]
        version = apply_model_version(client, repo, "src", source=source)
        assert version["manifest"]["source"] == source


def test_tags_are_unique_per_model_and_force_moves_them(server: LiveServer, user: LiveUser) -> None:
    with server.client(user) as client:
        repo = create_repo(client)["manifest"]["name"]
        v1 = apply_model_version(client, repo, "clf")
        v2 = apply_model_version(client, repo, "clf")
        tag_url = f"{API}/model-versions/tags"
        assert client.put(tag_url, json={"model_version_id": v1["id"], "tags": ["prod", "stable"]}).json() == {}
        clash = client.put(tag_url, json={"model_version_id": v2["id"], "tags": ["prod"], "force": False})
        assert clash.status_code == 409 and "prod" in clash.json()["message"]
        moved = client.put(tag_url, json={"model_version_id": v2["id"], "tags": ["prod"], "force": True})
        assert moved.status_code == 200
        assert client.get(f"{API}/model-versions/{v1['id']}").json()["data"]["tags"] == ["stable"]
        assert client.get(f"{API}/model-versions/{v2['id']}").json()["data"]["tags"] == ["prod"]
        tagged = client.get(f"{API}/model-versions", params={"tag": "prod", "model_id": v1["model_id"]}).json()
        assert [item["id"] for item in tagged["data"]] == [v2["id"]]
        assert client.put(tag_url, json={"model_version_id": "nope", "tags": ["x"]}).status_code == 404


def test_include_empty_models_and_model_delete(server: LiveServer, user: LiveUser) -> None:
    with server.client(user) as client:
        repo = create_repo(client)
        name = repo["manifest"]["name"]
        version = apply_model_version(client, name, "only")
        client.delete(f"{API}/model-versions/{version['id']}")
        with_empty = client.get(f"{API}/models", params={"ml_repo_id": repo["id"], "include_empty_models": "true"})
        assert with_empty.json()["pagination"]["total"] == 1
        assert "latest_version" not in with_empty.json()["data"][0]
        without = client.get(f"{API}/models", params={"ml_repo_id": repo["id"], "include_empty_models": "false"})
        assert without.json()["pagination"]["total"] == 0

        kept = apply_model_version(client, name, "with-versions")
        assert client.delete(f"{API}/models/{kept['model_id']}").json() == {}
        assert client.get(f"{API}/models/{kept['model_id']}").status_code == 404
        assert client.get(f"{API}/model-versions/{kept['id']}").status_code == 404


def test_deleting_a_repo_removes_its_models(server: LiveServer, user: LiveUser) -> None:
    with server.client(user) as client:
        repo = create_repo(client)
        version = apply_model_version(client, repo["manifest"]["name"], "m")
        client.delete(f"{API}/ml-repos/{repo['id']}")
        assert client.get(f"{API}/model-versions/{version['id']}").status_code == 404
        assert client.get(f"{API}/models/{version['model_id']}").status_code == 404


def test_other_users_cannot_see_or_touch_a_repo(server: LiveServer, user: LiveUser) -> None:
    outsider = server.create_user(prefix="outsider")
    with server.client(user) as owner_client, server.client(outsider) as other:
        repo = create_repo(owner_client)
        version = apply_model_version(owner_client, repo["manifest"]["name"], "secret")
        assert other.get(f"{API}/ml-repos/{repo['id']}").status_code == 404
        assert other.get(f"{API}/models/{version['model_id']}").status_code == 404
        assert other.get(f"{API}/model-versions/{version['id']}").status_code == 404
        assert other.get(f"{API}/model-versions", params={"fqn": version["fqn"]}).json()["data"] == []
        assert other.get(f"{API}/ml-repos").json()["pagination"]["total"] == 0
        assert other.get(f"{API}/model-versions").json() == {
            "data": [],
            "pagination": {"total": 0, "offset": 0, "limit": 100},
        }
        assert other.get(f"{API}/models").json()["pagination"]["total"] == 0
        assert other.delete(f"{API}/ml-repos/{repo['id']}").status_code == 404
        writes = other.put(f"{API}/model-versions", json={"manifest": model_manifest(repo["manifest"]["name"], "x")})
        assert writes.status_code == 404


def test_collaborator_roles(server: LiveServer, user: LiveUser) -> None:
    viewer = server.create_user(prefix="viewer")
    editor = server.create_user(prefix="editor")
    with server.client(user) as owner:
        repo = create_repo(
            owner,
            collaborators=[
                {"subject": f"user:{viewer.email}", "role_id": "mlf-project-viewer"},
                {"subject": f"user:{editor.email}", "role_id": "mlf-project-editor"},
            ],
        )
        name = repo["manifest"]["name"]
        version = apply_model_version(owner, name, "shared")
    with server.client(viewer) as client:
        assert client.get(f"{API}/model-versions/{version['id']}").status_code == 200
        assert client.put(f"{API}/model-versions", json={"manifest": model_manifest(name, "x")}).status_code == 403
    with server.client(editor) as client:
        assert client.put(f"{API}/model-versions", json={"manifest": model_manifest(name, "x")}).status_code == 200
        assert client.delete(f"{API}/model-versions/{version['id']}").status_code == 403
        assert client.delete(f"{API}/ml-repos/{repo['id']}").status_code == 403


def test_unknown_routes_and_methods_answer_http_error(server: LiveServer, user: LiveUser) -> None:
    with server.client(user) as client:
        missing = client.get(f"{API}/no-such-thing")
        assert missing.status_code == 404 and missing.json()["statusCode"] == 404
        wrong = client.post(f"{API}/models")
        assert wrong.status_code == 405 and wrong.json()["statusCode"] == 405
        malformed = client.put(
            f"{API}/model-versions", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert malformed.status_code == 422 and malformed.json()["statusCode"] == 422


def test_expired_and_revoked_tokens_are_refused(server: LiveServer) -> None:
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    from mlregistry.orm import Token

    expiring = server.create_user(prefix="expiring")
    revoked = server.create_user(prefix="revoked")
    with server.client(expiring) as client:
        assert client.get(f"{API}/models").status_code == 200

    async def expire_and_revoke(session) -> None:  # type: ignore[no-untyped-def]
        past = datetime.now(UTC) - timedelta(minutes=5)
        await session.execute(update(Token).where(Token.user_id == expiring.id).values(expires_at=past))
        await session.execute(update(Token).where(Token.user_id == revoked.id).values(revoked_at=past))

    server.run(expire_and_revoke)
    for who, reason in ((expiring, "expired"), (revoked, "revoked")):
        with server.client(who) as client:
            response = client.get(f"{API}/models")
            assert response.status_code == 401
            assert reason in response.json()["message"]
            assert response.headers["www-authenticate"] == "Bearer"
