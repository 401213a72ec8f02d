"""Polls that learn: the schedule of each kind of task, from what ended before (a fake clock
through the simulator, then real time)."""

from __future__ import annotations

import random
import statistics
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import pytest
from _support.campaign import KEY
from _support.fake_time import FakeTime

from seedance_batch import RunOptions, load_manifest, run
from seedance_batch._poll_schedule import CENSORED, EARLY, NOTICE, TaskDurations
from seedance_batch.cli._errors import run_exit_code
from seedance_batch.simulator import Simulator, SimulatorConfig, serve

KIND = ("gpt-image-2-all", "1k")


def _durations() -> TaskDurations:
    return TaskDurations(2.0, 10.0, random.Random(1))


def _waits(durations: TaskDurations, count: int, **more: float | bool) -> list[float]:
    return list(islice(durations.schedule(KIND, **more), count))  # type: ignore[arg-type]


def _close(got: list[float], planned: list[float]) -> None:
    """Each wait is its plan, spread by at most 5% beyond it."""
    assert len(got) == len(planned)
    for wait, plan in zip(got, planned, strict=True):
        assert plan <= wait <= plan * 1.05 + 1e-9, (got, planned)


def test_with_nothing_learned_polls_follow_poll_interval() -> None:
    """Before any task of its kind ended: a fresh task waits poll_interval, then waits growing
    1.5x to poll_max; a resumed one is polled at once."""
    durations = _durations()
    _close(_waits(durations, 6), [2, 2, 3, 4.5, 6.75, 10])
    _close(_waits(durations, 3, resumed=True), [0, 2, 3])


def test_learned_polls_start_at_the_low_quantile_then_follow_the_age() -> None:
    """With durations learned, the first poll comes at their EARLY quantile, each next one
    NOTICE of the task's age later; past the longest seen, waits grow 1.5x to poll_max."""
    durations = _durations()
    for ended in (4.0, 4.4, 4.8, 5.2, 5.6):
        durations.learn(KIND, ended - 0.2, ended)
    assert durations.count(KIND) == 5
    early = sorted(e - 0.1 for e in (4.0, 4.4, 4.8, 5.2, 5.6))[int(EARLY * 5)]
    waits = _waits(durations, 8)
    assert early <= waits[0] <= early * 1.05
    at = early
    for wait in waits[1:4]:
        assert at * NOTICE <= wait <= at * NOTICE * 1.05 + 1e-9
        at += wait
    assert waits[-1] > waits[-2] > waits[-3]  # growing past the longest


def test_a_task_slower_than_all_seen_is_polled_at_short_steps_not_a_first_wait_late() -> None:
    """When the first poll already comes at the longest duration seen (tasks that all took the
    same), the next waits grow 1.5x from one NOTICE step of the age, not from the first wait."""
    durations = _durations()
    for _ in range(10):
        durations.learn(KIND, None, 1.0)  # every task had ended at its first poll
    first, *steps = _waits(durations, 4)
    at = CENSORED * 1.0
    assert at <= first <= at * 1.05
    _close(steps, [at * NOTICE, at * NOTICE * 1.5, at * NOTICE * 1.5**2])


def test_another_kind_learns_nothing_from_this_one() -> None:
    """Durations are per (model, resolution): a 4K task still follows poll_interval."""
    durations = _durations()
    durations.learn(KIND, 4.0, 4.2)
    _close(list(islice(durations.schedule(("gpt-image-2-all", "4k")), 2)), [2, 2])


def test_coarse_durations_are_left_out_once_precise_ones_come() -> None:
    """The first wave's ends, seen between polls far apart, count until a few precise ones
    are known; then only the precise ones do."""
    durations = _durations()
    durations.learn(KIND, 2.0, 7.0)  # coarse: polls 2 s and 7 s after the create
    assert _waits(durations, 1)[0] == pytest.approx(4.5, rel=0.05)
    for ended in (5.0, 5.1, 5.2, 5.3):
        durations.learn(KIND, ended - 0.3, ended)
    assert _waits(durations, 1)[0] == pytest.approx(4.85, rel=0.06)


def test_a_task_ended_before_its_first_poll_moves_the_first_poll_earlier() -> None:
    """No poll saw it running: it counts at CENSORED of when it was seen ended."""
    durations = _durations()
    for _ in range(5):
        durations.learn(KIND, None, 3.0)
    assert _waits(durations, 1)[0] == pytest.approx(3.0 * CENSORED, rel=0.05)


def _manifest(folder: Path, jobs: int, concurrency: int) -> Path:
    path = folder / "polls.yaml"
    values = ", ".join(f"v{k}" for k in range(jobs))
    path.write_text(
        "version: 1\nname: polls\n"
        f"execution: {{concurrency: {concurrency}, requests_per_second: 1000, "
        "poll_interval: 2, poll_max: 10, task_timeout: 120}\n"
        f'jobs:\n  - name: grid\n    prompt: "A {{v}}"\n    size: "1:1"\n'
        f"    matrix:\n      v: [{values}]\n"
    )
    return path


def _figures(sim: Simulator) -> tuple[list[int], list[float]]:
    """Each task's polls, and each end's notice delay over its latency."""
    counters = sim.counters
    late = []
    for task_id, delay in counters.noticed.items():
        task = sim.task(task_id)
        assert task is not None
        late.append(delay / task.latency)
    return list(counters.polls.values()), late


@dataclass(frozen=True)
class FakeCampaign:
    """What a campaign on a fake clock did: each task's polls (by task id), each end's notice
    delay over its latency, the run's sleeps, and every time the simulator read the clock."""

    polls: dict[str, int]
    late: list[float]
    sleeps: list[float]
    reads: list[float]


def _fake_campaign(folder: Path, seed: int) -> FakeCampaign:
    """Twenty tasks of 4-6 fake seconds one after another, the simulator on the run's fake
    clock, a fresh lockfile (a random nonce) each time."""
    fake = FakeTime()
    reads: list[float] = []

    def clock() -> float:
        reads.append(fake.monotonic())  # from the simulator's thread
        return reads[-1]

    with serve(SimulatorConfig(seed=seed, latency=(4.0, 6.0)), clock=clock) as sim:
        manifest = _manifest(folder, 20, 1)
        summary = run(load_manifest(manifest), fake.options(sim.base_url), api_key=KEY)
        polls = dict(sim.counters.polls)
        _, late = _figures(sim)
    assert run_exit_code(summary) == 0, summary.messages
    assert fake.forced == 0  # the clock never had to jump with a request in flight
    return FakeCampaign(polls, late, list(fake.sleeps), list(reads))


def test_ten_waves_on_a_fake_clock_spend_few_polls_and_notice_ends_soon(
    tmp_path: Path,
) -> None:
    """Twenty tasks of 4-6 fake seconds one after another (the simulator on the run's fake
    clock): at most 2.5 polls per task, each end noticed within 10% of its latency (median)."""
    campaign = _fake_campaign(tmp_path, seed=6)
    assert len(campaign.polls) == 20
    assert sum(campaign.polls.values()) / 20 <= 2.5
    assert statistics.median(campaign.late) <= 0.10


def test_the_same_fake_campaign_twice_polls_the_same_at_the_same_fake_times(
    tmp_path: Path,
) -> None:
    """A fake-clock run is deterministic: the same campaign (same seeds), run twice afresh with
    lockfiles of different random nonces, polls each task as often, sleeps the same sleeps, and
    the simulator sees the same times: the clock never moves while a request is in flight,
    however long it takes in real time, and the simulator's draws follow the requests' bodies,
    not their Idempotency-Keys' nonce."""
    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()
    first = _fake_campaign(tmp_path / "first", seed=6)
    second = _fake_campaign(tmp_path / "second", seed=6)
    assert second.polls == first.polls
    assert second.sleeps == first.sleeps
    assert second.reads == first.reads
    assert second.late == first.late


def test_ten_waves_against_the_simulator_in_real_time(tmp_path: Path) -> None:
    """Ten waves of eight tasks of 0.8-1.2 s, concurrency 8, real time: under 3 polls per task
    and ends noticed within 12% of their latency (median): the fake-clock test holds the
    targets (2.5, 10%); here a loaded machine's lag moves polls and ends apart."""
    config = SimulatorConfig(seed=6, latency=(0.8, 1.2))
    manifest = _manifest(tmp_path, 80, 8)
    text = manifest.read_text().replace(
        "poll_interval: 2, poll_max: 10", "poll_interval: 0.4, poll_max: 2"
    )
    manifest.write_text(text)
    with serve(config) as sim:
        summary = run(load_manifest(manifest), RunOptions(base_url=sim.base_url), api_key=KEY)
        polls, late = _figures(sim)
    assert run_exit_code(summary) == 0, summary.messages
    assert sum(polls) / len(polls) <= 3.0
    assert statistics.median(late) <= 0.12


def test_a_resumed_campaign_learns_from_the_lockfile(tmp_path: Path) -> None:
    """A rerun that adds a job polls it first near the durations the lockfile's finished jobs
    took (submitted_at to finished_at), not after poll_interval."""
    config = SimulatorConfig(seed=8, latency=(4.0, 6.0))
    fake = FakeTime()
    with serve(config, clock=fake.monotonic) as sim:
        manifest = _manifest(tmp_path, 6, 1)
        summary = run(load_manifest(manifest), fake.options(sim.base_url), api_key=KEY)
        assert run_exit_code(summary) == 0, summary.messages
        manifest.write_text(manifest.read_text().replace("v5]", "v5, v6]"))
        fake.now += 60.0  # a minute later, another process
        fake.sleeps.clear()
        summary = run(load_manifest(manifest), fake.options(sim.base_url), api_key=KEY)
    assert run_exit_code(summary) == 0, summary.messages
    assert summary.succeeded == 1
    assert fake.sleeps[0] >= 3.0  # poll_interval is 2: learned from the lockfile
