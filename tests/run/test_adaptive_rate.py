"""The run's rate finds the key's real limit under any ceiling, alone and shared by processes,
against the simulator's per-key sliding window (real HTTP, real time, real processes)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from _support.campaign import KEY, run_cli, start_cli

from seedance_batch import RunOptions, load_manifest, run
from seedance_batch.cli._errors import run_exit_code
from seedance_batch.simulator import Counters, SimulatorConfig, serve

LIMIT = 20.0


def _manifest(folder: Path, name: str, jobs: int, ceiling: float) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    values = ", ".join(f"v{k}" for k in range(jobs))
    path.write_text(
        f"version: 1\nname: {name}\n"
        f"execution: {{concurrency: 32, requests_per_second: {ceiling}, poll_interval: 0.4, "
        "poll_max: 1, task_timeout: 120}\n"
        f'jobs:\n  - name: grid\n    prompt: "A {name} {{v}}"\n    size: "1:1"\n'
        f"    matrix:\n      v: [{values}]\n"
    )
    return path


def _api_requests(counters: Counters) -> tuple[int, int]:
    """Requests the API answered well (creates and polls) and those it answered 429."""
    return counters.creates + sum(counters.polls.values()), counters.statuses.get(429, 0)


@pytest.mark.parametrize("ceiling", [LIMIT * 10])
def test_a_ceiling_ten_times_the_limit_still_runs_near_it(tmp_path: Path, ceiling: float) -> None:
    """Ceiling 10x the key's limit of 20/s: the campaign ends within 1.25x of the time its
    requests need at the limit, under 10% of them answered 429, and the summary says the rate
    it settled at and the 429s it met."""
    manifest = _manifest(tmp_path, "alone", 120, ceiling)
    config = SimulatorConfig(seed=3, latency=(0.2, 0.3), rate_limit=LIMIT)
    with serve(config) as sim:
        summary = run(load_manifest(manifest), RunOptions(base_url=sim.base_url), api_key=KEY)
        counters = sim.counters
    assert run_exit_code(summary) == 0, summary.messages
    good, limited = _api_requests(counters)
    ideal = good / LIMIT
    assert summary.elapsed <= 1.25 * ideal + 0.5, (summary.elapsed, ideal)
    assert limited < 0.10 * (good + limited), (limited, good)
    assert summary.rate_limited == limited
    assert summary.settled_rate is not None and 10 <= summary.settled_rate <= LIMIT * 1.2


def test_four_processes_on_one_key_share_its_limit(tmp_path: Path) -> None:
    """Four `seedance-batch run` processes at once, one key, a limit of 20/s: together under
    10% of their requests answered 429 (each summary, text and JSON, saying its settled rate
    and its 429s), and each run done within 2.5x of the time all their requests need at the
    limit (the shares take a while to even out: the first process on the key starts with
    more of it; the interpreters' start-up, which a loaded machine stretches, is left out)."""
    config = SimulatorConfig(seed=4, latency=(0.2, 0.3), rate_limit=LIMIT)
    with serve(config) as sim:
        manifests = [_manifest(tmp_path / f"p{k}", f"p{k}", 50, 200) for k in range(4)]
        started = time.monotonic()
        flags = ("--base-url", sim.base_url, "--no-progress", "--format", "json")
        processes = [start_cli("run", str(m), *flags) for m in manifests]
        outputs = [process.communicate(timeout=300) for process in processes]
        wall = time.monotonic() - started
        counters = sim.counters
    summaries = [json.loads(out) for out, _ in outputs]
    assert [s["exit_code"] for s in summaries] == [0] * 4, [err for _, err in outputs]
    good, limited = _api_requests(counters)
    assert limited < 0.10 * (good + limited), (limited, good)
    assert sum(s["rate_limited"] for s in summaries) == limited
    assert all(0 < s["settled_rate"] <= LIMIT * 1.2 for s in summaries)
    for summary, (_, err) in zip(summaries, outputs, strict=True):
        said = "rate: settled at " if summary["rate_limited"] else "rate: no 429 met"
        assert said in err
    slowest = max(s["elapsed"] for s in summaries)
    assert slowest <= 2.5 * good / LIMIT, (slowest, wall, good / LIMIT)


def test_four_shards_on_one_key_share_its_limit_and_merge(tmp_path: Path) -> None:
    """Four `run --shard K/4` processes of one campaign at once, each with a ceiling 10x the
    key's limit of 20/s: together under 10% of their requests answered 429, each one's rate
    settled at or under the limit and above the floor, none of them finishing more than 2.5x
    the time all their requests need at the limit (a shard arriving on a key the others fill
    starts with less of it; start-up on a loaded machine is left out), and the merge makes
    one campaign that a plain run finds done."""
    manifest = _manifest(tmp_path, "sharded", 160, LIMIT * 10)
    config = SimulatorConfig(seed=5, latency=(0.2, 0.3), rate_limit=LIMIT)
    with serve(config) as sim:
        flags = ("--base-url", sim.base_url, "--no-progress", "--format", "json")
        processes = [
            start_cli("run", str(manifest), *flags, "--shard", f"{k}/4") for k in range(1, 5)
        ]
        outputs = [process.communicate(timeout=300) for process in processes]
        counters = sim.counters
        lockfiles = [str(tmp_path / f"sharded.shard-{k}-of-4.lock.json") for k in range(1, 5)]
        merged = run_cli("merge", str(manifest), *lockfiles)
        rerun = run_cli("run", str(manifest), *flags)
        after = sim.counters
    summaries = [json.loads(out) for out, _ in outputs]
    assert [s["exit_code"] for s in summaries] == [0] * 4, [err for _, err in outputs]
    good, limited = _api_requests(counters)
    assert limited < 0.10 * (good + limited), (limited, good)
    assert sum(s["rate_limited"] for s in summaries) == limited
    assert all(0.2 < s["settled_rate"] <= LIMIT for s in summaries), summaries
    slowest = max(s["elapsed"] for s in summaries)
    assert slowest <= 2.5 * good / LIMIT, (slowest, good / LIMIT)
    assert merged.returncode == 0, merged.stderr
    assert rerun.returncode == 0, rerun.stderr
    assert after.requests == counters.requests and counters.creates == 160  # nothing resent
