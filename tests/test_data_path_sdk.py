"""The official SDK (`truefoundry-sdk==0.6.0`): artifacts, artifact versions and data directories."""

from __future__ import annotations

import os

import httpx
import pytest
import truefoundry_sdk
from truefoundry_sdk import TrueFoundry
from truefoundry_sdk.core.api_error import ApiError

from tests.data_path import PART_SIZE, sha256, stored_objects, version_objects
from tests.factories import create_repo, unique
from tests.live import LiveServer, LiveUser


def _sdk(server: LiveServer, user: LiveUser) -> TrueFoundry:
    return TrueFoundry(api_key=user.token, base_url=server.url)


def _upload(urls: list[str], contents: list[bytes]) -> None:
    with httpx.Client(timeout=60) as anonymous:
        for url, content in zip(urls, contents, strict=True):
            assert anonymous.put(url, content=content).status_code == 200


def test_sdk_artifact_lifecycle(server: LiveServer, user: LiveUser) -> None:
    sdk = _sdk(server, user)
    with server.client(user) as client:
        repo = create_repo(client)
    repo_name = repo["manifest"]["name"]
    name = unique("art")
    manifest = truefoundry_sdk.ArtifactManifest(
        name=name,
        metadata={"k": "v"},
        ml_repo=repo_name,
        source=truefoundry_sdk.TrueFoundryManagedSource(type="truefoundry"),
        description="staged through the SDK",
    )
    staged = sdk.artifact_versions.stage(manifest=manifest)
    files = {"a.txt": b"alpha", "dir/b.txt": b"beta"}
    signed = sdk.artifact_versions.get_signed_urls(id=staged.id, paths=list(files), operation="WRITE")
    _upload([item.signed_url for item in signed.data], list(files.values()))
    big = os.urandom(PART_SIZE + 10)
    upload = sdk.artifact_versions.create_multi_part_upload(id=staged.id, path="big.bin", num_parts=2).data
    assert upload.storage_provider == "S3_COMPATIBLE"
    with httpx.Client(timeout=60) as anonymous:
        etags = [
            anonymous.put(part.signed_url, content=big[index * PART_SIZE : (index + 1) * PART_SIZE]).headers["ETag"]
            for index, part in enumerate(upload.part_signed_urls)
        ]
        xml = "".join(
            f"<Part><PartNumber>{number}</PartNumber><ETag>{etag}</ETag></Part>"
            for number, etag in enumerate(etags, start=1)
        )
        body = f"<CompleteMultipartUpload>{xml}</CompleteMultipartUpload>".encode()
        assert anonymous.post(upload.finalize_signed_url.signed_url, content=body).status_code == 200
    files["big.bin"] = big

    manifest.source = truefoundry_sdk.TrueFoundryManagedSource(type="truefoundry", uri=staged.storage_root)
    version = sdk.artifacts.create_or_update(manifest=manifest).data
    assert version.id == staged.id and version.fqn.endswith(f"/{name}:1")

    listed = list(sdk.artifact_versions.list_files(id=version.id, limit=1))
    assert [item.path for item in listed] == ["a.txt", "big.bin", "dir"]
    assert listed[0].file_size == 5 and listed[0].model_extra["sha256"] == sha256(b"alpha")
    nested = list(sdk.artifact_versions.list_files(id=version.id, path="dir"))
    assert [(item.path, item.is_dir) for item in nested] == [("dir/b.txt", False)]

    read = sdk.artifact_versions.get_signed_urls(id=version.id, paths=list(files), operation="READ")
    for item, content in zip(read.data, files.values(), strict=True):
        assert httpx.get(item.signed_url, timeout=60).content == content

    assert sdk.artifact_versions.get_by_fqn(version.fqn).data.id == version.id
    sdk.artifact_versions.apply_tags(artifact_version_id=version.id, tags=["prod"])
    assert [item.id for item in sdk.artifact_versions.list(tag="prod", artifact_id=version.artifact_id)] == [version.id]
    artifact = sdk.artifacts.get(version.artifact_id).data
    assert artifact.type == "artifact" and artifact.latest_version.id == version.id
    assert sdk.artifacts.get_by_fqn(artifact.fqn).data.id == artifact.id
    assert [item.id for item in sdk.artifacts.list(ml_repo_id=repo["id"])] == [artifact.id]

    sdk.artifacts.delete(artifact.id)
    with pytest.raises(truefoundry_sdk.NotFoundError):
        sdk.artifact_versions.get(version.id)
    assert version_objects(server, repo["id"], version.id) == []


def test_sdk_stage_failure_and_model_staging(server: LiveServer, user: LiveUser) -> None:
    sdk = _sdk(server, user)
    with server.client(user) as client:
        repo = create_repo(client)
    model = truefoundry_sdk.ModelManifest(
        name=unique("model"),
        metadata={},
        ml_repo=repo["manifest"]["name"],
        source=truefoundry_sdk.TrueFoundryManagedSource(type="truefoundry"),
        framework=truefoundry_sdk.SklearnFramework(type="sklearn"),
    )
    staged = sdk.artifact_versions.stage(manifest=model)
    signed = sdk.artifact_versions.get_signed_urls(id=staged.id, paths=["model.pkl"], operation="WRITE")
    _upload([signed.data[0].signed_url], [b"pickle"])
    assert version_objects(server, repo["id"], staged.id)
    sdk.artifact_versions.mark_stage_failure(id=staged.id)
    assert version_objects(server, repo["id"], staged.id) == []
    with pytest.raises(ApiError) as refused:
        sdk.artifact_versions.get_signed_urls(id=staged.id, paths=["model.pkl"], operation="WRITE")
    assert refused.value.status_code == 409


def test_sdk_data_directories(server: LiveServer, user: LiveUser) -> None:
    sdk = _sdk(server, user)
    with server.client(user) as client:
        repo = create_repo(client)
    manifest = truefoundry_sdk.DataDirectoryManifest(
        name=unique("data"),
        ml_repo=repo["manifest"]["name"],
        metadata={"rows": 3},
        source=truefoundry_sdk.TrueFoundryManagedSource(type="truefoundry"),
    )
    directory = sdk.data_directories.create_or_update(manifest=manifest).data
    assert directory.fqn == f"data-dir:acme/{repo['manifest']['name']}/{manifest.name}"
    assert directory.manifest.source.uri.endswith(directory.id)
    assert directory.created_at and directory.updated_at

    files = {"train.csv": b"a,b\n1,2\n", "parts/p1.csv": b"1", "parts/p2.csv": b"2"}
    signed = sdk.data_directories.get_signed_urls(id=directory.id, paths=list(files), operation="WRITE")
    _upload([item.signed_url for item in signed.data], list(files.values()))
    big = os.urandom(PART_SIZE + 1)
    upload = sdk.data_directories.create_multipart_upload(id=directory.id, path="big.bin", num_parts=2).data
    with httpx.Client(timeout=60) as anonymous:
        etags = [
            anonymous.put(part.signed_url, content=big[index * PART_SIZE : (index + 1) * PART_SIZE]).headers["ETag"]
            for index, part in enumerate(upload.part_signed_urls)
        ]
        xml = "".join(f"<Part><PartNumber>{n}</PartNumber><ETag>{e}</ETag></Part>" for n, e in enumerate(etags, 1))
        done = anonymous.post(
            upload.finalize_signed_url.signed_url, content=f"<CompleteMultipartUpload>{xml}</CompleteMultipartUpload>"
        )
        assert done.status_code == 200

    root = list(sdk.data_directories.list_files(id=directory.id, limit=1))
    assert [(item.path, item.is_dir) for item in root] == [("big.bin", False), ("parts", True), ("train.csv", False)]
    assert [item.path for item in sdk.data_directories.list_files(id=directory.id, path="parts")] == [
        "parts/p1.csv",
        "parts/p2.csv",
    ]
    assert list(sdk.data_directories.list_files(id=directory.id, path="train.csv")) == []
    read = sdk.data_directories.get_signed_urls(id=directory.id, paths=["big.bin"], operation="READ")
    assert httpx.get(read.data[0].signed_url, timeout=60).content == big

    sdk.data_directories.delete_files(id=directory.id, paths=["parts", "train.csv"])
    assert [item.path for item in sdk.data_directories.list_files(id=directory.id)] == ["big.bin"]

    manifest.description = "updated"
    updated = sdk.data_directories.create_or_update(manifest=manifest).data
    assert updated.id == directory.id and updated.manifest.description == "updated"
    assert sdk.data_directories.get(directory.id).data.manifest.metadata == {"rows": 3}
    assert sdk.data_directories.get_by_fqn(directory.fqn).data.id == directory.id
    assert [item.id for item in sdk.data_directories.list(ml_repo_id=repo["id"])] == [directory.id]

    prefix = f"{repo['id']}/data-directories/{directory.id}"
    assert stored_objects(server, prefix)
    sdk.data_directories.delete(directory.id, delete_contents=True)
    with pytest.raises(truefoundry_sdk.NotFoundError):
        sdk.data_directories.get(directory.id)
    assert stored_objects(server, prefix) == []


def test_data_directory_permissions_and_external_sources(server: LiveServer, user: LiveUser) -> None:
    viewer = server.create_user(prefix="viewer")
    with server.client(user) as client:
        repo = create_repo(client, collaborators=[{"subject": f"user:{viewer.email}", "role_id": "mlf-project-viewer"}])
    name = repo["manifest"]["name"]
    owner_sdk, viewer_sdk = _sdk(server, user), _sdk(server, viewer)
    managed = truefoundry_sdk.DataDirectoryManifest(
        name=unique("d"), ml_repo=name, metadata={}, source=truefoundry_sdk.TrueFoundryManagedSource(type="truefoundry")
    )
    directory = owner_sdk.data_directories.create_or_update(manifest=managed).data
    with pytest.raises(ApiError) as refused:
        viewer_sdk.data_directories.get_signed_urls(id=directory.id, paths=["x"], operation="WRITE")
    assert refused.value.status_code == 403
    assert viewer_sdk.data_directories.get_signed_urls(id=directory.id, paths=["x"], operation="READ").data
    with pytest.raises(ApiError) as refused:
        viewer_sdk.data_directories.delete(directory.id)
    assert refused.value.status_code == 403

    inside = truefoundry_sdk.DataDirectoryManifest(
        name=unique("d"),
        ml_repo=name,
        metadata={},
        source=truefoundry_sdk.ExternalBlobStorageSource(type="external", uri=directory.manifest.source.uri + "/x"),
    )
    with pytest.raises(ApiError) as refused:
        owner_sdk.data_directories.create_or_update(manifest=inside)
    assert refused.value.status_code == 422
    outside = truefoundry_sdk.DataDirectoryManifest(
        name=unique("d"),
        ml_repo=name,
        metadata={},
        source=truefoundry_sdk.ExternalBlobStorageSource(type="external", uri="s3://someone-elses-bucket/data"),
    )
    external = owner_sdk.data_directories.create_or_update(manifest=outside).data
    assert external.manifest.source.uri == "s3://someone-elses-bucket/data"
    with pytest.raises(ApiError) as refused:
        owner_sdk.data_directories.get_signed_urls(id=external.id, paths=["x"], operation="READ")
    assert refused.value.status_code == 422
