"""The client against every answer variant of the simulator (contract sections 1 and 8)."""

from __future__ import annotations

import asyncio
import math
import random
from pathlib import Path
from typing import Any

import pytest

from seedance_batch._run_files import ImageFile
from seedance_batch.client import RetryEvent, RetryPolicy, SeedanceClient, Task
from seedance_batch.simulator import SimulatorConfig, Variants, serve
from seedance_batch.simulator._config import (
    ENVELOPE_CHOICES,
    ID_FIELD_CHOICES,
    STATUS_WORDS_CHOICES,
    URL_PLACEMENT_CHOICES,
)

pytestmark = pytest.mark.sockets  # the real simulator

KEY = "sk-sim-variants-0123"


def client_for(base_url: str, events: list[RetryEvent] | None = None) -> SeedanceClient:
    return SeedanceClient(
        base_url,
        KEY,
        requests_per_second=math.inf,
        retry=RetryPolicy(base=0.05, cap=0.2),
        rng=random.Random(1),
        on_retry=None if events is None else events.append,
    )


def one_task(config: SimulatorConfig, tmp_path: Path, n: int = 2) -> tuple[Task, list[int]]:
    """Create one task, poll it once (latency 0), download its images: the task and sizes."""

    async def main(base_url: str) -> tuple[Task, list[int]]:
        async with client_for(base_url) as client:
            outcome = await client.create({"prompt": "a red apple", "n": n}, "idem-1")
            task = await client.get_task(outcome.task.id)
            sizes = []
            for k, url in enumerate(task.image_urls):
                sizes.append((await client.download(url, ImageFile(tmp_path / f".{k}.part"))).bytes)
            return task, sizes

    with serve(config) as sim:
        return asyncio.run(main(sim.base_url))


@pytest.mark.parametrize("words", STATUS_WORDS_CHOICES)
@pytest.mark.parametrize("fails", [False, True])
def test_status_words(words: Any, fails: bool, tmp_path: Path) -> None:
    """Every style of status words ends a task as it ended (seen: GENERATE_FAILED polled 900 s)."""
    config = SimulatorConfig(seed=3, fail_rate=float(fails), variants=Variants(status_words=words))
    task, sizes = one_task(config, tmp_path)
    assert task.status == ("failed" if fails else "succeeded")
    assert len(sizes) == (0 if fails else 2)
    assert (task.error is not None) == fails
    assert not task.policy_rejection


@pytest.mark.parametrize("envelope", ENVELOPE_CHOICES)
@pytest.mark.parametrize("id_field", ID_FIELD_CHOICES)
def test_envelopes_and_id_fields(envelope: Any, id_field: Any, tmp_path: Path) -> None:
    """Every envelope (bare, data, code, data list) and id field reads as the same task."""
    config = SimulatorConfig(seed=5, variants=Variants(envelope=envelope, id_field=id_field))
    task, sizes = one_task(config, tmp_path)
    assert task.id.startswith("task_") and task.status == "succeeded"
    assert len(sizes) == 2


@pytest.mark.parametrize("placement", URL_PLACEMENT_CHOICES)
def test_url_placements(placement: Any, tmp_path: Path) -> None:
    """Image URLs are found in every place the simulator puts them (seen: data.result.images)."""
    config = SimulatorConfig(seed=7, variants=Variants(url_placement=placement, envelope="code"))
    task, sizes = one_task(config, tmp_path)
    assert len(task.image_urls) == 2 and len(sizes) == 2
    assert task.warning is None


@pytest.mark.parametrize("flag", ["with_status", "only"])
@pytest.mark.parametrize("fails", [False, True])
def test_success_flag(flag: Any, fails: bool, tmp_path: Path) -> None:
    """successFlag ends the task, with or without a status word."""
    config = SimulatorConfig(fail_rate=float(fails), variants=Variants(success_flag=flag))
    task, _ = one_task(config, tmp_path)
    assert task.status == ("failed" if fails else "succeeded")


def test_policy_rejections_are_final(tmp_path: Path) -> None:
    """A moderation rejection with a reseller's word is a failure marked policy_rejection."""
    config = SimulatorConfig(seed=2, variants=Variants(policy_rate=1.0, status_words="reseller"))
    task, _ = one_task(config, tmp_path)
    assert task.status == "failed" and task.policy_rejection
    assert task.status_word in {"SENSITIVE_WORD_ERROR", "CONTENT_POLICY_VIOLATION", "NSFW_BLOCKED"}


def test_ordinary_failures_are_not_policy_rejections(tmp_path: Path) -> None:
    """The simulator's ordinary failures never read as policy rejections (they may be resent)."""
    for seed in range(8):
        task, _ = one_task(SimulatorConfig(seed=seed, fail_rate=1.0), tmp_path)
        assert task.status == "failed" and not task.policy_rejection


@pytest.mark.parametrize("form", ["body_text", "body_field", "seconds"])
def test_waits_in_the_body_are_honoured(form: Any) -> None:
    """A 429 whose wait is only in its body is waited out like Retry-After (1 s)."""
    events: list[RetryEvent] = []
    config = SimulatorConfig(rate_limit=1, variants=Variants(retry_after=form))

    async def main(base_url: str) -> None:
        async with client_for(base_url, events) as client:
            await client.create({"prompt": "p"}, "k-1")
            await client.create({"prompt": "p"}, "k-2")

    with serve(config) as sim:
        asyncio.run(main(sim.base_url))
    assert [e.status for e in events] == [429]
    assert events[0].delay == 1.0
