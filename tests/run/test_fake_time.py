"""The run's time is injected: polling schedule, task timeout, resume grace and rate limit,
pinned on a fake clock against the real simulator, without waiting for any of them."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from _support.campaign import KEY, Campaign

from seedance_batch import RunOptions, RunSummary, load_manifest, run
from seedance_batch.cli._errors import run_exit_code
from seedance_batch.lockfile import JobRecord, read_lockfile
from seedance_batch.simulator import SimulatorConfig, serve

#: Tasks of this latency (real seconds) never end while a test runs.
NEVER = 600.0
#: The fake wall clock starts at a whole second, so that timestamps lose nothing.
EPOCH = 1_800_000_000.0
POLL_INTERVAL, POLL_MAX, TASK_TIMEOUT = 2.0, 10.0, 60.0
#: Polls come at most this much later than their schedule (the run's jitter), never earlier.
JITTER = 1.05


class FakeTime:
    """A monotonic and a wall clock that move only when the run sleeps (as stamina's tests
    do): a sleep returns at once, with the clock where that sleep would have woken, never back.
    Sleeps that overlap in the run move it to the latest of their ends, not their sum."""

    def __init__(self, wall: float = EPOCH) -> None:
        self.now = 0.0
        self.wall_start = wall
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return self.wall_start + self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        wake = self.now + seconds
        await asyncio.sleep(0)  # the loop still turns: other tasks run, answers arrive
        self.now = max(self.now, wake)

    def options(self, base_url: str, **more: Any) -> RunOptions:
        return RunOptions(
            base_url=base_url,
            clock=self.monotonic,
            wall_clock=self.wall,
            sleep=self.sleep,
            seed=7,
            **more,
        )


def _pair(campaign: Campaign) -> JobRecord:
    snapshot = read_lockfile(campaign.lockfile)
    assert snapshot is not None
    (record,) = [r for r in snapshot.jobs.values() if r.job == "pair"]
    return record


def _run_pair(campaign: Campaign, fake: FakeTime, base_url: str) -> tuple[RunSummary, float]:
    """One run of the campaign's `pair` job on ``fake`` time; its summary and real seconds."""
    started = time.monotonic()
    summary = run(
        load_manifest(campaign.manifest),
        fake.options(
            base_url,
            only=("pair",),
            poll_interval=POLL_INTERVAL,
            poll_max=POLL_MAX,
            task_timeout=TASK_TIMEOUT,
        ),
        api_key=KEY,
    )
    return summary, time.monotonic() - started


def _schedule(count: int, *, fresh: bool) -> list[float]:
    """The waits before polls without jitter: poll_interval before a fresh task's first
    poll, then poll_interval growing 1.5x to poll_max (a resumed task is polled at once)."""
    waits: list[float] = [POLL_INTERVAL] if fresh else []
    wait = POLL_INTERVAL
    while len(waits) < count:
        waits.append(wait)
        wait = min(wait * 1.5, POLL_MAX)
    return waits


def _assert_on_schedule(sleeps: list[float], expected: list[float]) -> None:
    assert len(sleeps) == len(expected)
    for slept, planned in zip(sleeps, expected, strict=True):
        assert planned <= slept <= planned * JITTER, (sleeps, expected)


def test_the_first_poll_waits_poll_interval_and_the_waits_grow_to_poll_max(
    campaign: Campaign,
) -> None:
    """A fresh task is first polled poll_interval after its create, then after waits growing
    1.5x up to poll_max: 2, 2, 3, 4.5, 6.75, 10, 10 ... fake seconds, one poll after each."""
    fake = FakeTime()
    with serve(SimulatorConfig(seed=120, latency=NEVER)) as sim:
        summary, real = _run_pair(campaign, fake, sim.base_url)
        polls = sum(sim.counters.polls.values())
    _assert_on_schedule(fake.sleeps, _schedule(len(fake.sleeps), fresh=True))
    assert max(fake.sleeps) <= POLL_MAX * JITTER
    assert polls == len(fake.sleeps)
    assert summary.elapsed == fake.now  # the summary's time is the run's clock too
    assert real < fake.now / 4


def test_a_task_past_its_timeout_stays_submitted_exits_1_and_is_polled_next_run(
    campaign: Campaign,
) -> None:
    """A task still running at task_timeout (fake seconds): the run stops polling at the first
    poll past it, the job stays submitted, exit 1; the next run polls it, creates nothing."""
    fake = FakeTime()
    with serve(SimulatorConfig(seed=121, latency=NEVER)) as sim:
        first, real = _run_pair(campaign, fake, sim.base_url)
        first_sleeps = list(fake.sleeps)
        assert _pair(campaign).state == "submitted"
        creates = sim.counters.creates
        second, _ = _run_pair(campaign, fake, sim.base_url)
        assert sim.counters.creates == creates == 1
    assert sum(first_sleeps[:-1]) < TASK_TIMEOUT <= sum(first_sleeps)  # deadline, then one
    assert first.timed_out == 1 and run_exit_code(first) == 1
    assert "after the task timeout" in first.messages[0]
    assert TASK_TIMEOUT <= first.elapsed <= TASK_TIMEOUT + POLL_MAX * JITTER
    assert run_exit_code(second) == 1 and _pair(campaign).state == "submitted"
    assert real < TASK_TIMEOUT / 4


@pytest.mark.parametrize(
    ("submitted_ago", "polled_for"),
    [(3600.0, POLL_MAX), (20.0, TASK_TIMEOUT - 20.0)],
)
def test_a_resumed_task_is_polled_at_once_for_what_its_timeout_left_or_poll_max(
    campaign: Campaign, submitted_ago: float, polled_for: float
) -> None:
    """A task an earlier run made is polled at once, then for what its task_timeout has left
    by the wall clock (submitted 20 s ago: 40 s more), but never less than poll_max (submitted
    an hour ago: 10 s of grace), and stays submitted."""
    fake = FakeTime()
    with serve(SimulatorConfig(seed=122, latency=NEVER)) as sim:
        _run_pair(campaign, fake, sim.base_url)  # leaves the task submitted
        submitted_at = fake.wall_start  # the create left at fake time 0
        later = FakeTime(wall=submitted_at + submitted_ago)
        polls_before = sum(sim.counters.polls.values())
        summary, _ = _run_pair(campaign, later, sim.base_url)
        polls = sum(sim.counters.polls.values()) - polls_before
    assert polls == len(later.sleeps) + 1  # the first poll at once, one after each wait
    _assert_on_schedule(later.sleeps, _schedule(len(later.sleeps), fresh=False))
    assert sum(later.sleeps[:-1]) < polled_for <= later.now
    assert summary.timed_out == 1 and _pair(campaign).state == "submitted"


def test_the_rate_limit_spaces_requests_on_the_run_clock(campaign: Campaign) -> None:
    """requests_per_second 2 over the whole campaign: the run's clock shows at least half a
    second between API requests (creates and polls together), with no real time spent on it."""
    fake = FakeTime()
    with serve(SimulatorConfig(seed=123)) as sim:
        started = time.monotonic()
        summary = run(
            load_manifest(campaign.manifest),
            fake.options(sim.base_url, requests_per_second=2.0, poll_interval=0.1),
            api_key=KEY,
        )
        real = time.monotonic() - started
        counters = sim.counters
    assert run_exit_code(summary) == 0, summary.messages
    api_requests = counters.create_requests + sum(counters.polls.values())
    assert api_requests >= 24  # 12 creates, a poll or more each
    assert summary.elapsed >= (api_requests - 1) / 2.0
    assert real < summary.elapsed / 2
