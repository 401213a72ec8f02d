"""Issue 16: four shards at once against one simulator's rate limit, beside one process (<= 1.2x).

The same 160 jobs (tasks of 0.5-1.5 s) against a simulator that answers 429 past 20 requests
per second, run three ways in the same session, each a fresh campaign in its own folder:

- one process, ``run`` with ``--requests-per-second 20`` (the limit: the baseline);
- four ``run --shard K/4`` processes at once, each at 5 (a quarter of the limit), then ``merge``;
- four shards at once, each at 20 (every shard configured at the key's limit): jobs whose
  creates meet 429s past the retries are left for the next run, and counted.

The limiter is the client's fixed ceiling (token bucket), not yet the adaptive rate of issue 16
point 1: shards share a key's limit only as far as their ceilings do. Figures: wall (the
shards' and the merge's), requests sent and the 429s among them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from seedance_batch.lockfile import read_lockfile
from seedance_batch.simulator import SimulatorConfig, serve

LIMIT = 20.0
JOBS = 160
MANIFEST = """
version: 1
name: shards-bench
execution: {{concurrency: 32, poll_interval: 0.5, poll_max: 1.0, task_timeout: 120}}
jobs:
  - name: grid
    prompt: "A {{a}} {{b}} study, take {{c}}"
    matrix:
      a: [{a}]
      b: [red, green, blue, white]
      c: [one, two, three, four]
"""
KEY = "bench-key"


def _manifest(folder: Path) -> Path:
    path = folder / "bench.yaml"
    path.write_text(MANIFEST.format(a=", ".join(f"v{i}" for i in range(JOBS // 16))))
    return path


def _cli(*args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "SEEDANCE_API_KEY": KEY}
    return subprocess.Popen(
        [sys.executable, "-m", "seedance_batch", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _wait(processes: list[subprocess.Popen[bytes]]) -> None:
    """Wait for each; exit 1 (jobs left for the next run, as 429s past the retries leave
    them) is a figure, reported by :func:`_succeeded`; anything else stops the benchmark."""
    for process in processes:
        _, err = process.communicate(timeout=600)
        if process.returncode not in (0, 1):
            raise SystemExit(f"exit {process.returncode}: {err.decode()[-2000:]}")


def _succeeded(folder: Path) -> int:
    snapshot = read_lockfile(folder / "bench.lock.json")
    assert snapshot is not None
    return sum(1 for record in snapshot.jobs.values() if record.state == "succeeded")


def _one(base_url: str, folder: Path, rate: float) -> float:
    manifest = _manifest(folder)
    started = time.perf_counter()
    rate_flag = ("--requests-per-second", str(rate))
    _wait([_cli("run", str(manifest), "--base-url", base_url, *rate_flag, "--no-progress")])
    return time.perf_counter() - started


def _shards(base_url: str, folder: Path, rate: float) -> tuple[float, float]:
    manifest = _manifest(folder)
    started = time.perf_counter()
    rate_flag = ("--requests-per-second", str(rate))
    shard = ("run", str(manifest), "--base-url", base_url, *rate_flag, "--no-progress")
    _wait([_cli(*shard, "--shard", f"{k}/4") for k in range(1, 5)])
    ran = time.perf_counter() - started
    lockfiles = [str(folder / f"bench.shard-{k}-of-4.lock.json") for k in range(1, 5)]
    _wait([_cli("merge", str(manifest), *lockfiles)])
    return ran, time.perf_counter() - started - ran


def main() -> None:
    config = SimulatorConfig(seed=16, latency=(0.5, 1.5), rate_limit=LIMIT)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        figures = []
        for label, shards, rate in (
            ("one process at the limit", False, LIMIT),
            ("4 shards at a quarter each", True, LIMIT / 4),
            ("4 shards at the limit each", True, LIMIT),
        ):
            folder = root / label.replace(" ", "-")
            folder.mkdir()
            with serve(config) as sim:
                if shards:
                    wall, merge = _shards(sim.base_url, folder, rate)
                else:
                    wall, merge = _one(sim.base_url, folder, rate), 0.0
                counters = sim.counters
            limited = counters.statuses.get(429, 0)
            done = _succeeded(folder)
            figures.append((label, wall, merge, counters.requests, limited, done))
        base = figures[0][1]
        ideal = figures[0][3] / LIMIT
        print(f"{JOBS} jobs, tasks of 0.5-1.5 s, a limit of {LIMIT:g} requests/s (fixed ceilings)")
        for label, wall, merge, requests, limited, done in figures:
            merged = f" + merge {merge:.2f} s" if merge else ""
            print(
                f"{label}: {wall:.1f} s{merged} ({(wall + merge) / base:.2f}x one process; "
                f"target <= 1.2x), {done} of {JOBS} jobs succeeded, {requests} requests "
                f"({requests / LIMIT:.1f} s at the limit), {limited} answered 429 "
                f"({limited / max(requests, 1):.0%})"
            )
        print(f"one process's requests at the limit take {ideal:.1f} s at best")


if __name__ == "__main__":
    main()
