"""``prune``: forget jobs the manifest no longer plans, and remove their files, nothing else."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from seedance_batch._layout import IMAGE_EXTENSIONS, job_dir, resolve_inside, slug_part
from seedance_batch._lockfile import JobRecord, Lockfile, default_lockfile_path, read_lockfile
from seedance_batch._manifest import Manifest
from seedance_batch._planner import plan

__all__ = ["PruneResult", "prune"]


@dataclass(frozen=True)
class PruneResult:
    """The orphaned entries found (removed unless a dry run) and the files they owned."""

    orphans: tuple[JobRecord, ...]
    files: tuple[Path, ...]
    folders: tuple[Path, ...]
    dry_run: bool


def _owned(out: Path, record: JobRecord) -> tuple[list[Path], list[Path]]:
    """The files an orphan owns: its recorded images and the leftovers of its downloads, in
    its own folder (``<job>/<slug>-<id8>``); never anything else."""
    slug = "_".join(p for p in (slug_part(v) for v in record.variant.values()) if p)
    folders = {job_dir(record.job, slug, record.id)}
    folders.update(image.path.rpartition("/")[0] for image in record.images)
    files: list[Path] = []
    found: list[Path] = []
    for relative in sorted(folders):
        folder = resolve_inside(out, relative)
        if not folder.is_dir():
            continue
        found.append(folder)
        for entry in sorted(folder.iterdir()):
            stem, _, ext = entry.name.partition(".")
            ours = (stem.isdigit() and ext in IMAGE_EXTENSIONS) or (
                entry.name.startswith(".") and entry.name.endswith(".part")
            )
            if ours and entry.is_file():
                files.append(entry)
    return files, found


def prune(
    manifest: Manifest, *, lockfile: Path | None = None, out: Path | None = None, dry_run: bool
) -> PruneResult:
    """Remove the lockfile entries of orphaned jobs and their image files (empty folders too).

    A dry run reads the lockfile and changes nothing; a real one takes the run lock (exit 4
    while a run holds it).
    """
    path = lockfile or default_lockfile_path(manifest.path)
    out = out or manifest.output_dir
    if dry_run:
        snapshot = read_lockfile(path)
        records = snapshot.jobs if snapshot is not None else {}
        return _found(out, [records[i] for i in plan(manifest, snapshot).orphans], dry_run=True)
    with Lockfile.open(path, manifest_name=manifest.name, manifest_sha256=manifest.sha256) as lock:
        result = _found(out, [lock.jobs[i] for i in plan(manifest, lock).orphans], dry_run=False)
        for file in result.files:
            file.unlink()
        for folder in result.folders:
            with contextlib.suppress(OSError):  # a folder still holding a user's file stays
                os.rmdir(folder)
        lock.remove(record.id for record in result.orphans)
    return result


def _found(out: Path, orphans: list[JobRecord], *, dry_run: bool) -> PruneResult:
    files: list[Path] = []
    folders: list[Path] = []
    for record in orphans:
        owned_files, owned_folders = _owned(out, record)
        files += owned_files
        folders += owned_folders
    return PruneResult(tuple(orphans), tuple(files), tuple(folders), dry_run)
