"""Lockfile figures: loading a 10,000-job lockfile, and bytes written by a 10,000-job run."""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from seedance_batch.lockfile import (
    ImageRecord,
    JobRecord,
    Lockfile,
    read_lockfile,
    render_lockfile,
    schema_path,
)

JOBS = 10_000
SHA = hashlib.sha256(b"bench").hexdigest()


def _record(index: int) -> JobRecord:
    job_id = hashlib.sha256(f"bench-{index}".encode()).hexdigest()[:16]
    return JobRecord(
        id=job_id,
        job="hero",
        variant={"product": "serum", "light": "golden hour", "size": "1:1"},
        repeat=index % 2,
        request={
            "model": "gpt-image-2-all",
            "n": 2,
            "prompt": "A serum bottle by Lumen on a warm beige pedestal, golden hour",
            "size": "1:1",
        },
    )


def _finished(record: JobRecord) -> JobRecord:
    return record.replace(
        state="succeeded",
        task_id=f"task_{record.id}",
        attempts=1,
        submitted_at="2025-11-25T16:18:00Z",
        finished_at="2025-11-25T16:19:30Z",
        images=tuple(
            ImageRecord(
                url=f"https://img.example.com/{record.id}/{k}.png",
                path=f"hero/serum_golden-hour_1x1-{record.id[:8]}/{k}.png",
                sha256=hashlib.sha256(f"{record.id}/{k}".encode()).hexdigest(),
                bytes=1_000_000 + k,
            )
            for k in (1, 2)
        ),
        credits_charged=4,
    )


def _timed(label: str, action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    elapsed = time.perf_counter() - started
    print(f"   {label}: {elapsed * 1000:.0f} ms")
    return elapsed


def main() -> None:
    """Print load times of a 10,000-job lockfile and the bytes a 10,000-job run writes."""
    records = [_record(i) for i in range(JOBS)]
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
                lockfile.put(_finished(record))
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
        finished = [_finished(r) for r in records]
        path.write_bytes(render_lockfile("bench", SHA, finished, nonce="0123456789abcdef"))
        _timed(f"read_lockfile, {JOBS} jobs (parse + check + records)", lambda: read_lockfile(path))

        def rerun() -> None:
            with Lockfile.open(path, manifest_name="bench", manifest_sha256=SHA) as lockfile:
                lockfile.adopt_plan(records)
                assert lockfile.bytes_written == 0

        _timed("Lockfile.open + adopt_plan + close, nothing to do", rerun)
        _timed(
            "render (a full rewrite's serialisation)",
            lambda: render_lockfile("bench", SHA, [_finished(r) for r in records]),
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
