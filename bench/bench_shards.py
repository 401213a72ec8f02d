"""Issue 16: four shards at once against one simulator's rate limit, beside one process (<= 1.2x).

The same 160 jobs (tasks of 0.5-1.5 s) against a simulator that answers 429 past 20 requests
per second of the key, run five ways in the same session, each a fresh campaign in its own
folder, every run a process of its own (so each wall counts its interpreter's start):

- one process, ``run --requests-per-second 20`` (the limit: the baseline every ratio is to);
- one process at 60 (3x the limit: the adaptive rate finds it);
- four ``run --shard K/4`` processes at once, each at 5 (a quarter of the limit), then
  ``merge`` (its time counts);
- four shards at once at 20 each, and at 60 each (every shard configured above its share:
  the adaptive rates must share the key), then ``merge``.

Figures: wall (the shards' and the merge's), the 429s among the API's answers, and for the
shards each one's elapsed time and the rate it settled at, slowest beside fastest (how evenly
the key was shared).

Shards split the plan by job id (contract, section 12), so their sizes spread as a binomial
does: this campaign's 160 jobs make shards of 37 to 45 (the largest 12% over a quarter), its
640 jobs shards of 146 to 168 (5% over); 10,000 jobs would spread about 2%.
``SEEDANCE_BENCH_SHARD_JOBS=640`` runs the larger campaign (about four times as long).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from seedance_batch.lockfile import read_lockfile
from seedance_batch.simulator import SimulatorConfig, serve

LIMIT = 20.0
#: ``SEEDANCE_BENCH_SHARD_JOBS`` (a multiple of 16) sizes the campaign; 160 unless given.
JOBS = int(os.environ.get("SEEDANCE_BENCH_SHARD_JOBS", "160"))
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
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _wait(processes: list[subprocess.Popen[bytes]]) -> list[dict[str, float]]:
    """Wait for each; its JSON summary (``run --format json``), or ``{}`` for a merge. Exit 1
    (jobs left for the next run, as 429s past the retries leave them) is a figure, reported
    by :func:`_succeeded`; anything else stops the benchmark."""
    summaries = []
    for process in processes:
        out, err = process.communicate(timeout=600)
        if process.returncode not in (0, 1):
            raise SystemExit(f"exit {process.returncode}: {err.decode()[-2000:]}")
        summaries.append(json.loads(out) if out.startswith(b"{") else {})
    return summaries


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


def _shards(
    base_url: str, folder: Path, rate: float
) -> tuple[float, float, list[dict[str, float]]]:
    """The four shards' wall, the merge's, and the shards' JSON summaries."""
    manifest = _manifest(folder)
    started = time.perf_counter()
    rate_flag = ("--requests-per-second", str(rate))
    shard = ("run", str(manifest), "--base-url", base_url, *rate_flag, "--no-progress")
    summaries = _wait([_cli(*shard, "--format", "json", "--shard", f"{k}/4") for k in range(1, 5)])
    ran = time.perf_counter() - started
    lockfiles = [str(folder / f"bench.shard-{k}-of-4.lock.json") for k in range(1, 5)]
    _wait([_cli("merge", str(manifest), *lockfiles)])
    return ran, time.perf_counter() - started - ran, summaries


def _spread(summaries: list[dict[str, float]]) -> str:
    """Each shard's elapsed time and settled rate, and the slowest beside the fastest."""
    if not summaries:
        return ""
    each = ", ".join(f"{s['elapsed']:.1f} s at {s['settled_rate'] or 0:.1f}/s" for s in summaries)
    elapsed = [s["elapsed"] for s in summaries]
    return f"\n    shards: {each}; slowest {max(elapsed) / min(elapsed):.2f}x the fastest"


_WAYS = (
    ("one process at the limit", False, LIMIT),
    ("one process at 3x the limit", False, 3 * LIMIT),
    ("4 shards at a quarter each", True, LIMIT / 4),
    ("4 shards at the limit each", True, LIMIT),
    ("4 shards at 3x the limit each", True, 3 * LIMIT),
)


def main() -> None:
    config = SimulatorConfig(seed=16, latency=(0.5, 1.5), rate_limit=LIMIT)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        figures = []
        for label, shards, rate in _WAYS:
            folder = root / label.replace(" ", "-")
            folder.mkdir()
            with serve(config) as sim:
                summaries: list[dict[str, float]] = []
                if shards:
                    wall, merge, summaries = _shards(sim.base_url, folder, rate)
                else:
                    wall, merge = _one(sim.base_url, folder, rate), 0.0
                counters = sim.counters
            limited = counters.statuses.get(429, 0)
            api = counters.creates + sum(counters.polls.values()) + limited
            done = _succeeded(folder)
            figures.append((label, wall, merge, api, limited, done, summaries))
        base = figures[0][1]
        print(f"{JOBS} jobs, tasks of 0.5-1.5 s, a limit of {LIMIT:g} requests/s of the key")
        for label, wall, merge, api, limited, done, summaries in figures:
            merged = f" + merge {merge:.2f} s" if merge else ""
            print(
                f"{label}: {wall:.1f} s{merged} ({(wall + merge) / base:.2f}x one process "
                f"at the limit; target <= 1.2x), {done} of {JOBS} jobs succeeded, {api} API "
                f"answers ({api / LIMIT:.1f} s at the limit), {limited} of them 429 "
                f"({limited / max(api, 1):.1%}){_spread(summaries)}"
            )


if __name__ == "__main__":
    main()
