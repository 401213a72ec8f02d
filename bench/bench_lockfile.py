"""Lockfile figures: loading a 10,000-job lockfile, and bytes written by a 10,000-job run."""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from seedance_batch.lockfile import (
    Lockfile,
    read_lockfile,
    render_lockfile,
    schema_path,
)
from tests._support.lockfiles import finished, make_record

JOBS = 10_000
SHA = hashlib.sha256(b"bench").hexdigest()


def _timed(label: str, action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    elapsed = time.perf_counter() - started
    print(f"   {label}: {elapsed * 1000:.0f} ms")
    return elapsed


def main() -> None:
    """Print load times of a 10,000-job lockfile and the bytes a 10,000-job run writes."""
    records = [make_record(i) for i in range(JOBS)]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.lock.json"

        # A run: the plan (one full write), then 3 state changes per job, then the fold.
        with Lockfile.open(path, manifest_name="bench", manifest_sha256=SHA) as lockfile:
            lockfile.adopt_plan(records)
            after_plan = lockfile.bytes_written
            started = time.perf_counter()
            for record in records:
                submitting = record.replace(
                    state="submitting", attempts=1, submitted_at="2025-11-25T16:18:00Z"
                )
                lockfile.put(submitting)
            changes_10k = lockfile.bytes_written - after_plan
            per_put = (time.perf_counter() - started) / JOBS
            for record in records:
                lockfile.put(
                    record.replace(
                        state="submitted",
                        attempts=1,
                        submitted_at="2025-11-25T16:18:00Z",
                        task_id=f"task_{record.id}",
                    )
                )
            for record in records:
                lockfile.put(finished(record))
            journal = lockfile.bytes_written - after_plan
        total = lockfile.bytes_written
        final = path.stat().st_size
        print(f"   final lockfile, {JOBS} jobs: {final / 1e6:.2f} MB")
        print(
            f"   journal bytes over {JOBS} state changes: {changes_10k / 1e6:.2f} MB "
            f"({changes_10k / JOBS:.0f} B per change, {per_put * 1e6:.0f} us per put)"
        )
        print(
            f"   a whole run (plan, {3 * JOBS} changes, fold): {total / 1e6:.2f} MB written "
            f"= {total / final:.1f}x the final lockfile (journal {journal / 1e6:.2f} MB; "
            "target <= 10x)"
        )

        # Loading the finished lockfile: read-only, and a rerun's open + close with nothing to do.
        done = [finished(r) for r in records]
        path.write_bytes(render_lockfile("bench", SHA, done, nonce="0123456789abcdef"))
        _timed(f"read_lockfile, {JOBS} jobs (parse + check + records)", lambda: read_lockfile(path))

        def rerun() -> None:
            with Lockfile.open(path, manifest_name="bench", manifest_sha256=SHA) as lockfile:
                lockfile.adopt_plan(records)
                assert lockfile.bytes_written == 0

        _timed("Lockfile.open + adopt_plan + close, nothing to do", rerun)
        _timed(
            "render (a full rewrite's serialisation)",
            lambda: render_lockfile("bench", SHA, [finished(r) for r in records]),
        )

        import jsonschema

        doc = json.loads(path.read_bytes())
        sample = dict(list(doc["jobs"].items())[:1000])
        validator = jsonschema.Draft202012Validator(json.loads(schema_path().read_text("utf-8")))
        elapsed = _timed(
            "jsonschema over 1,000 entries (not used on load; for comparison)",
            lambda: validator.validate({**doc, "jobs": sample}),
        )
        print(f"   -> jsonschema over {JOBS} entries would take ~{elapsed * JOBS / 1000:.1f} s")


if __name__ == "__main__":
    main()
