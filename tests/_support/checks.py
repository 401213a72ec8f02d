"""Checks shared by the run tests: a campaign is complete, verified and paid for once."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from seedance_batch import load_manifest, plan
from seedance_batch._layout import image_relpath
from seedance_batch.lockfile import read_lockfile
from seedance_batch.simulator import Counters

PNG = b"\x89PNG\r\n\x1a\n"


def assert_complete(manifest: Path, out: Path) -> None:
    """Every planned job succeeded; every image is on disk, a PNG, with its recorded hash."""
    planned = plan(load_manifest(manifest))
    snapshot = read_lockfile(manifest.with_name(manifest.stem + ".lock.json"))
    assert snapshot is not None
    lines = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    expected_paths = []
    for job in planned.jobs:
        record = snapshot.jobs[job.id]
        assert record.state == "succeeded", (job.id, record.state, record.error)
        assert 1 <= len(record.images) <= job.images
        for index, image in enumerate(record.images, start=1):
            data = (out / image.path).read_bytes()
            assert data.startswith(PNG)
            assert hashlib.sha256(data).hexdigest() == image.sha256
            assert len(data) == image.bytes
            assert image.path == image_relpath(job.output, index, "png")
            expected_paths.append(image.path)
    assert [line["path"] for line in lines] == expected_paths
    leftovers = [p for p in out.rglob("*") if ".part" in p.name or ".tmp" in p.name]
    assert leftovers == []


def assert_charged_honestly(manifest: Path, counters: Counters, key: str) -> None:
    """The server charged no more than the lockfile records, and the lockfile over-counts only
    by the possible double charges it reports."""
    snapshot = read_lockfile(manifest.with_name(manifest.stem + ".lock.json"))
    assert snapshot is not None
    planned = {job.id: job for job in plan(load_manifest(manifest)).jobs}
    recorded = sum(r.credits_charged for r in snapshot.jobs.values())
    doubles = sum(r.possible_double_charges * planned[i].credits for i, r in snapshot.jobs.items())
    charged = counters.charges.get(key, 0)
    assert charged <= recorded
    assert recorded - charged <= doubles


def assert_consistent(manifest: Path, out: Path) -> int:
    """After any crash: the lockfile reads, every task id is kept, every succeeded job's images
    are on disk with their recorded hashes. Returns the number of succeeded jobs."""
    snapshot = read_lockfile(manifest.with_name(manifest.stem + ".lock.json"))
    if snapshot is None:
        return 0
    succeeded = 0
    for record in snapshot.jobs.values():
        assert record.state in ("new", "submitting", "submitted", "succeeded", "failed")
        if record.state in ("submitted", "succeeded"):
            assert record.task_id
        if record.state == "succeeded":
            succeeded += 1
            for image in record.images:
                data = (out / image.path).read_bytes()
                assert hashlib.sha256(data).hexdigest() == image.sha256
    return succeeded
