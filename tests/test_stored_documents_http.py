"""Stored JSON documents (manifests, subjects) read back exactly as written, on either database: the fast
decoder must never turn a big integer into a float, nor reorder or drop anything."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from mlregistry.repositories.database import load_document
from tests.factories import API, apply_model_version, create_repo
from tests.live import LiveServer, LiveUser

METADATA: dict[str, Any] = {
    "zeta": 1,
    "alpha": 2,
    "beyond_64_bits": 2**70,
    "beyond_64_bits_negative": -(2**65),
    "nineteen_digits": 1234567890123456789,
    "largest_int64": 2**63 - 1,
    "pi": math.pi,
    "tiny": 5e-324,
    "huge_float": 1.7976931348623157e308,
    "text": 'héllo ☃ \u2028 "quoted" \\ back',
    "nested": [{"b": [2**100, 0.1, None, True]}, []],
}


def test_a_manifest_reads_back_exactly_as_written_in_a_get_and_in_lists(server: LiveServer, user: LiveUser) -> None:
    with server.client(user) as client:
        repo = create_repo(client)
        created = apply_model_version(client, repo["manifest"]["name"], "exact", metadata=METADATA)
        fetched = client.get(f"{API}/model-versions/{created['id']}").json()["data"]
        listed = client.get(f"{API}/model-versions", params={"model_id": created["model_id"]}).json()["data"]
        models = client.get(f"{API}/models", params={"ml_repo_id": repo["id"], "name": "exact"}).json()["data"]
    for document in (created, fetched, listed[0], models[0]["latest_version"]):
        metadata = document["manifest"]["metadata"]
        assert metadata == METADATA
        assert list(metadata) == list(METADATA)  # key order kept
        assert type(metadata["beyond_64_bits"]) is int and type(metadata["nested"][0]["b"][0]) is int


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 18446744073709551616, "b": [1, 2.5]}',
        "[-9223372036854775809]",
        "123456789012345678901234567890",
        '{"id": "49e01757-a3c2-49cc-a4d8-9c5e8f15d76a", "n": 9223372036854775807}',
        '"\\ud800 lone surrogate"',
        '{"dup": 1, "dup": 2}',
        '{"k": "h\\u00e9 \\u2603", "f": 0.1, "e": 1e-7, "z": -0.0}',
        "[1e400, NaN, -Infinity]",
    ],
)
def test_load_document_decodes_every_document_as_the_standard_library_does(text: str) -> None:
    expected, got = json.loads(text), load_document(text)
    assert repr(got) == repr(expected)  # repr: tells 1 from 1.0, keeps nan comparable, shows key order
