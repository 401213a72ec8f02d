"""Issue 10: ``plan`` of 100,000 jobs with a 100,000-job lockfile within 1.5x of the plan without.

Both figures come from the real command, ``python -m seedance_batch plan M --format json``, in a
subprocess (start-up, manifest, plan, lockfile and JSON output all counted), median of
``ROUNDS`` runs each, the two alternating. The lockfile is made as a run makes it:
``Lockfile.open`` + ``adopt_plan``, then states put (a third succeeded with two images, a tenth
failed, a few submitted, the rest new), folded. Wall time is the figure; CPU time (the parse's
child process included) is printed beside it, steadier on a machine shared with other work.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.bench_plan import MANIFEST
from tests._support.lockfiles import finished

ROUNDS = 5
TARGET = 1.5


def _make_lockfile(manifest_path: Path) -> int:
    """Write ``bench.lock.json`` beside the manifest as a run would; returns its job count."""
    from seedance_batch import load_manifest, plan
    from seedance_batch.lockfile import Lockfile, default_lockfile_path

    manifest = load_manifest(manifest_path)
    jobs = plan(manifest).jobs
    path = default_lockfile_path(manifest_path)
    with Lockfile.open(
        path, manifest_name=manifest.name, manifest_sha256=manifest.sha256
    ) as lockfile:
        lockfile.adopt_plan(jobs)
        for index, job in enumerate(jobs):
            record = lockfile.get(job.id)
            assert record is not None
            if index % 3 == 0:
                lockfile.put(finished(record))
            elif index % 10 == 1:
                lockfile.put(
                    record.replace(
                        state="failed", task_id=f"task_{job.id}", attempts=3, error="HTTP 500"
                    )
                )
            elif index % 100 == 2:
                lockfile.put(record.replace(state="submitted", task_id=f"t{job.id}", attempts=1))
        count = len(lockfile.jobs)
    return count


def _children_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def _plan_seconds(manifest_path: Path) -> tuple[float, float]:
    """Wall and CPU time (its own and its children's) of one
    ``python -m seedance_batch plan M --format json > /dev/null``."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    command = [sys.executable, "-m", "seedance_batch", "plan", str(manifest_path)]
    cpu = _children_cpu()
    started = time.perf_counter()
    with open(os.devnull, "wb") as sink:
        done = subprocess.run(
            [*command, "--format", "json"],
            stdout=sink,
            stderr=subprocess.PIPE,
            env=env,
        )
    elapsed = time.perf_counter() - started
    if done.returncode not in (0, 3):  # 3: over budget is still a plan
        raise SystemExit(f"plan failed ({done.returncode}): {done.stderr.decode()[-500:]}")
    return elapsed, _children_cpu() - cpu


def main() -> None:
    """Print the plan's time without and with a 100,000-job lockfile, and their ratio."""
    with tempfile.TemporaryDirectory() as tmp:
        bare = Path(tmp) / "bare" / "bench.yaml"
        locked = Path(tmp) / "locked" / "bench.yaml"
        for path in (bare, locked):
            path.parent.mkdir()
            path.write_text(MANIFEST)
        jobs = _make_lockfile(locked)
        size = (locked.parent / "bench.lock.json").stat().st_size
        without: list[tuple[float, float]] = []
        with_lock: list[tuple[float, float]] = []
        for _ in range(ROUNDS):
            without.append(_plan_seconds(bare))
            with_lock.append(_plan_seconds(locked))
    plain_s, plain_cpu = (statistics.median(t) for t in zip(*without, strict=True))
    locked_s, locked_cpu = (statistics.median(t) for t in zip(*with_lock, strict=True))
    print(
        f"plan --format json, 100,000 jobs, no lockfile: {plain_s:.2f} s "
        f"(CPU {plain_cpu:.2f} s) median of {ROUNDS}"
    )
    print(
        f"plan --format json, with a {jobs:,}-job lockfile ({size / 1e6:.0f} MB): "
        f"{locked_s:.2f} s (CPU {locked_cpu:.2f} s, with its parsing children) median of {ROUNDS}"
    )
    print(
        f"ratio: {locked_s / plain_s:.2f}x wall (target <= {TARGET}x), "
        f"{locked_cpu / plain_cpu:.2f}x CPU"
    )
    if os.getloadavg()[0] > (os.cpu_count() or 1):
        print(f"   (load average {os.getloadavg()[0]:.1f}: other work shares the CPUs)")


if __name__ == "__main__":
    main()
