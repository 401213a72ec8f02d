"""Helpers of the report tests: the CLI as a process and lockfiles written to given states."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from seedance_batch import load_manifest, plan
from seedance_batch.lockfile import ImageRecord, JobRecord, Lockfile

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "manifests" / "demo.yaml"

Record = Callable[..., list[str]]


def image_sha256(path: str) -> str:
    """The SHA-256 :func:`write_records` gives the image recorded at ``path``: one per path."""
    return hashlib.sha256(path.encode()).hexdigest()


def cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """``python -m seedance_batch ARGS`` as a real process."""
    return subprocess.run(
        [sys.executable, "-m", "seedance_batch", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )


def write_records(
    manifest_path: Path,
    states: Mapping[int, str],
    *,
    charged: Mapping[int, int] | None = None,
    images: Mapping[int, int] | None = None,
    errors: Mapping[int, str] | None = None,
    orphan_charged: int = 0,
    name: str | None = None,
) -> list[str]:
    """A real lockfile beside the manifest giving its jobs these states (by plan index), these
    credits charged, this many image records (``<job output>/<k>.png``) and these failure
    messages, recorded for campaign ``name`` (the manifest's by default); return all ids."""
    manifest = load_manifest(manifest_path)
    jobs = plan(manifest).jobs
    path = manifest_path.with_name(manifest_path.stem + ".lock.json")
    recorded_name = name or manifest.name
    with Lockfile.open(path, manifest_name=recorded_name, manifest_sha256="0" * 64) as lock:
        lock.adopt_plan(jobs)
        for index, state in states.items():
            job = jobs[index]
            record = JobRecord(job.id, job.job, dict(job.variant), job.repeat, dict(job.request))
            task = f"task-{index}" if state in ("submitted", "succeeded", "failed") else None
            count = (images or {}).get(index, job.images if state == "succeeded" else 0)
            files = tuple(
                ImageRecord(
                    f"https://x/{k}",
                    f"{job.output}/{k}.png",
                    image_sha256(f"{job.output}/{k}.png"),
                    3,
                )
                for k in range(1, count + 1)
            )
            lock.put(
                record.replace(
                    state=state,
                    task_id=task,
                    attempts=1,
                    images=files,
                    error=(errors or {}).get(index, "content policy")
                    if state == "failed"
                    else None,
                    credits_charged=(charged or {}).get(index, 0),
                )
            )
        if orphan_charged:
            orphan = JobRecord("f" * 16, "gone", {"size": "1:1"}, 0, {"prompt": "old"})
            lock.put(
                orphan.replace(
                    state="succeeded", task_id="t-old", attempts=1, credits_charged=orphan_charged
                )
            )
    return [job.id for job in jobs]
