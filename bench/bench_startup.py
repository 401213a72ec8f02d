"""Issue 12: `seedance-batch validate manifests/demo.yaml` starts lazily (target <= 1.2x).

Beside it, in the same run, the baseline the issue names: `python -c "import yaml, jsonschema"`,
what validating a manifest cannot do without. Runs alternate (one of each, seven times, after a
warm-up of each, which also writes the bytecode as an install does), so that a busy machine
slows both alike; the figures are medians of wall time.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROUNDS = 7
TARGET = 1.2


def _validate_command() -> list[str]:
    """The console script beside this interpreter (what a user types), else ``-m``."""
    script = Path(sys.executable).with_name("seedance-batch")
    head = [str(script)] if script.is_file() else [sys.executable, "-m", "seedance_batch"]
    return [*head, "validate", "manifests/demo.yaml"]


BASELINE = [sys.executable, "-c", "import yaml, jsonschema"]


#: As installed: pip compiles every module, so bytecode is read, not compiled on each start.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _wall(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT, capture_output=True, env=ENV)
    return time.perf_counter() - started


def measure(rounds: int = ROUNDS) -> tuple[float, float]:
    """Median seconds of the validate command and of the baseline, alternated."""
    validate = _validate_command()
    _wall(validate), _wall(BASELINE)  # warm-up: bytecode caches, the page cache
    ours, theirs = [], []
    for _ in range(rounds):
        ours.append(_wall(validate))
        theirs.append(_wall(BASELINE))
    return statistics.median(ours), statistics.median(theirs)


def main() -> None:
    ours, theirs = measure()
    name = Path(_validate_command()[0]).name
    print(f"{name} validate manifests/demo.yaml: {ours * 1000:.0f} ms median of {ROUNDS}")
    print(f'python -c "import yaml, jsonschema": {theirs * 1000:.0f} ms median of {ROUNDS}')
    print(f"ratio: {ours / theirs:.2f}x (target <= {TARGET}x)")


if __name__ == "__main__":
    main()
