"""Issue 13: `seedance-batch validate` on a manifest extending a three-level fragment chain,
beside the same manifest flattened (target: within 1.2x of the flattened one's time)."""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROUNDS = 7
JOBS = "jobs:\n" + "".join(
    f"  - name: job-{i}\n    prompt: 'A {{product}} by {{brand}}, {{tagline}}'\n"
    f"    matrix: {{product: [serum, cream, toner], size: ['1:1', '4:5']}}\n"
    for i in range(20)
)
BASE = "defaults: {model: gpt-image-2-all}\nexecution: {concurrency: 4}\n"
KIT = "extends: base.yaml\ndefaults: {resolution: 1k}\nvars: {brand: Lumen}\n"
SEASON = "extends: kit.yaml\ndefaults: {n: 2}\nvars: {tagline: spring glow}\n"
CHAINED = "version: 1\nname: bench-fragments\nextends: brand/season.yaml\n" + JOBS
FLAT = (
    "version: 1\nname: bench-fragments\n"
    "defaults: {model: gpt-image-2-all, resolution: 1k, n: 2}\n"
    "vars: {brand: Lumen, tagline: spring glow}\nexecution: {concurrency: 4}\n" + JOBS
)


def _validate(path: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "seedance_batch", "validate", str(path)],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "brand").mkdir()
        (folder / "brand/base.yaml").write_text(BASE)
        (folder / "brand/kit.yaml").write_text(KIT)
        (folder / "brand/season.yaml").write_text(SEASON)
        (folder / "chained.yaml").write_text(CHAINED)
        (folder / "flat.yaml").write_text(FLAT)
        chained, flat = [], []
        for _ in range(ROUNDS):
            flat.append(_validate(folder / "flat.yaml"))
            chained.append(_validate(folder / "chained.yaml"))
    chained_s, flat_s = statistics.median(chained), statistics.median(flat)
    print(f"validate, three-level fragment chain: {chained_s:.3f} s median of {ROUNDS}")
    print(f"validate, the same manifest flattened: {flat_s:.3f} s median of {ROUNDS}")
    print(f"ratio: {chained_s / flat_s:.2f}x (target <= 1.2x)")


if __name__ == "__main__":
    main()
