"""The README's webhook examples run as written against a fresh server, and its signature check (which the
webhook tests use as their receiver's check) accepts what the server signs and refuses tampering and replays."""

from __future__ import annotations

import hashlib
import hmac
import time
from pathlib import Path

from tests.processes import cli_env, run_readme_block, serving
from tests.webhook_receiver import receiving, verify_signature

TOKEN = "tfy_readme_webhook_token_0123456789"
SECRET = "whsec-demo-0123456789"  # the secret the README example registers


def test_readme_webhook_examples(tmp_path: Path) -> None:
    env = cli_env(
        tmp_path,
        MLREGISTRY_BOOTSTRAP_TOKEN=TOKEN,
        MLREGISTRY_TENANT_NAME="mlregistry",
        MLREGISTRY_WEBHOOK_ALLOWED_HOSTS="127.0.0.1",
        MLREGISTRY_WEBHOOK_POLL_INTERVAL_SECONDS="0.1",
    )
    with receiving() as receiver, serving(env) as url:
        version, listed, log = run_readme_block("tested-webhook-examples", url, TOKEN, RECEIVER_URL=receiver.url)
        arrived = receiver.wait_for_count("/hooks/ci", 2)
    assert version["data"]["fqn"] == "model:mlregistry/hooks-demo/scorer:1"
    [hook] = listed["data"]
    assert hook["url"] == f"{receiver.url}/hooks/ci" and hook["events"] == ["version.created", "alias.moved"]
    assert sorted(entry["event_type"] for entry in log["data"]) == ["alias.moved", "version.created"]
    assert sorted(item.event_type for item in arrived) == ["alias.moved", "version.created"]
    for item in arrived:
        header = item.headers["x-mlregistry-signature"]
        assert verify_signature(SECRET, header, item.body)
        assert not verify_signature(SECRET, header, item.body.replace(b"scorer", b"scorex"))
        assert not verify_signature("whsec-other-0123456789", header, item.body)
        assert item.document["data"]["fqn"] == "model:mlregistry/hooks-demo/scorer:1"


def test_readme_signature_check_refuses_replays() -> None:
    body = b'{"id": "e1"}'
    stale = int(time.time()) - 3600
    digest = hmac.new(SECRET.encode(), f"{stale}.".encode() + body, hashlib.sha256).hexdigest()
    assert not verify_signature(SECRET, f"t={stale},v1={digest}", body), "a signature an hour old is a replay"
    fresh = int(time.time())
    digest = hmac.new(SECRET.encode(), f"{fresh}.".encode() + body, hashlib.sha256).hexdigest()
    assert verify_signature(SECRET, f"t={fresh},v1={digest}", body)
    assert not verify_signature(SECRET, "garbage", body)
