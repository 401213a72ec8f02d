"""``merge``: shard lockfiles and their images folded into the campaign's lockfile and ``<out>``.

Each shard lockfile is read with its journal folded in (never written: an artifact folder may
be read-only), refused while a run holds it (exit 4) and when it is another campaign's (exit
2). The campaign's lockfile is taken with the run lock (exit 4 while a run holds it) and made
when missing, with a nonce of its own (a create a shard left interrupted keeps the shard's, so
that it is sent again under the Idempotency-Key it was sent with). Each job's records are folded by
:func:`~seedance_batch.lockfile.fold_records` (the most advanced state wins, no task id
is lost) and written through :meth:`Lockfile.put`, whose rises of ``credits_charged`` make
``spent``: so the shards' charges add up, and merging a lockfile a second time adds nothing.

A winning record's images are copied from the shard's output folder (its ``output``, relative
to the shard lockfile) into ``<out>`` at their recorded paths, checked by size and SHA-256,
never written outside ``<out>``; an image already in place with its hash is left alone.
``results.jsonl`` and ``index.html`` are then rewritten for the whole campaign.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from seedance_batch._errors import ConfigurationError, LockHeldError
from seedance_batch._files import atomic_write
from seedance_batch._gallery import write_gallery
from seedance_batch._manifest import Manifest
from seedance_batch._planner import plan
from seedance_batch._results import result_lines, write_results
from seedance_batch._run_files import job_folder, output_folder, recorded_size
from seedance_batch.lockfile import (
    ImageRecord,
    JobRecord,
    Lockfile,
    LockfileSnapshot,
    default_lockfile_path,
    fold_records,
    lock_holder,
    read_lockfile,
)

__all__ = ["MergeReport", "Overlap", "ShardMerged", "merge"]


@dataclass(frozen=True)
class ShardMerged:
    """What one shard lockfile brought: records taken, credits added, images copied."""

    path: Path
    records: int
    credits: int
    images_copied: int


@dataclass(frozen=True)
class Overlap:
    """A job that two lockfiles both submitted: the task kept, and the other ones (charged)."""

    job_id: str
    job: str
    task_id: str | None
    other_tasks: tuple[str, ...]
    shard: Path


@dataclass(frozen=True)
class MergeReport:
    """The merge: the campaign's lockfile and output folder, each shard's share, the jobs two
    lockfiles both submitted, images that could not be found or checked, states and spent."""

    lockfile: Path
    out: Path
    shards: tuple[ShardMerged, ...]
    overlaps: tuple[Overlap, ...]
    missing_images: tuple[str, ...]
    by_state: dict[str, int]
    spent_before: int
    spent: int
    possible_double_charges: int


def _read_shard(path: Path, manifest: Manifest, campaign: Path) -> LockfileSnapshot:
    if os.path.abspath(path) == os.path.abspath(campaign):
        raise ConfigurationError(f"{path}: is the campaign's own lockfile, not a shard's")
    holder = lock_holder(path)
    if holder is not None:
        raise LockHeldError(str(path), f"pid {holder.pid} on {holder.host or 'this host'}")
    snapshot = read_lockfile(path, manifest.name)  # LockfileMismatchError: exit 2
    if snapshot is None:
        raise ConfigurationError(f"{path}: no such lockfile")
    return snapshot


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class _Images:
    """Copies a record's images from a shard's output folder into ``<out>``, checked."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.missing: list[str] = []
        self._parents: dict[str, Path] = {}
        self._out_folders: dict[str, bool] = {}

    def bring(self, source: Path, record: JobRecord) -> int:
        """Every image of ``record`` in ``<out>``; the number copied."""
        copied = 0
        for image in record.images:
            if self._in_place(self.out, image):
                continue
            if self._copy(source, image):
                copied += 1
            else:
                self.missing.append(f"{image.path} (job {record.id}, from {source})")
        return copied

    def _in_place(self, folder: Path, image: ImageRecord) -> bool:
        if recorded_size(folder, image.path, self._out_folders) != image.bytes:
            return False
        return _sha256_of(folder / image.path) == image.sha256

    def _copy(self, source: Path, image: ImageRecord) -> bool:
        if os.path.realpath(source) == os.path.realpath(self.out):
            return False  # the same folder, and the file is not there as recorded
        if recorded_size(source, image.path, {}) != image.bytes:
            return False
        data = (source / image.path).read_bytes()
        if hashlib.sha256(data).hexdigest() != image.sha256:
            return False
        folder_name, _, name = image.path.rpartition("/")
        folder = job_folder(self.out, folder_name, self._parents) if folder_name else self.out
        atomic_write(folder / name, data, what="the image")
        self._out_folders.clear()  # a folder was made: the cached checks are stale
        return True


def _keyed(record: JobRecord, shard_nonce: str | None, campaign_nonce: str) -> JobRecord:
    """``record`` as the campaign's lockfile keeps it: an interrupted create keeps the nonce
    it was sent with (the shard's), so that it is sent again under the same Idempotency-Key;
    any other record needs none (its next create is the campaign's), nor does the campaign's."""
    nonce = None
    if record.state == "submitting":
        nonce = record.nonce or shard_nonce
    if nonce == campaign_nonce:
        nonce = None
    return record if nonce == record.nonce else record.replace(nonce=nonce)


def merge(
    manifest: Manifest,
    shard_lockfiles: Sequence[str | os.PathLike[str]],
    *,
    lockfile: Path | None = None,
    out: Path | None = None,
) -> MergeReport:
    """Fold ``shard_lockfiles`` (journals included) into the campaign's lockfile
    (``lockfile``, else ``<stem>.lock.json``) and their images into ``<out>`` (``out``, else
    the one the campaign's lockfile records, else the manifest's); then rewrite
    ``results.jsonl`` and ``index.html``.

    Raises :class:`LockHeldError` (exit 4) when a run holds the campaign's lockfile or a
    shard's, :class:`LockfileMismatchError` (exit 2) for a lockfile of another campaign, and
    :class:`OutputError` (exit 1) when an image or output file cannot be written.
    """
    campaign_path = lockfile or default_lockfile_path(manifest.path)
    paths = [Path(p) for p in dict.fromkeys(os.fspath(p) for p in shard_lockfiles)]
    shards = [(path, _read_shard(path, manifest, campaign_path)) for path in paths]
    with Lockfile.open(
        campaign_path, manifest_name=manifest.name, manifest_sha256=manifest.sha256
    ) as lock:
        full = plan(manifest, lock)
        lock.adopt_plan(full.jobs)
        target = output_folder(manifest, lock.path, lock, out)
        lock.set_output(target)
        spent_before = lock.spent.credits
        images = _Images(target)
        merged: list[ShardMerged] = []
        overlaps: list[Overlap] = []
        for path, snapshot in shards:
            source = output_folder(manifest, path, snapshot)
            before, taken, copied = lock.spent.credits, 0, 0
            for incoming in snapshot.jobs.values():
                record = _keyed(incoming, snapshot.nonce, lock.nonce)
                folded = fold_records(lock.get(record.id), record)
                if folded.took_incoming:
                    copied += images.bring(source, folded.record)
                if folded.overlap:
                    kept = folded.record
                    overlap = Overlap(kept.id, kept.job, kept.task_id, kept.other_tasks, path)
                    overlaps.append(overlap)
                if folded.record != lock.get(record.id):
                    lock.put(folded.record)
                    taken += 1
            merged.append(ShardMerged(path, taken, lock.spent.credits - before, copied))
        lock.compact()
        records = lock.jobs
        by_state: dict[str, int] = {}
        for job in full.jobs:
            state = records[job.id].state
            by_state[state] = by_state.get(state, 0) + 1
        spent = lock.spent
        write_results(target, result_lines(full.jobs, records))
        write_gallery(target, manifest, full.jobs, records)
    return MergeReport(
        lockfile=campaign_path,
        out=target,
        shards=tuple(merged),
        overlaps=tuple(overlaps),
        missing_images=tuple(images.missing),
        by_state=by_state,
        spent_before=spent_before,
        spent=spent.credits,
        possible_double_charges=spent.possible_double_charges,
    )
