"""The stuck cases get a way out: a task the API forgot (404), a create answered 409; and at
most ``n`` images are taken from a task."""

from __future__ import annotations

import json
from typing import Any

from _support.campaign import KEY, Campaign
from _support.fakeapi import fake_api

from seedance_batch import RunOptions, RunSummary, load_manifest, run
from seedance_batch._events import Notice
from seedance_batch.cli._errors import run_exit_code
from seedance_batch.client import RetryPolicy
from seedance_batch.lockfile import JobRecord, read_lockfile
from seedance_batch.simulator import SimulatorConfig, serve

FAST_RETRIES = RetryPolicy(base=0.01, cap=0.05, max_retries=3)


def _pair(campaign: Campaign) -> JobRecord:
    snapshot = read_lockfile(campaign.lockfile)
    assert snapshot is not None
    (record,) = [r for r in snapshot.jobs.values() if r.job == "pair"]
    return record


def _run_pair(campaign: Campaign, base_url: str, **options: Any) -> RunSummary:
    return run(
        load_manifest(campaign.manifest),
        RunOptions(base_url=base_url, only=("pair",), retry=FAST_RETRIES, **options),
        api_key=KEY,
    )


def test_a_task_missing_on_two_runs_is_failed_and_retry_failed_submits_it(
    campaign: Campaign,
) -> None:
    """A task the API answers 404 for: left on the first such run, failed on the second with
    a message saying so, and ``--retry-failed`` then submits the job again and succeeds."""
    with serve(SimulatorConfig(seed=110, latency=60.0)) as slow:
        first = _run_pair(campaign, slow.base_url, task_timeout=0.3, poll_max=0.1)
    assert run_exit_code(first) == 1 and _pair(campaign).state == "submitted"
    with serve(SimulatorConfig(seed=111)) as other:  # a new API: it knows no earlier task
        second = _run_pair(campaign, other.base_url)
        assert _pair(campaign).state == "submitted"
        assert _pair(campaign).task_missing == 1
        third = _run_pair(campaign, other.base_url)
        record = _pair(campaign)
        assert record.state == "failed" and record.task_missing == 2
        assert "no longer knows task" in (record.error or "")
        assert "--retry-failed" in (record.error or "")
        creates = other.counters.creates
        fourth = _run_pair(campaign, other.base_url, retry_failed=True)
        assert other.counters.creates == creates + 1
    assert run_exit_code(second) == run_exit_code(third) == 1
    assert third.failed == 1 and "no longer knows task" in third.messages[0]
    assert run_exit_code(fourth) == 0
    assert _pair(campaign).state == "succeeded" and _pair(campaign).task_missing == 0


def test_a_create_answered_409_keeps_its_key_for_the_next_attempt(campaign: Campaign) -> None:
    """A create the API keeps answering 409 leaves the job new with the same attempt: the
    next run sends the same Idempotency-Key, and when the API takes it, the job succeeds."""
    conflict = {"error": {"message": "a request with this key is in progress"}}
    answers: dict[str, tuple[int, dict[str, Any]]] = {"create": (409, conflict)}
    task: dict[str, Any] = {"id": "t-409", "status": "succeeded"}

    with fake_api(lambda _key: answers["create"], lambda _id: (200, task)) as api:
        task["data"] = [{"imageUrls": [api.image_url("a"), api.image_url("b")]}]
        first = _run_pair(campaign, api.base_url)
        keys_first = set(api.creates)
        assert _pair(campaign).state == "new"
        second = _run_pair(campaign, api.base_url)
        answers["create"] = (200, task)
        third = _run_pair(campaign, api.base_url)
    assert len(keys_first) == 1
    assert set(api.creates) == keys_first  # every create of the three runs: the same key
    assert run_exit_code(first) == run_exit_code(second) == 1
    assert "409" in first.messages[0]
    assert run_exit_code(third) == 0, third.messages
    assert _pair(campaign).attempts == 1


def test_at_most_n_images_are_taken_from_a_task(campaign: Campaign) -> None:
    """A task of ``n: 2`` answering five URLs: two are downloaded, the other three are named
    in a warning."""
    task: dict[str, object] = {"id": "t-many", "status": "succeeded"}
    with fake_api(lambda _key: (200, task), lambda _id: (200, task)) as api:
        urls = [api.image_url(name) for name in "abcde"]
        task["data"] = [{"imageUrls": urls}]
        events: list[object] = []
        summary = run(
            load_manifest(campaign.manifest),
            RunOptions(base_url=api.base_url, only=("pair",), retry=FAST_RETRIES),
            api_key=KEY,
            on_event=events.append,
        )
        requested = list(api.image_requests)
    assert run_exit_code(summary) == 0
    assert summary.images_saved == 2
    assert requested == ["/img/a.png", "/img/b.png"]
    record = _pair(campaign)
    assert [image.url for image in record.images] == urls[:2]
    warnings = [e.message for e in events if isinstance(e, Notice)]
    (warning,) = [w for w in warnings if "dropped" in w]
    for url in urls[2:]:
        assert url in warning
    lines = (campaign.out / "results.jsonl").read_text().splitlines()
    assert [json.loads(line)["url"] for line in lines] == urls[:2]
