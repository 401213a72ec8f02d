"""Issue 13: a 10,000-row CSV job planned to JSON, beside the same jobs written as inline
``rows`` in the manifest (target: the CSV within 1.3x of the inline rows' time)."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROWS = 10_000
ROUNDS = 3
SIZES = ("1:1", "4:5", "16:9", "9:16")
HEAD = (
    "version: 1\nname: bench-rows\ndefaults: {model: gpt-image-2-all}\njobs:\n"
    '  - name: packshot\n    prompt: "{title} in {colour}, on a marble slab"\n'
)

# What `seedance-batch plan MANIFEST --format json > file` does, timed inside the process.
_PLAN_ONCE = """
import os, sys, time
from seedance_batch import load_manifest, plan
from seedance_batch.reports import write_plan_json
started = time.perf_counter()
result = plan(load_manifest(sys.argv[1]))
with open(os.devnull, "w") as out:
    write_plan_json(result, out)
print(time.perf_counter() - started, len(result.jobs))
"""


def _rows() -> list[dict[str, str]]:
    return [
        {"id": f"sku-{i:05d}", "title": f"Product {i}", "colour": f"colour {i % 97}",
         "size": SIZES[i % 4]}
        for i in range(ROWS)
    ]  # fmt: skip


def _time(path: Path) -> tuple[float, int]:
    out = subprocess.run(
        [sys.executable, "-c", _PLAN_ONCE, str(path)], check=True, capture_output=True, text=True
    ).stdout.split()
    return float(out[0]), int(out[1])


def main() -> None:
    rows = _rows()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        csv_lines = ["id,title,colour,size"] + [",".join(r.values()) for r in rows]
        (folder / "products.csv").write_text("\n".join(csv_lines) + "\n", encoding="utf-8")
        from_csv = folder / "csv.yaml"
        from_csv.write_text(HEAD + "    rows: products.csv\n", encoding="utf-8")
        inline = folder / "inline.yaml"
        inline.write_text(
            HEAD + "    rows:\n" + "".join(f"      - {json.dumps(r)}\n" for r in rows),
            encoding="utf-8",
        )
        csv_times, inline_times = [], []
        for _ in range(ROUNDS):
            elapsed, csv_jobs = _time(from_csv)
            csv_times.append(elapsed)
            elapsed, inline_jobs = _time(inline)
            inline_times.append(elapsed)
    assert csv_jobs == inline_jobs == ROWS, (csv_jobs, inline_jobs)
    csv_s, inline_s = statistics.median(csv_times), statistics.median(inline_times)
    print(f"plan of {ROWS:,} rows from a CSV to JSON: {csv_s:.2f} s median of {ROUNDS}")
    print(f"the same {ROWS:,} rows inline in the manifest: {inline_s:.2f} s median of {ROUNDS}")
    print(f"ratio: {csv_s / inline_s:.2f}x (target <= 1.3x)")


if __name__ == "__main__":
    main()
