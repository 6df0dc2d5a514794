"""The official truefoundry-sdk 0.6.0 against a live server: ML repos, models, model versions."""

from __future__ import annotations

import pytest
import truefoundry_sdk as tfs
from truefoundry_sdk import TrueFoundry
from truefoundry_sdk.core.api_error import ApiError
from truefoundry_sdk.errors import ConflictError, NotFoundError, UnprocessableEntityError

from tests.factories import unique
from tests.live import LiveServer, LiveUser

NO_RETRY = {"max_retries": 0}


def sdk(server: LiveServer, user: LiveUser) -> TrueFoundry:
    return TrueFoundry(api_key=user.token, base_url=server.url)


def make_repo(client: TrueFoundry, user: LiveUser) -> tfs.MlRepo:
    manifest = tfs.MlRepoManifest(
        name=unique("sdk-repo"),
        storage_integration_fqn="default",
        collaborators=[tfs.Collaborator(subject=f"user:{user.email}", role_id="mlf-project-admin")],
    )
    return client.ml_repos.create_or_update(manifest=manifest).data


def model_manifest(repo: str, name: str, **fields: object) -> tfs.ModelManifest:
    values: dict[str, object] = {
        "name": name,
        "ml_repo": repo,
        "metadata": {"framework": "sklearn"},
        "source": tfs.ExternalBlobStorageSource(uri=f"s3://bucket/{name}"),
        "framework": tfs.SklearnFramework(serialization_format="joblib"),
        "environment": tfs.ModelVersionEnvironment(python_version="3.11", pip_packages=["scikit-learn==1.5.0"]),
    }
    values.update(fields)
    return tfs.ModelManifest(**values)  # type: ignore[arg-type]


def test_ml_repo_lifecycle_through_sdk(server: LiveServer, user: LiveUser) -> None:
    client = sdk(server, user)
    repo = make_repo(client, user)
    assert repo.id.isdigit()
    assert repo.created_by_subject.subject_slug == user.slug
    assert client.ml_repos.get(repo.id).data.manifest.name == repo.manifest.name
    listed = list(client.ml_repos.list(name=repo.manifest.name, limit=1))
    assert [item.id for item in listed] == [repo.id]
    dry = client.ml_repos.create_or_update(
        manifest=tfs.MlRepoManifest(name=unique("dry-repo"), storage_integration_fqn="default"), dry_run=True
    )
    assert list(client.ml_repos.list(name=dry.data.manifest.name)) == []
    client.ml_repos.delete(repo.id)
    with pytest.raises(NotFoundError):
        client.ml_repos.get(repo.id)


def test_typed_errors(server: LiveServer, user: LiveUser) -> None:
    client = sdk(server, user)
    repo = make_repo(client, user)
    outsider = sdk(server, server.create_user(prefix="outsider"))
    with pytest.raises(ConflictError) as conflict:
        outsider.ml_repos.create_or_update(
            manifest=tfs.MlRepoManifest(name=repo.manifest.name, storage_integration_fqn="default"),
            request_options=NO_RETRY,
        )
    assert conflict.value.body.status_code == 409
    with pytest.raises(UnprocessableEntityError) as invalid:
        client.ml_repos.create_or_update(
            manifest=tfs.MlRepoManifest(name="-not-valid", storage_integration_fqn="default")
        )
    assert invalid.value.body.status_code == 422 and "manifest.name" in invalid.value.body.message
    with pytest.raises(NotFoundError):
        client.models.get("00000000-0000-0000-0000-000000000000")
    with pytest.raises(NotFoundError):
        client.model_versions.get("missing")
    with pytest.raises(NotFoundError):
        client.model_versions.get_by_fqn(f"model:acme/{repo.manifest.name}/nothing:1")
    with pytest.raises(ApiError) as bad_manifest:
        client.models.create_or_update(manifest=model_manifest(repo.manifest.name, "bad.name"))
    assert bad_manifest.value.status_code == 422


def test_model_versions_through_sdk(server: LiveServer, user: LiveUser) -> None:
    client = sdk(server, user)
    repo = make_repo(client, user)
    name = repo.manifest.name
    created = [
        client.models.create_or_update(manifest=model_manifest(name, "churn", step=index)).data for index in range(5)
    ]
    assert [version.manifest.version for version in created] == [1, 2, 3, 4, 5]
    assert created[0].fqn == f"model:acme/{name}/churn:1"
    assert isinstance(created[0].manifest.framework, tfs.SklearnFramework)

    pager = client.model_versions.list(model_id=created[0].model_id, limit=2)
    assert [version.manifest.version for version in pager] == [5, 4, 3, 2, 1]

    by_fqn = client.model_versions.get_by_fqn(created[2].fqn).data
    assert by_fqn.id == created[2].id
    model = client.models.get(created[0].model_id).data
    assert model.type == "model" and model.latest_version is not None and model.latest_version.id == created[4].id
    assert client.models.get_by_fqn(model.fqn).data.id == model.id
    assert [item.id for item in client.models.list(ml_repo_id=repo.id, limit=1)] == [model.id]

    client.model_versions.apply_tags(model_version_id=created[0].id, tags=["prod"])
    with pytest.raises(ApiError) as taken:
        client.model_versions.apply_tags(
            model_version_id=created[1].id, tags=["prod"], force=False, request_options=NO_RETRY
        )
    assert taken.value.status_code == 409
    client.model_versions.apply_tags(model_version_id=created[1].id, tags=["prod"], force=True)
    assert client.model_versions.get(created[1].id).data.tags == ["prod"]
    assert client.model_versions.get(created[0].id).data.tags == []
    assert [item.id for item in client.model_versions.list(tag="prod", model_id=model.id)] == [created[1].id]

    updated_manifest = created[1].manifest
    updated_manifest.description = "promoted"
    updated_manifest.version_alias = "v2-prod"
    updated = client.models.create_or_update(manifest=updated_manifest).data
    assert updated.id == created[1].id and updated.manifest.description == "promoted"

    client.model_versions.delete(created[4].id)
    with pytest.raises(NotFoundError):
        client.model_versions.get(created[4].id)
    assert client.models.get(model.id).data.latest_version.id == created[3].id
    client.models.delete(model.id)
    with pytest.raises(NotFoundError):
        client.models.get(model.id)
    assert list(client.model_versions.list(model_id=model.id)) == []
