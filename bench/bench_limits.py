"""Issue 10: ``validate`` refusing a 10^8-job manifest and an alias bomb (each <= 2 s, 300 MB).

Beside them, in the same run, the baseline: ``validate`` of the small demo manifest. Each figure
is the median of 3 fresh processes: wall time, and peak memory (``ru_maxrss`` of the child).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROUNDS = 3
DEMO = Path(__file__).resolve().parents[1] / "manifests" / "demo.yaml"

# Runs one ``validate`` in a child of its own, so that RUSAGE_CHILDREN is that child's alone.
_MEASURE = """
import resource, subprocess, sys, time
started = time.perf_counter()
done = subprocess.run([sys.executable, "-m", "seedance_batch", "validate", sys.argv[1]],
                      stdin=subprocess.DEVNULL, capture_output=True)
elapsed = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(elapsed, peak, done.returncode)
"""


def hundred_million_jobs() -> str:
    """Eight axes of ten values: 10^8 jobs, a few hundred bytes."""
    axes = "\n".join(f"      a{i}: [{', '.join(f'v{j}' for j in range(10))}]" for i in range(8))
    prompt = " ".join(f"{{a{i}}}" for i in range(8))
    head = f'version: 1\nname: big\njobs:\n  - name: grid\n    prompt: "{prompt}"\n'
    return f"{head}    matrix:\n{axes}\n"


def alias_bomb() -> str:
    """Nine levels of ten aliases: 10^9 nodes once expanded."""
    lines = ["version: 1", "name: bomb", "x0: &a0 [" + ", ".join(["lol"] * 10) + "]"]
    lines += [f"x{k}: &a{k} [" + ", ".join([f"*a{k - 1}"] * 10) + "]" for k in range(1, 10)]
    lines.append("jobs: [{name: a, prompt: hi}]")
    return "\n".join(lines) + "\n"


def _measure(path: Path, expected_code: int) -> tuple[float, float]:
    times, peaks = [], []
    for _ in range(ROUNDS):
        out = subprocess.run(
            [sys.executable, "-c", _MEASURE, str(path)], check=True, capture_output=True, text=True
        ).stdout.split()
        if int(out[2]) != expected_code:
            raise SystemExit(f"validate {path} exited {out[2]}, expected {expected_code}")
        times.append(float(out[0]))
        peaks.append(float(out[1]))
    return statistics.median(times), statistics.median(peaks)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / "big.yaml"
        big.write_text(hundred_million_jobs())
        bomb = Path(tmp) / "bomb.yaml"
        bomb.write_text(alias_bomb())
        base_s, base_mb = _measure(DEMO, 0)
        print(f"baseline: validate demo (9 jobs): {base_s:.2f} s, {base_mb:.0f} MB")
        for label, path in (("a 10^8-job manifest", big), ("an alias bomb (10^9 nodes)", bomb)):
            seconds, peak = _measure(path, 2)
            print(
                f"validate refusing {label}: {seconds:.2f} s (target <= 2 s), "
                f"{peak:.0f} MB (target <= 300 MB); "
                f"{seconds / base_s:.2f}x the baseline's time, {peak - base_mb:+.0f} MB"
            )


if __name__ == "__main__":
    main()
