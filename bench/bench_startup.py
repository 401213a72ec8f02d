"""Issue 12: `seedance-batch validate manifests/demo.yaml` starts lazily (target <= 1.2x).

Beside it, in the same run, the baseline the issue names: `python -c "import yaml, jsonschema"`,
what validating a manifest cannot do without. Runs alternate (one of each, fifteen times, after
a warm-up of each, which also writes the bytecode as an install does), so that a busy machine
slows both alike. The ratio is of the medians of wall time; beside it, the spread (the middle
half of the runs) and the CPU each process used (user + system, which a busy machine inflates
less than it does wall time).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROUNDS = 15
TARGET = 1.2


def _validate_command() -> list[str]:
    """The console script beside this interpreter (what a user types), else ``-m``."""
    script = Path(sys.executable).with_name("seedance-batch")
    head = [str(script)] if script.is_file() else [sys.executable, "-m", "seedance_batch"]
    return [*head, "validate", "manifests/demo.yaml"]


BASELINE = [sys.executable, "-c", "import yaml, jsonschema"]


#: As installed: pip compiles every module, so bytecode is read, not compiled on each start.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _run(command: list[str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of one run of ``command``."""
    started = time.perf_counter()
    child = subprocess.Popen(
        command, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    if status != 0:
        raise subprocess.CalledProcessError(status, command)
    return wall, usage.ru_utime + usage.ru_stime


def measure(rounds: int = ROUNDS) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """(wall, CPU) of each run of the validate command and of the baseline, alternated."""
    validate = _validate_command()
    _run(validate), _run(BASELINE)  # warm-up: bytecode caches, the page cache
    ours, theirs = [], []
    for _ in range(rounds):
        ours.append(_run(validate))
        theirs.append(_run(BASELINE))
    return ours, theirs


def _line(what: str, runs: list[tuple[float, float]]) -> str:
    walls = sorted(w for w, _ in runs)
    low, _, high = statistics.quantiles(walls, n=4)
    cpu = statistics.median(c for _, c in runs)
    return (
        f"{what}: {statistics.median(walls) * 1000:.0f} ms median of {len(runs)} "
        f"(middle half {low * 1000:.0f}-{high * 1000:.0f}), CPU {cpu * 1000:.0f} ms"
    )


def main() -> None:
    ours, theirs = measure()
    name = Path(_validate_command()[0]).name
    print(_line(f"{name} validate manifests/demo.yaml", ours))
    print(_line('python -c "import yaml, jsonschema"', theirs))
    wall = statistics.median(w for w, _ in ours) / statistics.median(w for w, _ in theirs)
    cpu = statistics.median(c for _, c in ours) / statistics.median(c for _, c in theirs)
    print(f"ratio: {wall:.2f}x (target <= {TARGET}x); CPU {cpu:.2f}x")


if __name__ == "__main__":
    main()
