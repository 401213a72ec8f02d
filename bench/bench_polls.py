"""Issue 16, point 2: learned polling beside today's fixed schedule, in the same run.

Ten waves of tasks that take 4-6 s (200 jobs at concurrency 20, poll_interval 2 s, poll_max
15 s): polls per task and the notice delay (from a task's end to the poll that saw it, over
its latency, as the simulator counts them): its median and 90th percentile and the share of
ends seen within 10%, over all tasks and over the waves after the first (the first wave,
before anything is learned, follows ``poll_interval``: issue 16). The baseline is the same code
with learning off (``TaskDurations.learn`` does nothing): poll_interval, then waits growing
1.5x to poll_max. Beside them, the arithmetic floor: the fewest polls per task any schedule
needs to see *every* end within 10% of its own latency, for tasks spread evenly over 4-6 s
(each poll at most 1.1x the one before, the first at 1.1x the shortest).
``SEEDANCE_BENCH_QUICK=1`` runs three waves of 0.8-1.2 s tasks instead.
"""

from __future__ import annotations

import os
import statistics
import tempfile
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Figures:
    """Polls per task and notice delays (over latency) of some tasks of one run."""

    polls: float
    median: float
    p90: float
    within: float

    @classmethod
    def of(cls, polls: list[int], late: list[float]) -> Figures:
        tenth = statistics.quantiles(late, n=10)
        within = sum(delay <= 0.10 for delay in late) / len(late)
        return cls(sum(polls) / len(polls), statistics.median(late), tenth[-1], within)

    def line(self) -> str:
        return (
            f"{self.polls:.2f} polls per task; notice delay {self.median:.1%} of the latency "
            f"(median; 90th percentile {self.p90:.1%}), {self.within:.0%} of ends within 10%"
        )


def _one(mode: str) -> tuple[Figures, Figures, float]:
    """The figures over all tasks and over the waves after the first, and the wall."""
    config = SimulatorConfig(seed=12, latency=LATENCY)
    with tempfile.TemporaryDirectory() as tmp, serve(config) as sim:
        figures = child(_RUN, str(_manifest(Path(tmp))), sim.base_url, mode)
        counters = sim.counters
        rows = []
        for task_id, delay in counters.noticed.items():
            task = sim.task(task_id)
            assert task is not None
            rows.append((task.created_at, counters.polls[task_id], delay / task.latency))
    assert figures["exit_code"] == 0, figures
    rows.sort()
    later = rows[CONCURRENCY:]  # the first wave: the first CONCURRENCY tasks created
    every = Figures.of([r[1] for r in rows], [r[2] for r in rows])
    learned = Figures.of([r[1] for r in later], [r[2] for r in later])
    return every, learned, figures["wall"]


def floor_polls(low: float, high: float, share: float = 0.10) -> float:
    """The fewest polls per task that see every end within ``share`` of its own latency, for
    latencies spread evenly over ``low``-``high``: polls at ``low * (1 + share) ** k``."""
    expected, before, poll, count = 0.0, low, low * (1 + share), 1
    while before < high:
        upto = min(poll, high)
        expected += count * (upto - before) / (high - low)
        before, poll, count = upto, poll * (1 + share), count + 1
    return expected


def main() -> None:
    jobs = WAVES * CONCURRENCY
    print(
        f"{WAVES} waves of {CONCURRENCY} tasks of {LATENCY[0]:g}-{LATENCY[1]:g} s "
        f"({jobs} jobs), poll_interval {POLL_INTERVAL:g} s, poll_max {POLL_MAX:g} s"
    )
    for mode, label in (("learned", "learned polling"), ("fixed", "fixed schedule (before)")):
        every, learned, wall = _one(mode)
        print(f"  {label}, all tasks: {every.line()}; wall {wall:.1f} s")
        print(f"    waves after the first: {learned.line()}")
    print(
        f"  target <= 2.5 polls per task, each end within 10%; the fewest polls that see every "
        f"end within 10% of its latency here: {floor_polls(*LATENCY):.2f} per task"
    )


if __name__ == "__main__":
    main()
