"""Helpers of the gallery tests: real PNG files (stdlib only) and a campaign folder on disk."""

from __future__ import annotations

import hashlib
import struct
import textwrap
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seedance_batch import Manifest, load_manifest, plan
from seedance_batch._gallery import write_gallery
from seedance_batch._planner import Job
from seedance_batch._results import result_lines, write_results
from seedance_batch.lockfile import ImageRecord, JobRecord, render_lockfile

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "manifests" / "demo.yaml"
ARTIFACTS = REPO / "test-artifacts"
#: A folder name that needs escaping in a file:// URL: the gallery must open from anywhere.
AWKWARD_DIR = "out dir #1 ü"


def png_bytes(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A valid RGB PNG of one colour, with a darker diagonal so that it is not blank."""
    dark = bytes(c // 2 for c in rgb)
    rows = []
    for y in range(height):
        row = bytearray(bytes(rgb) * width)
        x = y * width // height
        row[3 * x : 3 * x + 3] = dark
        rows.append(b"\x00" + bytes(row))
    raw = b"".join(rows)

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 6))
        + chunk(b"IEND", b"")
    )


def pixel_size(job: Job, base: int = 60) -> tuple[int, int]:
    """A small pixel size with the aspect ratio of the job's requested size."""
    size = str(job.request.get("size") or job.request.get("imageSizePreset") or "1:1")
    w, _, h = size.replace("x", ":").partition(":")
    return base, max(1, round(base * int(h) / int(w)))


def colour(text: str) -> tuple[int, int, int]:
    digest = hashlib.sha256(text.encode()).digest()
    return 80 + digest[0] % 160, 80 + digest[1] % 160, 80 + digest[2] % 160


def succeeded(
    job: Job, out: Path, *, write: bool = True, delivered: int | None = None, width: int = 60
) -> JobRecord:
    """The record of ``job`` after a successful run; its PNG files (``width`` pixels wide, each
    of its own colour) written under ``out``."""
    images = []
    for k in range(1, (job.images if delivered is None else delivered) + 1):
        path = f"{job.output}/{k}.png"
        data = png_bytes(*pixel_size(job, width), colour(path))
        if write:
            target = out / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        images.append(
            ImageRecord(
                url=f"http://127.0.0.1:9/files/{job.id}/{k}.png",
                path=path,
                sha256=hashlib.sha256(data).hexdigest(),
                bytes=len(data),
            )
        )
    return _record(job, state="succeeded", attempts=1, images=tuple(images))


def failed(job: Job, error: str = "400 Bad Request: the prompt was refused") -> JobRecord:
    """The record of ``job`` after its task failed (charged, as the contract presumes)."""
    return _record(job, state="failed", attempts=3, error=error)


def _record(job: Job, **fields: Any) -> JobRecord:
    """A finished job's record: one task, its times, its credits charged, and ``fields``."""
    return JobRecord(
        id=job.id,
        job=job.job,
        variant=dict(job.variant),
        repeat=job.repeat,
        request=dict(job.request),
        task_id=f"task_{job.id}",
        submitted_at="2025-11-25T16:18:00Z",
        finished_at="2025-11-25T16:19:30Z",
        credits_charged=job.credits,
        **fields,
    )


def submitted(job: Job) -> JobRecord:
    """The record of ``job`` while its task still runs."""
    return JobRecord(
        id=job.id,
        job=job.job,
        variant=dict(job.variant),
        repeat=job.repeat,
        request=dict(job.request),
        state="submitted",
        task_id=f"task_{job.id}",
        attempts=1,
        submitted_at="2025-11-25T16:18:00Z",
    )


def orphan(out: Path) -> JobRecord:
    """A succeeded record the manifest no longer plans, with its file on disk."""
    path = "hero/old-variant-0123abcd/1.png"
    data = png_bytes(40, 40, (200, 0, 0))
    (out / path).parent.mkdir(parents=True, exist_ok=True)
    (out / path).write_bytes(data)
    return JobRecord(
        id="0123abcd0123abcd",
        job="hero",
        variant={"product": "old"},
        repeat=0,
        request={"prompt": "an edited-away prompt", "model": "gpt-image-2-all", "size": "1:1"},
        state="succeeded",
        task_id="task_old",
        attempts=1,
        submitted_at="2025-11-25T16:18:00Z",
        finished_at="2025-11-25T16:19:30Z",
        images=(
            ImageRecord(
                "http://127.0.0.1:9/old.png", path, hashlib.sha256(data).hexdigest(), len(data)
            ),
        ),
        credits_charged=2,
    )


@dataclass
class Campaign:
    """A campaign's output folder on disk, as a run leaves it."""

    manifest: Manifest
    jobs: tuple[Job, ...]
    records: dict[str, JobRecord]
    out: Path
    index: Path
    results: Path


def write_manifest(folder: Path, text: str, name: str = "m.yaml") -> Path:
    """Write a manifest's text (dedented) into ``folder``; its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def build_campaign(
    manifest_path: Path,
    out: Path,
    *,
    fail: Iterable[int] = (),
    pending: Iterable[int] = (),
    short: Mapping[int, int] | None = None,
    with_orphan: bool = False,
    lockfile: Path | None = None,
) -> Campaign:
    """Plan ``manifest_path`` and lay out ``out`` as a run would: images, results, gallery.

    Jobs at the ``fail`` and ``pending`` positions (plan order) failed or are still running;
    ``short`` maps positions to a number of images delivered (fewer than asked). With
    ``lockfile``, the records are also written there, as the lockfile of the campaign.
    """
    manifest = load_manifest(manifest_path)
    jobs = plan(manifest).jobs
    fail, pending, short = set(fail), set(pending), dict(short or {})
    records: dict[str, JobRecord] = {}
    for position, job in enumerate(jobs):
        if position in fail:
            records[job.id] = failed(job)
        elif position in pending:
            records[job.id] = submitted(job)
        else:
            records[job.id] = succeeded(job, out, delivered=short.get(position))
    if with_orphan:
        extra = orphan(out)
        records[extra.id] = extra
    results = write_results(out, result_lines(jobs, records))
    index = write_gallery(out, manifest, jobs, records)
    if lockfile is not None:
        sha = hashlib.sha256(manifest_path.read_bytes()).hexdigest()
        lockfile.write_bytes(render_lockfile(manifest.name, sha, records.values()))
    return Campaign(manifest, jobs, records, out, index, results)
