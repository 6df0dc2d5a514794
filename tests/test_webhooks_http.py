"""Webhooks through HTTP on both databases: registration rules, every event type delivered and signed,
retries with backoff, the delivery log and redelivery. A receiver on 127.0.0.1 plays the target."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.data_path import artifact_manifest, stage
from tests.factories import API, SVC, apply_model_version, apply_prompt_version, create_repo, unique
from tests.live import LiveServer, LiveUser, free_port
from tests.webhook_receiver import Receiver, receiving, verify_signature

ALL_EVENTS = [
    "version.created",
    "alias.moved",
    "tag.moved",
    "version.deleted",
    "stage.failed",
    "prompt_version.created",
    "run.finished",
]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as running:
        yield running


def hook_path() -> str:
    return f"/hooks/{uuid.uuid4().hex[:10]}"


def register(client: httpx.Client, receiver: Receiver, path: str, **fields: Any) -> dict[str, Any]:
    body = {"name": unique("hook"), "url": f"{receiver.url}{path}", "events": ALL_EVENTS, **fields}
    response = client.post(f"{API}/webhooks", json=body)
    assert response.status_code == 200, response.text
    created: dict[str, Any] = response.json()["data"]
    return created


def deliveries(client: httpx.Client, webhook_id: str, **params: Any) -> list[dict[str, Any]]:
    response = client.get(f"{API}/webhooks/{webhook_id}/deliveries", params=params)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["data"]
    return items


def test_register_list_update_delete_and_who_may(server: LiveServer, user: LiveUser, admin: LiveUser) -> None:
    viewer, outsider = server.create_user(prefix="viewer"), server.create_user(prefix="outsider")
    url = f"http://127.0.0.1:{free_port()}/hook"
    with server.client(user) as owner:
        repo = create_repo(owner, collaborators=[{"subject": f"user:{viewer.email}", "role_id": "mlf-project-viewer"}])
        body = {"name": "ci", "url": url, "events": ["version.created", "tag.moved"], "ml_repo_id": repo["id"]}
        created = owner.post(f"{API}/webhooks", json=body)
        assert created.status_code == 200, created.text
        hook = created.json()["data"]
        assert hook["ml_repo_id"] == repo["id"] and hook["ml_repo"] == repo["manifest"]["name"]
        assert hook["events"] == ["version.created", "tag.moved"] and hook["active"] is True
        assert len(hook["secret"]) >= 32, "a secret is generated when none is given, and shown once"
        assert hook["created_by_subject"]["subjectSlug"] == user.slug

        shown = owner.get(f"{SVC}/webhooks/{hook['id']}")  # both API prefixes serve webhooks
        assert shown.status_code == 200 and "secret" not in shown.json()["data"]
        listed = owner.get(f"{API}/webhooks", params={"ml_repo_id": repo["id"]}).json()
        assert [item["id"] for item in listed["data"]] == [hook["id"]] and listed["pagination"]["total"] == 1
        assert owner.get(f"{API}/webhooks", params={"event": "tag.moved"}).json()["pagination"]["total"] == 1
        assert owner.get(f"{API}/webhooks", params={"event": "stage.failed"}).json()["data"] == []
        assert [item["id"] for item in owner.get(f"{API}/webhooks").json()["data"]] == [hook["id"]]

        changed = owner.patch(f"{API}/webhooks/{hook['id']}", json={"events": ["version.deleted"], "active": False})
        assert changed.status_code == 200, changed.text
        assert changed.json()["data"]["events"] == ["version.deleted"] and changed.json()["data"]["active"] is False
        assert "secret" not in changed.json()["data"]
        rotated = owner.patch(f"{API}/webhooks/{hook['id']}", json={"secret": "s" * 20}).json()["data"]
        assert rotated["secret"] == "s" * 20
        private = owner.patch(f"{API}/webhooks/{hook['id']}", json={"url": "http://10.0.0.7/hook"})
        assert private.status_code == 422 and private.json()["details"][0]["loc"] == ["body", "url"]

        # Every repo at once is for tenant admins only.
        everywhere = owner.post(f"{API}/webhooks", json={"name": "all", "url": url, "events": ["version.created"]})
        assert everywhere.status_code == 403 and "tenant administrators" in everywhere.json()["message"]

    with server.client(viewer) as client:  # reads the repo, does not administer it
        assert client.post(f"{API}/webhooks", json=body).status_code == 403
        assert client.get(f"{API}/webhooks/{hook['id']}").status_code == 403, "a readable repo: 403, not 404"
        assert client.get(f"{API}/webhooks").json()["data"] == []
    with server.client(outsider) as client:
        assert client.post(f"{API}/webhooks", json=body).status_code == 404
        assert client.delete(f"{API}/webhooks/{hook['id']}").status_code == 404
        assert client.get(f"{API}/webhooks/{hook['id']}/deliveries").status_code == 404
    with server.client(admin) as client:
        assert client.get(f"{API}/webhooks/{hook['id']}").status_code == 200
        assert hook["id"] in [
            item["id"] for item in client.get(f"{API}/webhooks", params={"limit": 1000}).json()["data"]
        ]
    with server.client(user) as owner:
        assert owner.delete(f"{API}/webhooks/{hook['id']}").json() == {}
        assert owner.get(f"{API}/webhooks/{hook['id']}").status_code == 404


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("url", "ftp://127.0.0.1/hook", "http:// or https://"),
        ("url", "http://10.1.2.3/hook", "private, loopback or reserved"),
        ("url", "http://169.254.169.254/latest/meta-data", "private, loopback or reserved"),
        ("url", "http://[::1]:8080/hook", "private, loopback or reserved"),
        ("url", "http://192.168.0.10/hook", "MLREGISTRY_WEBHOOK_ALLOWED_HOSTS"),
        ("url", "http://user:pw@127.0.0.1/hook", "credentials"),
        ("url", "not a url", "http:// or https://"),
        ("url", "http://a\u008fb.example/hook", "not a valid host name"),
        ("events", ["version.created", "model.exploded"], "'run.finished'"),
        ("secret", "short", "at least 16"),
        ("ml_repo_id", "999999999", "not found"),
    ],
)
def test_bad_registrations_name_the_field(
    server: LiveServer, admin: LiveUser, field: str, value: Any, fragment: str
) -> None:
    with server.client(admin) as client:
        repo = create_repo(client)
        body = {
            "name": "bad",
            "url": "http://127.0.0.1:9/hook",
            "events": ["version.created"],
            "ml_repo_id": repo["id"],
        }
        response = client.post(f"{API}/webhooks", json={**body, field: value})
    assert 400 <= response.status_code < 500, response.text
    error = response.json()
    assert fragment in response.text
    if response.status_code == 422:
        assert field in error["message"] or any(field in map(str, d["loc"]) for d in error.get("details") or [])


def test_every_event_type_arrives_signed(server: LiveServer, user: LiveUser, receiver: Receiver) -> None:
    path = hook_path()
    with server.client(user) as client:
        repo = create_repo(client)
        name = repo["manifest"]["name"]
        hook = register(client, receiver, path, ml_repo_id=repo["id"], secret="whsec-0123456789abcdef")
        v1 = apply_model_version(client, name, "clf", version_alias="v1-prod")  # created + alias
        v2 = apply_model_version(client, name, "clf")  # created
        alias_change = client.put(
            f"{API}/model-versions",
            json={"manifest": {**v1["manifest"], "version": 1, "version_alias": "v1-old"}},
        )
        assert alias_change.status_code == 200, alias_change.text
        tags = f"{API}/model-versions/tags"
        assert client.put(tags, json={"model_version_id": v1["id"], "tags": ["prod"]}).status_code == 200
        assert client.put(tags, json={"model_version_id": v2["id"], "tags": ["prod"], "force": True}).status_code == 200
        assert client.delete(f"{API}/model-versions/{v1['id']}").status_code == 200
        staged = stage(client, artifact_manifest(name, "broken"))
        failed = client.post(f"{API}/artifact-versions/mark-stage-failure", json={"id": staged["id"]})
        assert failed.status_code == 200, failed.text
        prompt = apply_prompt_version(client, name, "greeter")

    expected = [
        "version.created",
        "alias.moved",
        "version.created",
        "alias.moved",
        "tag.moved",
        "tag.moved",
        "version.deleted",
        "stage.failed",
        "prompt_version.created",
    ]
    # A batch is sent concurrently, so arrival order is not event order; `occurred_at` is.
    received = sorted(receiver.wait_for_count(path, len(expected)), key=lambda item: item.document["occurred_at"])
    by_type: dict[str, list[dict[str, Any]]] = {}
    for item in received:
        assert item.headers["content-type"] == "application/json"
        assert verify_signature("whsec-0123456789abcdef", item.headers["x-mlregistry-signature"], item.body)
        assert not verify_signature("another-secret-0000", item.headers["x-mlregistry-signature"], item.body)
        assert not verify_signature("whsec-0123456789abcdef", item.headers["x-mlregistry-signature"], item.body + b" ")
        document = item.document
        assert document["type"] == item.event_type and document["id"] == item.headers["x-mlregistry-event-id"]
        assert document["ml_repo"] == {"id": repo["id"], "name": name} and document["tenant"] == "acme"
        assert document["subject"]["subjectSlug"] == user.slug
        by_type.setdefault(item.event_type, []).append(document["data"])
    assert sorted(item.event_type for item in received) == sorted(expected)

    created = by_type["version.created"]
    assert [(data["id"], data["version"], data["fqn"]) for data in created] == [
        (v1["id"], 1, f"model:acme/{name}/clf:1"),
        (v2["id"], 2, f"model:acme/{name}/clf:2"),
    ]
    assert created[0]["type"] == "model-version" and created[0]["model_id"] == v1["model_id"]
    assert [(data["alias"], data["previous_alias"]) for data in by_type["alias.moved"]] == [
        ("v1-prod", None),
        ("v1-old", "v1-prod"),
    ]
    first_tag, moved_tag = by_type["tag.moved"]
    assert (first_tag["id"], first_tag["added"], first_tag["moved_from"]) == (v1["id"], ["prod"], {})
    assert (moved_tag["id"], moved_tag["added"], moved_tag["moved_from"]) == (v2["id"], ["prod"], {"prod": v1["id"]})
    assert [(data["id"], data["fqn"]) for data in by_type["version.deleted"]] == [
        (v1["id"], f"model:acme/{name}/clf:1")
    ]
    [stage_failure] = by_type["stage.failed"]
    assert stage_failure["id"] == staged["id"] and stage_failure["storage_root"] == staged["storage_root"]
    assert stage_failure["type"] == "artifact-version" and "fqn" not in stage_failure
    [prompt_created] = by_type["prompt_version.created"]
    assert prompt_created["id"] == prompt["id"] and prompt_created["fqn"] == prompt["fqn"]

    with server.client(user) as client:
        _wait_for(lambda: len(deliveries(client, hook["id"], status="delivered")) == len(expected))
        log = deliveries(client, hook["id"])
    assert len(log) == len(expected)
    assert {entry["status"] for entry in log} == {"delivered"} and {entry["attempts"] for entry in log} == {1}
    assert {entry["last_status_code"] for entry in log} == {200}
    assert {entry["id"] for entry in log} == {item.headers["x-mlregistry-delivery"] for item in received}


def test_filters_by_repo_and_event_and_nothing_for_refused_changes(
    server: LiveServer, user: LiveUser, admin: LiveUser, receiver: Receiver
) -> None:
    repo_path, tenant_path, paused_path = hook_path(), hook_path(), hook_path()
    with server.client(user) as client:
        mine, other = create_repo(client), create_repo(client)
        register(client, receiver, repo_path, ml_repo_id=mine["id"], events=["version.deleted", "tag.moved"])
        register(client, receiver, paused_path, ml_repo_id=mine["id"], active=False)
    with server.client(admin) as client:
        tenant_hook = register(client, receiver, tenant_path, events=["version.created"])  # every repo
    try:
        with server.client(user) as client:
            kept = apply_model_version(client, mine["manifest"]["name"], "a")
            dropped = apply_model_version(client, other["manifest"]["name"], "b")
            tags = f"{API}/model-versions/tags"
            assert client.put(tags, json={"model_version_id": kept["id"], "tags": ["x"]}).status_code == 200
            other_version = apply_model_version(client, mine["manifest"]["name"], "a")
            refused = client.put(tags, json={"model_version_id": other_version["id"], "tags": ["x"]})
            assert refused.status_code == 409, "a refused change is rolled back with its events"
            assert client.delete(f"{API}/model-versions/{dropped['id']}").status_code == 200  # other repo
            assert client.delete(f"{API}/model-versions/{kept['id']}").status_code == 200
        at_repo = sorted(receiver.wait_for_count(repo_path, 2), key=lambda item: item.document["occurred_at"])
        assert [item.event_type for item in at_repo] == ["tag.moved", "version.deleted"]
        assert [item.document["data"]["id"] for item in at_repo] == [kept["id"], kept["id"]]
        at_tenant = receiver.wait_for_count(tenant_path, 3)
        assert sorted(item.document["data"]["id"] for item in at_tenant) == sorted(
            [kept["id"], dropped["id"], other_version["id"]]
        )
        assert {item.document["ml_repo"]["id"] for item in at_tenant} == {mine["id"], other["id"]}
        assert receiver.at(paused_path) == [], "an inactive webhook receives nothing"
    finally:
        with server.client(admin) as client:
            assert client.delete(f"{API}/webhooks/{tenant_hook['id']}").status_code == 200


def test_retries_with_backoff_until_the_receiver_recovers(
    server: LiveServer, user: LiveUser, receiver: Receiver
) -> None:
    path = hook_path()
    receiver.fail_next(path, 2, status=503)
    with server.client(user) as client:
        repo = create_repo(client)
        hook = register(client, receiver, path, ml_repo_id=repo["id"], events=["version.created"])
        version = apply_model_version(client, repo["manifest"]["name"], "flaky")
        attempts = receiver.wait_for_count(path, 3)
        _wait_for_status(client, hook["id"], "delivered")
        log = deliveries(client, hook["id"])
    assert [item.headers["x-mlregistry-attempt"] for item in attempts] == ["1", "2", "3"]
    assert len({item.headers["x-mlregistry-delivery"] for item in attempts}) == 1, "one delivery, three attempts"
    assert {item.document["data"]["id"] for item in attempts} == {version["id"]}
    # Backoff: the worker waits the base delay (0.2 s in the tests) before the first retry, twice that next.
    first_gap, second_gap = attempts[1].at - attempts[0].at, attempts[2].at - attempts[1].at
    assert first_gap >= 0.15 and second_gap >= 0.35
    [entry] = log
    assert (entry["status"], entry["attempts"], entry["last_status_code"], entry["last_error"]) == (
        "delivered",
        3,
        200,
        None,
    )
    assert entry["delivered_at"] is not None and entry["payload"]["data"]["id"] == version["id"]


def test_failed_after_the_last_attempt_then_redelivered(server: LiveServer, user: LiveUser, receiver: Receiver) -> None:
    path = hook_path()
    receiver.fail_next(path, 3, status=500)  # the tests allow three attempts
    with server.client(user) as client:
        repo = create_repo(client)
        hook = register(client, receiver, path, ml_repo_id=repo["id"], events=["version.created"])
        apply_model_version(client, repo["manifest"]["name"], "down")
        receiver.wait_for_count(path, 3)
        failed = _wait_for_status(client, hook["id"], "failed")
        assert (failed["attempts"], failed["last_status_code"]) == (3, 500)
        assert failed["last_error"].startswith("HTTP 500") and failed["next_attempt_at"] is None
        assert deliveries(client, hook["id"], status="pending") == []

        again = client.post(f"{API}/webhooks/{hook['id']}/deliveries/{failed['id']}/redeliver")
        assert again.status_code == 200, again.text
        redelivery = again.json()["data"]
        assert redelivery["redelivery_of"] == failed["id"] and redelivery["event_id"] == failed["event_id"]
        assert redelivery["status"] == "pending" and redelivery["attempts"] == 0
        arrived = receiver.wait_for_count(path, 4)[-1]
        assert arrived.headers["x-mlregistry-delivery"] == redelivery["id"]
        assert arrived.headers["x-mlregistry-event-id"] == failed["event_id"]
        assert _wait_for_status(client, hook["id"], "delivered")["id"] == redelivery["id"]
        unknown = client.post(f"{API}/webhooks/{hook['id']}/deliveries/{uuid.uuid4()}/redeliver")
        assert unknown.status_code == 404
        assert client.get(f"{API}/webhooks/{hook['id']}/deliveries", params={"status": "lost"}).status_code == 422


def test_unreachable_target_records_the_error(server: LiveServer, user: LiveUser) -> None:
    with server.client(user) as client:
        repo = create_repo(client)
        body = {
            "name": "nobody-listens",
            "url": f"http://127.0.0.1:{free_port()}/hook",
            "events": ["version.created"],
            "ml_repo_id": repo["id"],
        }
        hook = client.post(f"{API}/webhooks", json=body).json()["data"]
        apply_model_version(client, repo["manifest"]["name"], "m")
        failed = _wait_for_status(client, hook["id"], "failed")
    assert failed["attempts"] == 3 and failed["last_status_code"] is None
    assert "ConnectError" in failed["last_error"]


def _wait_for(condition: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the condition did not become true in time")
        time.sleep(0.05)


def _wait_for_status(client: httpx.Client, webhook_id: str, status: str) -> dict[str, Any]:
    """The newest delivery of the webhook once one has `status` (the log is written after the receiver answers)."""
    _wait_for(lambda: bool(deliveries(client, webhook_id, status=status)))
    return deliveries(client, webhook_id, status=status)[0]
