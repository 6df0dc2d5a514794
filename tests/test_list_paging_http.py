"""Offset pages of version lists, whichever end of the index a page is read from: every window equals the
same slice of the whole list, the total stays exact, and pages past the end are empty."""

from __future__ import annotations

from typing import Any

from tests.factories import API, apply_model_version, create_repo
from tests.live import LiveServer, LiveUser

LIMIT = 4


def test_every_offset_page_is_the_slice_of_the_whole_list(server: LiveServer, user: LiveUser) -> None:
    with server.client(user) as client:
        repo = create_repo(client)
        name = repo["manifest"]["name"]
        first = [apply_model_version(client, name, "deep") for _ in range(13)]
        other = [apply_model_version(client, name, f"other-{index}") for index in range(6)]
        client.delete(f"{API}/model-versions/{first[5]['id']}")  # a gap in the numbers
        for version in [first[7], *other[::2]]:  # tags are unique per model: one `gold` in each of four
            tagged = {"model_version_id": version["id"], "tags": ["gold"]}
            assert client.put(f"{API}/model-versions/tags", json=tagged).status_code == 200
        model_id = first[0]["model_id"]

        def page(offset: int, limit: int, **params: Any) -> tuple[list[str], int]:
            answer = client.get(f"{API}/model-versions", params={**params, "offset": offset, "limit": limit})
            assert answer.status_code == 200, answer.text
            body = answer.json()
            assert body["pagination"]["offset"] == offset and body["pagination"]["limit"] == limit
            return [item["id"] for item in body["data"]], body["pagination"]["total"]

        for params in ({"model_id": model_id}, {"ml_repo_id": repo["id"]}, {"ml_repo_id": repo["id"], "tag": "gold"}):
            whole, total = page(0, 100, **params)
            assert total == len(whole)
            for offset in range(total + 2):
                assert page(offset, LIMIT, **params) == (whole[offset : offset + LIMIT], total), (params, offset)
            assert page(total - 1, 1, **params) == (whole[-1:], total)
        assert len(page(0, 100, model_id=model_id)[0]) == 12
        assert len(page(0, 100, ml_repo_id=repo["id"])[0]) == 18 == 12 + len(other)
        assert len(page(0, 100, ml_repo_id=repo["id"], tag="gold")[0]) == 4
        newest_first, _ = page(0, 100, model_id=model_id)
        assert newest_first == [version["id"] for version in reversed(first) if version is not first[5]]
