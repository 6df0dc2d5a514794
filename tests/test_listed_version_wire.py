"""A list page's item is made from its row's content as read (`listed_version_to_wire`), without building the
version record a get shows (`version_to_wire`): both must give the same wire item, byte for byte."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from mlregistry.encoded import encode_item
from mlregistry.repositories.versions import ListedVersions, VersionRecord
from mlregistry.services.families import ARTIFACT, CHAT_PROMPT, MODEL, Family
from mlregistry.services.presenters import iso, listed_version_to_wire, version_to_wire

CREATED = datetime(2026, 12, 7, 4, 32, 47, 788866, tzinfo=UTC)


def _content(**changes: Any) -> tuple[Any, ...]:
    """A row as a list reads it: the version's columns (its JSON documents as their stored text), then its
    entity's and ML repo's names."""
    values: dict[str, Any] = {
        "id": "2b0f5c1e-0d0a-4f57-9d53-6c1f3cf4e8a1",
        "entity_id": "7d3c8a55-1a57-4bfe-8a84-5fb08b0c6a0e",
        "ml_repo_id": 3,
        "family": "model",
        "version": 4,
        "state": "FINALIZED",
        "manifest": json.dumps(
            {
                "name": "clf",
                "type": "model-version",
                "framework": {"type": "sklearn"},
                "source": {"type": "external", "uri": "s3://b/clf/4"},
                "metadata": {"é": 1.5},
            }
        ),
        "version_alias": None,
        "run_id": None,
        "step": 0,
        "storage_root": None,
        "tags": json.dumps(["prod"]),
        "metrics": json.dumps([{"key": "auc", "value": 0.91, "step": 0, "timestamp": 7}]),
        "created_by_subject": json.dumps({"subjectId": "u1", "subjectType": "user", "subjectSlug": "ana"}),
        "created_at": CREATED,
        "updated_at": CREATED,
    }
    values.update(changes)
    return tuple(values[name] for name in VersionRecord._fields) + ("clf", "team-repo")


CASES = {
    "plain": {},
    "aliased": {"version_alias": "v-best"},
    "changed later": {"updated_at": CREATED + timedelta(seconds=90)},
    "same moment, another zone": {"updated_at": CREATED.astimezone(timezone(timedelta(hours=2)))},
    "no documents": {"tags": None, "metrics": None},
    "empty documents": {"tags": "[]", "metrics": "[]"},
    "integer beyond 64 bits": {"manifest": '{"name": "clf", "metadata": {"n": 123456789012345678901234}}'},
}


@pytest.mark.parametrize("family", [MODEL, ARTIFACT, CHAT_PROMPT], ids=lambda family: family.name)
@pytest.mark.parametrize("case", CASES)
def test_a_listed_item_is_the_item_its_record_makes(family: Family, case: str) -> None:
    content = _content(**CASES[case])
    expected = encode_item(version_to_wire(ListedVersions([content]).record(content), family, "acme"))
    assert encode_item(listed_version_to_wire(ListedVersions([content]), content, family, "acme")) == expected


def test_run_metrics_replace_the_stored_ones_in_both() -> None:
    content = _content()
    linked = [{"key": "auc", "value": 0.97, "step": 0, "timestamp": 9}]
    page = ListedVersions([content])
    listed = listed_version_to_wire(page, content, MODEL, "acme", run_metrics=linked)
    assert listed == version_to_wire(page.record(content), MODEL, "acme", run_metrics=linked)
    assert listed["metrics"] == linked


def test_items_of_one_page_do_not_share_their_lists() -> None:
    """Versions with the same tags text share one decoded document; each item gets its own list."""
    first, second = _content(), _content(id="other")
    page = ListedVersions([first, second])
    one, two = (listed_version_to_wire(page, content, MODEL, "acme") for content in (first, second))
    one["tags"].append("changed")
    assert two["tags"] == ["prod"]
    assert page.document(first[VersionRecord._fields.index("tags")]) == ["prod"]


@pytest.mark.parametrize("case", CASES)
def test_each_moment_is_shown_as_it_is_stored(case: str) -> None:
    """`updated_at` takes `created_at`'s text only when it is the same moment written the same way."""
    content = _content(**CASES[case])
    item = listed_version_to_wire(ListedVersions([content]), content, MODEL, "acme")
    updated_at = content[VersionRecord._fields.index("updated_at")]
    assert (item["created_at"], item["updated_at"]) == (iso(CREATED), iso(updated_at))
    if case == "same moment, another zone":
        assert item["updated_at"] == "2026-12-07T06:32:47.788866+02:00" != item["created_at"]
