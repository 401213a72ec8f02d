"""The run's time is injected: polling schedule, task timeout, resume grace and rate limit,
pinned on a fake clock against the real simulator, without waiting for any of them."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from _support.campaign import KEY, Campaign
from _support.fake_time import FakeTime
from _support.simulator import CREATE

from seedance_batch import RunSummary, load_manifest, run
from seedance_batch.cli._errors import run_exit_code
from seedance_batch.lockfile import JobRecord, read_lockfile
from seedance_batch.simulator import SimulatorConfig, serve

#: Tasks of this latency (real seconds) never end while a test runs.
NEVER = 600.0
POLL_INTERVAL, POLL_MAX, TASK_TIMEOUT = 2.0, 10.0, 60.0
#: Polls come at most this much later than their schedule (the run's jitter), never earlier.
JITTER = 1.05


def test_overlapping_fake_sleeps_each_wake_at_their_own_time() -> None:
    """Three sleeps at once (5, 3 and 5 fake seconds): each returns with the clock at its own
    wake, the shortest first, and the clock ends at 5, not at their sum."""
    fake = FakeTime()
    woke: list[tuple[float, float]] = []

    async def nap(seconds: float) -> None:
        await fake.sleep(seconds)
        woke.append((seconds, fake.monotonic()))

    async def naps() -> None:
        await asyncio.gather(nap(5.0), nap(3.0), nap(5.0))

    asyncio.run(naps())
    assert woke == [(3.0, 3.0), (5.0, 5.0), (5.0, 5.0)]
    assert fake.sleeps == [5.0, 3.0, 5.0] and fake.now == 5.0


def _sleep_beside_a_slow_create(fake: FakeTime) -> tuple[dict[str, float], float]:
    """A fake sleep of 10 s beside a create the simulator answers 0.3 real seconds late: the
    fake times at which the answer came and the sleep woke, and the task's fake creation."""
    seen: dict[str, float] = {}

    async def create(base_url: str) -> None:
        headers = {"Authorization": f"Bearer {KEY}"}
        async with httpx.AsyncClient(base_url=base_url, headers=headers) as client:
            answer = await client.post(CREATE, json={"prompt": "a red apple"})
        assert answer.status_code == 200, answer.text
        seen["answered"] = fake.monotonic()

    async def nap() -> None:
        await fake.sleep(10.0)
        seen["woke"] = fake.monotonic()

    async def both(base_url: str) -> None:
        await asyncio.gather(create(base_url), nap())

    with serve(SimulatorConfig(seed=124, create_delay=0.3), clock=fake.monotonic) as sim:
        asyncio.run(both(sim.base_url))
        (task_id,) = sim.counters.task_ids
        task = sim.task(task_id)
    assert task is not None
    return seen, task.created_at


def test_the_fake_clock_stays_put_while_a_request_is_in_flight() -> None:
    """The clock does not move while an answer is on its way, however long it takes in real
    time: the create is answered at fake time 0, then the sleep wakes at 10."""
    fake = FakeTime()
    seen, created_at = _sleep_beside_a_slow_create(fake)
    assert seen == {"answered": 0.0, "woke": 10.0}
    assert created_at == 0.0 and fake.forced == 0


def test_a_request_that_outlasts_the_stall_lets_the_clock_jump_and_says_so() -> None:
    """The safety valve: busy for longer than ``stall`` real seconds, the clock jumps anyway
    (the sleep wakes at 10 with the create still on its way) and ``forced`` counts it."""
    fake = FakeTime(stall=0.05)
    seen, created_at = _sleep_beside_a_slow_create(fake)
    assert seen == {"woke": 10.0, "answered": 10.0}
    assert list(seen) == ["woke", "answered"]
    assert created_at == 0.0 and fake.forced == 1


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
