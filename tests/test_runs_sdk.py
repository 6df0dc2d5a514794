"""The official truefoundry-sdk's 12 runs calls against a live server, with search pagination."""

from __future__ import annotations

import pytest
import truefoundry_sdk as tfs
from truefoundry_sdk.core.api_error import ApiError
from truefoundry_sdk.errors import NotFoundError

from tests.factories import unique
from tests.live import LiveServer, LiveUser
from tests.test_core_sdk import NO_RETRY, make_repo, sdk


def test_every_runs_call_of_the_sdk(server: LiveServer, user: LiveUser) -> None:
    client = sdk(server, user)
    repo = make_repo(client, user)
    created = client.runs.create(
        experiment_id=repo.id, name="sdk-run", start_time=1000.0, tags=[tfs.RunTagInput(key="team", value="a")]
    ).run
    run_id = created.info.run_id
    assert created.info.fqn == f"acme/{repo.manifest.name}/sdk-run" and created.info.status == "RUNNING"
    assert client.runs.get(run_id).run.data.tags == [tfs.RunTag(key="team", value="a")]
    client.runs.log_metric(run_id, key="loss", value=0.5, timestamp=10.0, step=1.0)
    client.runs.log_metric(run_id, key="loss", value=0.25, timestamp=20.0, step=2.0)
    client.runs.log_parameter(run_id, key="lr", value="0.1")
    client.runs.set_tag(run_id, key="team", value="b")
    client.runs.set_tag(run_id, key="tmp", value="x")
    client.runs.delete_tag(run_id, key="tmp")
    client.runs.log_batch(
        run_id,
        metrics=[tfs.Metric(key="acc", value=0.1 * i, timestamp=30.0 + i, step=float(i)) for i in range(5)],
        params=[tfs.RunParam(key="depth", value="6")],
        tags=[tfs.RunTag(key="stage", value="train")],
    )
    with pytest.raises(ApiError) as changed:
        client.runs.log_parameter(run_id, key="lr", value="0.2", request_options=NO_RETRY)
    assert changed.value.status_code == 422
    data = client.runs.get(run_id).run.data
    assert {param.key: param.value for param in data.params} == {"depth": "6", "lr": "0.1"}
    assert {tag.key: tag.value for tag in data.tags} == {"stage": "train", "team": "b"}
    assert {metric.key: metric.value for metric in data.metrics} == {"acc": pytest.approx(0.4), "loss": 0.25}
    history = client.runs.get_metric_history(run_id, metric_key="loss").metrics
    assert [(point.step, point.value) for point in history] == [(1, 0.5), (2, 0.25)]
    collections = client.runs.list_metric_history(run_id, metric_keys=["acc"], step=3.0).metric_collections
    assert [(collection.key, [point.step for point in collection.metrics]) for collection in collections] == [
        ("acc", [3])
    ]
    info = client.runs.update(run_id, status="FINISHED", end_time=5000.0, description="done").run_info
    assert info.status == "FINISHED" and info.end_time == 5000 and info.description == "done"
    client.runs.delete(run_id)
    with pytest.raises(NotFoundError):
        client.runs.get(run_id, request_options=NO_RETRY)


def test_sdk_search_follows_page_tokens(server: LiveServer, user: LiveUser) -> None:
    client = sdk(server, user)
    repo = make_repo(client, user)
    for index in range(5):
        run = client.runs.create(experiment_id=repo.id, name=f"p{index}", start_time=float(1000 + index)).run
        client.runs.log_metric(run.info.run_id, key="score", value=float(index), timestamp=1.0)
    pager = client.runs.search(experiment_ids=[repo.id], max_results=2.0, order_by=["metrics.score ASC"])
    assert [run.info.name for run in pager] == [f"p{index}" for index in range(5)]
    first = client.runs.search(experiment_ids=[repo.id], max_results=2.0, filter="metrics.score >= 1")
    assert first.response is not None and first.response.total == 4
    by_fqn = list(client.runs.search(fqn=f"acme/{repo.manifest.name}/p3", max_results=1.0))
    assert [run.info.name for run in by_fqn] == ["p3"]
    assert list(client.runs.search(name=unique("none"), experiment_id=repo.id)) == []
