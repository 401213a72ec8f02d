"""Issue 16, point 1: a rate-limited campaign at ceilings of 5, the limit, 3x and 10x.

200 jobs, tasks of 2-4 s, a per-key limit of 20 requests/s (the simulator's sliding window),
concurrency 64. Each figure is beside the ideal from the same run: ``jobs x (1 + polls per
task) / min(ceiling, limit)``, the polls counted by the simulator; and the share of 429s among
the API's answers. ``SEEDANCE_BENCH_QUICK=1`` runs 60 jobs of 0.5-1 s instead.

The simulator serves from a thread of this process; each run is a process of its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from seedance_batch.simulator import SimulatorConfig, serve

KEY = "sk-bench"
LIMIT = 20.0
CEILINGS = (5.0, 20.0, 60.0, 200.0)
QUICK = os.environ.get("SEEDANCE_BENCH_QUICK") == "1"
JOBS = 60 if QUICK else 200
LATENCY = (0.5, 1.0) if QUICK else (2.0, 4.0)

_RUN = """
import json, sys, time
from seedance_batch import RunOptions, load_manifest, run
from seedance_batch.cli._errors import run_exit_code
started = time.perf_counter()
summary = run(load_manifest(sys.argv[1]), RunOptions(base_url=sys.argv[2]), api_key="sk-bench")
print(json.dumps({
    "wall": time.perf_counter() - started,
    "exit_code": run_exit_code(summary),
    "settled_rate": summary.settled_rate,
    "rate_limited": summary.rate_limited,
}))
"""


def manifest(folder: Path, jobs: int, ceiling: float, poll_interval: float) -> Path:
    """A campaign of ``jobs`` 1K jobs at ``ceiling`` requests per second, concurrency 64."""
    path = folder / "m.yaml"
    values = ", ".join(f"v{k}" for k in range(jobs))
    path.write_text(
        "version: 1\nname: bench-rate\n"
        f"execution: {{concurrency: 64, requests_per_second: {ceiling:g}, "
        f"poll_interval: {poll_interval:g}, poll_max: {4 * poll_interval:g}, task_timeout: 600}}\n"
        'jobs:\n  - name: grid\n    prompt: "A {v}"\n    size: "1:1"\n'
        f"    matrix:\n      v: [{values}]\n"
    )
    return path


def child(script: str, *args: str) -> dict[str, float]:
    """Run ``script`` in a fresh interpreter; the JSON of its last line."""
    done = subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    figures: dict[str, float] = json.loads(done.stdout.splitlines()[-1])
    return figures


def main() -> None:
    print(f"{JOBS} jobs, tasks of {LATENCY[0]:g}-{LATENCY[1]:g} s, per-key limit {LIMIT:g}/s")
    for ceiling in CEILINGS:
        config = SimulatorConfig(seed=11, latency=LATENCY, rate_limit=LIMIT)
        with tempfile.TemporaryDirectory() as tmp, serve(config) as sim:
            path = manifest(Path(tmp), JOBS, ceiling, LATENCY[0])
            figures = child(_RUN, str(path), sim.base_url)
            counters = sim.counters
        assert figures["exit_code"] == 0, figures
        limited = counters.statuses.get(429, 0)
        polls = sum(counters.polls.values()) / JOBS  # polls answered with the task
        answered = counters.creates + sum(counters.polls.values()) + limited
        ideal = JOBS * (1 + polls) / min(ceiling, LIMIT)
        print(
            f"  ceiling {ceiling:>5g}/s: {figures['wall']:5.1f} s; ideal {ideal:5.1f} s "
            f"({polls:.2f} polls per task); ratio {figures['wall'] / ideal:.2f}x "
            f"(target <= 1.25x); 429s {limited} of {answered} ({limited / answered:.1%}, "
            f"target < 10%); settled at {figures['settled_rate']:.1f}/s"
        )


if __name__ == "__main__":
    main()
