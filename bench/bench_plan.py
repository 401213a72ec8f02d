"""Issue 3: a manifest of 100,000 jobs validated and planned to JSON (target <= 1.5 s, 300 MB).

Beside it, in the same run, the baseline the issue names: a bare loop of canonical JSON +
SHA-256 over the same 100,000 bodies. The ratio must stay under 3.
"""

from __future__ import annotations

import hashlib
import json
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

MANIFEST = textwrap.dedent(
    """\
    version: 1
    name: bench-100k
    defaults: {model: gpt-image-2-all, n: 2}
    vars: {brand: Lumen}
    jobs:
      - name: grid
        prompt: "A {product} by {brand} on a {surface} surface, {light}, shot {angle}"
        matrix:
          product: [p0, p1, p2, p3, p4, p5, p6, p7, p8, p9]
          surface: [s0, s1, s2, s3, s4, s5, s6, s7, s8, s9]
          light: [l0, l1, l2, l3, l4, l5, l6, l7, l8, l9, l10, l11, l12,
                  l13, l14, l15, l16, l17, l18, l19, l20, l21, l22, l23, l24]
          angle: [a0, a1, a2, a3, a4, a5, a6, a7, a8, a9]
          size: ["1:1", "4:5", "16:9", "9:16"]
    """
)
ROUNDS = 5

# What `seedance-batch plan MANIFEST --format json > file` does, timed inside the process.
_PLAN_ONCE = """
import os, sys, time, resource
from seedance_batch import load_manifest, plan
from seedance_batch.reports import write_plan_json
started = time.perf_counter()
result = plan(load_manifest(sys.argv[1]))
with open(os.devnull, "w") as out:
    write_plan_json(result, out)
elapsed = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(elapsed, peak, len(result.jobs))
"""


def _bare_loop(path: Path) -> float:
    from seedance_batch import load_manifest, plan

    bodies = [(dict(job.request), job.repeat) for job in plan(load_manifest(path)).jobs]
    started = time.perf_counter()
    for body, repeat in bodies:
        canonical = json.dumps(
            {"request": body, "repeat": repeat},
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )
        hashlib.sha256(canonical.encode()).hexdigest()
    return time.perf_counter() - started


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.yaml"
        path.write_text(MANIFEST)
        plans, peaks, bares = [], [], []
        jobs = 0
        for _ in range(ROUNDS):
            out = subprocess.run(
                [sys.executable, "-c", _PLAN_ONCE, str(path)],
                check=True,
                capture_output=True,
                text=True,
            ).stdout.split()
            plans.append(float(out[0]))
            peaks.append(float(out[1]))
            jobs = int(out[2])
            bares.append(_bare_loop(path))
    plan_s = statistics.median(plans)
    bare_s = statistics.median(bares)
    print(f"plan of {jobs:,} jobs to JSON: {plan_s:.2f} s median of {ROUNDS} (target <= 1.5 s)")
    print(f"peak memory: {statistics.median(peaks):.0f} MB median (target <= 300 MB)")
    print(f"bare canonical JSON + SHA-256 loop: {bare_s:.2f} s median of {ROUNDS}")
    print(f"ratio: {plan_s / bare_s:.2f}x (target < 3)")


if __name__ == "__main__":
    main()
