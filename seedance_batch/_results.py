"""``<out>/results.jsonl``: one line per image in plan order, no timestamps (section 6)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from seedance_batch._files import atomic_write, regular_file_size
from seedance_batch._layout import RESULTS_NAME
from seedance_batch._planner import Job
from seedance_batch._run_files import ensure_folder, recorded_size
from seedance_batch.lockfile import ImageRecord, JobRecord

__all__ = ["ResultLine", "result_lines", "write_atomic", "write_results"]

_encode = json.JSONEncoder(ensure_ascii=False, separators=(", ", ": ")).encode


@dataclass(frozen=True)
class ResultLine:
    """One image of ``results.jsonl``, in the contract's field order."""

    path: str
    job: str
    job_id: str
    variant: Mapping[str, str]
    repeat: int
    take: int
    index: int
    prompt: str
    model: str
    size: str | None
    resolution: str
    task_id: str | None
    url: str
    sha256: str
    bytes: int

    def to_json(self) -> str:
        """The line's JSON, keys in the contract's order, non-ASCII characters as themselves."""
        return _encode(
            {
                "path": self.path,
                "job": self.job,
                "job_id": self.job_id,
                "variant": dict(self.variant),
                "repeat": self.repeat,
                "take": self.take,
                "index": self.index,
                "prompt": self.prompt,
                "model": self.model,
                "size": self.size,
                "resolution": self.resolution,
                "task_id": self.task_id,
                "url": self.url,
                "sha256": self.sha256,
                "bytes": self.bytes,
            }
        )


def _succeeded_takes(record: JobRecord) -> list[tuple[int, str | None, tuple[ImageRecord, ...]]]:
    """(take, task id, images) of each of the job's succeeded takes, the earliest first."""
    takes = [(t.take, t.task_id, t.images) for t in record.takes if t.state == "succeeded"]
    if record.state == "succeeded":
        takes.append((record.take, record.task_id, record.images))
    return takes


def result_lines(jobs: Iterable[Job], records: Mapping[str, JobRecord]) -> Iterator[ResultLine]:
    """Every image of every planned job's succeeded takes, in plan order, a job's earlier takes
    first (orphans are left out)."""
    for job in jobs:
        record = records.get(job.id)
        if record is None or (record.state != "succeeded" and not record.takes):
            continue
        size = job.request.get("size") or job.request.get("imageSizePreset")
        for take, task_id, images in _succeeded_takes(record):
            for index, image in enumerate(images, start=1):
                yield ResultLine(
                    path=image.path,
                    job=job.job,
                    job_id=job.id,
                    variant=job.variant,
                    repeat=job.repeat,
                    take=take,
                    index=index,
                    prompt=str(job.request["prompt"]),
                    model=job.model,
                    size=str(size) if size is not None else None,
                    resolution=job.resolution,
                    task_id=task_id,
                    url=image.url,
                    sha256=image.sha256,
                    bytes=image.bytes,
                )


def write_atomic(path: Path, data: bytes, *, what: str = "") -> bool:
    """Write ``data`` to ``path`` through an exclusive random temporary and a rename (a link
    planted anywhere is never followed); False, and no write, when the file already holds it.

    Raises :class:`OutputError` naming the path and the reason.
    """
    if regular_file_size(path) == len(data):
        try:
            with open(path, "rb") as handle:
                if handle.read() == data:
                    return False
        except OSError:
            pass
    atomic_write(path, data, what=what)
    return True


def write_results(out: Path, lines: Iterable[ResultLine]) -> Path:
    """Write ``<out>/results.jsonl``; an unchanged campaign leaves the file untouched.

    A recorded image that is missing, a link or not a regular file of its size is left out.
    """
    path = out / RESULTS_NAME
    folders: dict[str, bool] = {}
    text = "".join(
        line.to_json() + "\n"
        for line in lines
        if recorded_size(out, line.path, folders) == line.bytes
    )
    ensure_folder(out)
    write_atomic(path, text.encode("utf-8"), what="results.jsonl")
    return path
