"""Applies that are retried, repeated or raced: replays answer the same version, changes are never dropped."""

from __future__ import annotations

import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import truefoundry_sdk as tfs
from truefoundry_sdk import TrueFoundry

from tests.conftest import BACKENDS, PostgresDatabases, make_settings
from tests.data_path import artifact_manifest, put_files, stage
from tests.factories import API, create_repo, model_manifest, unique
from tests.live import LiveServer, LiveUser


def _versions(client: httpx.Client, family: str, name: str, repo: str) -> list[dict[str, Any]]:
    fqn_free = client.get(f"{API}/{family}-versions", params={"name": name, "ml_repo_id": repo})
    assert fqn_free.status_code == 200, fqn_free.text
    return list(fqn_free.json()["data"])


def test_changed_reapply_of_a_finalized_source_is_a_conflict_naming_the_version(
    server: LiveServer, user: LiveUser
) -> None:
    with server.client(user) as client:
        repo = create_repo(client)
        manifest = artifact_manifest(repo["manifest"]["name"], "weights", description="first")
        staged = stage(client, manifest)
        put_files(client, staged["id"], {"w.bin": b"bytes"})
        applied = {**manifest, "source": {"type": "truefoundry", "uri": staged["storage_root"]}}
        first = client.put(f"{API}/artifact-versions", json={"manifest": applied})
        assert first.status_code == 200, first.text
        version = first.json()["data"]

        replay = client.put(f"{API}/artifact-versions", json={"manifest": applied})
        assert replay.status_code == 200 and replay.json()["data"]["id"] == version["id"]

        changed = {**applied, "description": "second", "version_alias": "v1-best"}
        conflict = client.put(f"{API}/artifact-versions", json={"manifest": changed})
        assert conflict.status_code == 409, conflict.text
        body = conflict.json()
        assert version["id"] in body["message"] and "version 1" in body["message"]
        assert body["details"][0]["loc"] == ["manifest", "source", "uri"]
        assert body["details"][0]["version_id"] == version["id"]

        stored = client.get(f"{API}/artifact-versions/{version['id']}").json()["data"]
        assert stored["manifest"]["description"] == "first" and "version_alias" not in stored
        listed = _versions(client, "artifact", "weights", repo["id"])
        assert [item["id"] for item in listed] == [version["id"]]


def test_identical_apply_from_the_same_caller_within_the_window_is_a_replay(server: LiveServer, user: LiveUser) -> None:
    other = server.create_user()
    with server.client(user) as client, server.client(other) as colleague:
        repo = create_repo(client, collaborators=[{"subject": f"user:{other.email}", "role_id": "mlf-project-editor"}])
        name = repo["manifest"]["name"]
        manifest = model_manifest(name, "clf")
        first = client.put(f"{API}/model-versions", json={"manifest": manifest}).json()["data"]
        again = client.put(f"{API}/model-versions", json={"manifest": manifest})
        assert again.status_code == 200 and again.json()["data"]["id"] == first["id"]
        assert again.json()["data"]["manifest"]["version"] == 1

        # Another caller, or another manifest, is a new version.
        theirs = colleague.put(f"{API}/model-versions", json={"manifest": manifest}).json()["data"]
        assert theirs["manifest"]["version"] == 2
        changed = client.put(f"{API}/model-versions", json={"manifest": {**manifest, "description": "x"}})
        assert changed.json()["data"]["manifest"]["version"] == 3
        assert len(_versions(client, "model", "clf", repo["id"])) == 3


def test_a_replay_is_checked_against_the_version_it_would_answer(server: LiveServer, user: LiveUser) -> None:
    """The entity remembers its last apply, but a replay is answered only while that version still matches:
    edited or deleted since, the same apply makes a new version."""
    with server.client(user) as client:
        repo = create_repo(client)
        manifest = model_manifest(repo["manifest"]["name"], "clf")
        first = client.put(f"{API}/model-versions", json={"manifest": manifest}).json()["data"]
        edited = client.put(
            f"{API}/model-versions", json={"manifest": {**first["manifest"], "description": "edited after"}}
        )
        assert edited.status_code == 200 and edited.json()["data"]["manifest"]["version"] == 1, edited.text
        again = client.put(f"{API}/model-versions", json={"manifest": manifest})
        assert again.status_code == 200 and again.json()["data"]["manifest"]["version"] == 2
        assert again.json()["data"]["id"] != first["id"]

        assert client.delete(f"{API}/model-versions/{again.json()['data']['id']}").status_code == 200
        after_delete = client.put(f"{API}/model-versions", json={"manifest": manifest})
        assert after_delete.status_code == 200, after_delete.text
        assert after_delete.json()["data"]["manifest"]["version"] == 3  # numbers are never reused
        replayed = client.put(f"{API}/model-versions", json={"manifest": manifest})
        assert replayed.json()["data"]["id"] == after_delete.json()["data"]["id"]
        listed = _versions(client, "model", "clf", repo["id"])
        assert [item["manifest"]["version"] for item in listed] == [3, 1]


def test_concurrent_identical_applies_without_a_key_make_one_version(server: LiveServer, user: LiveUser) -> None:
    """Retries racing the first attempt (no Idempotency-Key): the replay is decided under the entity's lock."""
    with server.client(user) as client:
        repo = create_repo(client)
        name = repo["manifest"]["name"]
        create = model_manifest(name, "raced")
        existing = model_manifest(name, "existing")
        client.put(f"{API}/model-versions", json={"manifest": {**existing, "description": "v1"}})

        def apply(index: int) -> httpx.Response:
            with server.client(user) as own:
                return own.put(f"{API}/model-versions", json={"manifest": create if index % 2 else existing})

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(apply, range(16)))
        assert {answer.status_code for answer in answers} == {200}, [a.text for a in answers if a.status_code != 200]
        for manifest, versions in ((create, 1), (existing, 2)):
            ids = {a.json()["data"]["id"] for a in answers if a.json()["data"]["manifest"]["name"] == manifest["name"]}
            assert len(ids) == 1
            listed = _versions(client, "model", manifest["name"], repo["id"])
            assert [item["manifest"]["version"] for item in listed] == list(range(versions, 0, -1))


@pytest.mark.parametrize("backend", BACKENDS)
def test_with_the_replay_window_off_each_apply_is_a_new_version(
    backend: str, tmp_path: Path, postgres_databases: PostgresDatabases | None
) -> None:
    settings = make_settings(backend, tmp_path, postgres_databases, apply_replay_window_seconds=0)
    live = LiveServer(settings, backend).start()
    try:
        with live.client(live.create_user()) as client:
            repo = create_repo(client)
            manifest = model_manifest(repo["manifest"]["name"], "clf")
            answers = [client.put(f"{API}/model-versions", json={"manifest": manifest}) for _ in range(3)]
            assert [a.json()["data"]["manifest"]["version"] for a in answers] == [1, 2, 3]
            assert len(_versions(client, "model", "clf", repo["id"])) == 3
    finally:
        live.stop()


def test_idempotency_key_answers_the_first_apply(server: LiveServer, user: LiveUser) -> None:
    with server.client(user) as client:
        repo = create_repo(client)
        name = repo["manifest"]["name"]
        manifest = model_manifest(name, "clf")
        key = {"Idempotency-Key": unique("key")}
        first = client.put(f"{API}/model-versions", json={"manifest": manifest}, headers=key).json()["data"]
        # A newer version in between: the key still answers the version it made, not the newest.
        client.put(f"{API}/model-versions", json={"manifest": {**manifest, "description": "later"}})
        retried = client.put(f"{API}/model-versions", json={"manifest": manifest}, headers=key)
        assert retried.status_code == 200 and retried.json()["data"]["id"] == first["id"]

        reused = client.put(f"{API}/model-versions", json={"manifest": {**manifest, "step": 9}}, headers=key)
        assert reused.status_code == 422, reused.text
        assert reused.json()["details"][0]["loc"] == ["header", "Idempotency-Key"]
        too_long = client.put(
            f"{API}/model-versions", json={"manifest": manifest}, headers={"Idempotency-Key": "k" * 257}
        )
        assert too_long.status_code == 422
        assert [item["manifest"]["version"] for item in _versions(client, "model", "clf", repo["id"])] == [2, 1]


def test_concurrent_applies_with_one_idempotency_key_make_one_version(server: LiveServer, user: LiveUser) -> None:
    with server.client(user) as client:
        repo = create_repo(client)
        manifest = model_manifest(repo["manifest"]["name"], "clf")
        key = {"Idempotency-Key": unique("key")}

        def apply(_: int) -> httpx.Response:
            with server.client(user) as own:
                return own.put(f"{API}/model-versions", json={"manifest": manifest}, headers=key)

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(apply, range(8)))
        assert {answer.status_code for answer in answers} == {200}, [a.text for a in answers if a.status_code != 200]
        assert len({answer.json()["data"]["id"] for answer in answers}) == 1
        assert len(_versions(client, "model", "clf", repo["id"])) == 1


def _hang_up(end: socket.socket) -> None:
    try:
        end.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked reading it, and the peer sees the close
    except OSError:
        pass
    end.close()


class AnswerDroppingProxy:
    """Forwards TCP to the server, but closes the first `drops` connections as soon as the server answers.

    The server has done (and committed) the work; the client never hears about it, as when a connection
    breaks after the request was sent."""

    def __init__(self, target_port: int, drops: int) -> None:
        self.target_port = target_port
        self.drops = drops
        self.dropped = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                downstream, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                drop = self.dropped < self.drops
                self.dropped += int(drop)
            threading.Thread(target=self._serve, args=(downstream, drop), daemon=True).start()

    def _serve(self, downstream: socket.socket, drop: bool) -> None:
        upstream = socket.create_connection(("127.0.0.1", self.target_port))
        threading.Thread(target=self._pump, args=(downstream, upstream), daemon=True).start()
        if drop:
            upstream.recv(65536)  # the server's answer arrives ...
            _hang_up(downstream)  # ... and is lost
            _hang_up(upstream)
            return
        self._pump(upstream, downstream)

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                target.sendall(chunk)
        except OSError:
            pass
        finally:
            _hang_up(source)
            _hang_up(target)

    def close(self) -> None:
        self._listener.close()


@pytest.mark.parametrize("with_key", [False, True], ids=["replay-window", "idempotency-key"])
def test_sdk_retry_after_a_lost_answer_makes_no_second_version(
    server: LiveServer, user: LiveUser, with_key: bool
) -> None:
    """The SDK retries an apply whose connection broke after the request was sent: one version, not two."""
    with server.client(user) as client:
        repo = create_repo(client)
        name = repo["manifest"]["name"]
    proxy = AnswerDroppingProxy(server.port, drops=1)
    try:
        sdk = TrueFoundry(api_key=user.token, base_url=proxy.url)
        manifest = tfs.ModelManifest(
            name="clf",
            ml_repo=name,
            metadata={"accuracy": 0.9},
            source=tfs.ExternalBlobStorageSource(uri=f"s3://bucket/{unique('clf')}"),
            framework=tfs.SklearnFramework(),
        )
        # The SDK retries a connection broken mid-answer when asked to (it cannot know whether the server acted).
        options: Any = {"max_retries": 2, "retry_remote_protocol_errors": True}
        if with_key:
            options["additional_headers"] = {"Idempotency-Key": unique("key")}
        answer = sdk.models.create_or_update(manifest=manifest, request_options=options)
        assert proxy.dropped == 1
        assert answer.data.manifest.version == 1
    finally:
        proxy.close()
    with server.client(user) as client:
        listed = _versions(client, "model", "clf", repo["id"])
        assert [item["id"] for item in listed] == [answer.data.id]


def test_concurrent_first_apply_of_one_ml_repo_answers_200_to_everyone(server: LiveServer, user: LiveUser) -> None:
    name = unique("repo")
    body = {"manifest": {"type": "ml-repo", "name": name, "storage_integration_fqn": "default"}, "dryRun": False}

    def apply(_: int) -> httpx.Response:
        with server.client(user) as client:
            return client.put(f"{API}/ml-repos", json=body)

    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(apply, range(12)))
    assert [answer.status_code for answer in answers] == [200] * 12, [a.text for a in answers]
    assert len({answer.json()["data"]["id"] for answer in answers}) == 1
    with server.client(user) as client:
        assert client.get(f"{API}/ml-repos", params={"name": name}).json()["pagination"]["total"] == 1
