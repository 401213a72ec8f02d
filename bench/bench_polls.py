"""Issue 16, point 2: learned polling beside today's fixed schedule, in the same run.

Ten waves of tasks that take 4-6 s (200 jobs at concurrency 20, poll_interval 2 s, poll_max
15 s): polls per task and the median notice delay (from a task's end to the poll that saw it,
over its latency, as the simulator counts them). The baseline is the same code with learning
off (``TaskDurations.learn`` does nothing): poll_interval, then waits growing 1.5x to poll_max.
``SEEDANCE_BENCH_QUICK=1`` runs three waves of 0.8-1.2 s tasks instead.
"""

from __future__ import annotations

import os
import statistics
import tempfile
from pathlib import Path

from bench.bench_rate import child
from seedance_batch.simulator import SimulatorConfig, serve

QUICK = os.environ.get("SEEDANCE_BENCH_QUICK") == "1"
WAVES, CONCURRENCY = (3, 20) if QUICK else (10, 20)
LATENCY = (0.8, 1.2) if QUICK else (4.0, 6.0)
POLL_INTERVAL, POLL_MAX = (0.4, 3.0) if QUICK else (2.0, 15.0)

_RUN = """
import json, sys, time
from seedance_batch import RunOptions, load_manifest, run
from seedance_batch._poll_schedule import TaskDurations
from seedance_batch.cli._errors import run_exit_code
if sys.argv[3] == "fixed":
    TaskDurations.learn = lambda self, *args, **kwargs: None
started = time.perf_counter()
summary = run(load_manifest(sys.argv[1]), RunOptions(base_url=sys.argv[2]), api_key="sk-bench")
print(json.dumps({"wall": time.perf_counter() - started, "exit_code": run_exit_code(summary)}))
"""


def _manifest(folder: Path) -> Path:
    path = folder / "m.yaml"
    values = ", ".join(f"v{k}" for k in range(WAVES * CONCURRENCY))
    path.write_text(
        "version: 1\nname: bench-polls\n"
        f"execution: {{concurrency: {CONCURRENCY}, requests_per_second: 1000, "
        f"poll_interval: {POLL_INTERVAL:g}, poll_max: {POLL_MAX:g}, task_timeout: 600}}\n"
        'jobs:\n  - name: grid\n    prompt: "A {v}"\n    size: "1:1"\n'
        f"    matrix:\n      v: [{values}]\n"
    )
    return path


def _one(mode: str) -> tuple[float, float, float, float]:
    """Polls per task, median and 90th-percentile notice delay over latency, wall."""
    config = SimulatorConfig(seed=12, latency=LATENCY)
    with tempfile.TemporaryDirectory() as tmp, serve(config) as sim:
        figures = child(_RUN, str(_manifest(Path(tmp))), sim.base_url, mode)
        counters = sim.counters
        late = []
        for task_id, delay in counters.noticed.items():
            task = sim.task(task_id)
            assert task is not None
            late.append(delay / task.latency)
    assert figures["exit_code"] == 0, figures
    polls = sum(counters.polls.values()) / len(counters.polls)
    tenth = statistics.quantiles(late, n=10)
    return polls, statistics.median(late), tenth[-1], figures["wall"]


def main() -> None:
    jobs = WAVES * CONCURRENCY
    print(
        f"{WAVES} waves of {CONCURRENCY} tasks of {LATENCY[0]:g}-{LATENCY[1]:g} s "
        f"({jobs} jobs), poll_interval {POLL_INTERVAL:g} s, poll_max {POLL_MAX:g} s"
    )
    for mode, label in (("learned", "learned polling"), ("fixed", "fixed schedule (before)")):
        polls, median, p90, wall = _one(mode)
        print(
            f"  {label}: {polls:.2f} polls per task (target <= 2.5); notice delay "
            f"{median:.1%} of the latency (median; 90th percentile {p90:.1%}; target 10%); "
            f"wall {wall:.1f} s"
        )


if __name__ == "__main__":
    main()
