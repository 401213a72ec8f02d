"""``prune``: forget jobs the manifest no longer plans, and remove their files, nothing else."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from seedance_batch._errors import OutputError
from seedance_batch._files import is_temporary
from seedance_batch._layout import IMAGE_EXTENSIONS, job_dir, slug_room, variant_slug
from seedance_batch._manifest import Manifest
from seedance_batch._planner import Job, Plan, plan
from seedance_batch._run_files import is_plain_relpath, output_folder
from seedance_batch.lockfile import JobRecord, Lockfile, default_lockfile_path, read_lockfile

__all__ = ["PruneResult", "prune"]


@dataclass(frozen=True)
class PruneResult:
    """The orphaned entries found (removed unless a dry run) and the files they owned."""

    orphans: tuple[JobRecord, ...]
    files: tuple[Path, ...]
    folders: tuple[Path, ...]
    dry_run: bool


def _plain_folder(out: Path, relative: str) -> Path | None:
    """``<out>/<relative>`` when it is a folder reached through no link, inside ``<out>``."""
    if not is_plain_relpath(relative) or not relative:
        return None
    root = os.path.realpath(out)
    folder = os.path.normpath(os.path.join(root, relative))
    if os.path.realpath(folder) != folder or not os.path.isdir(folder):
        return None
    return Path(folder)


def _is_ours(name: str) -> bool:
    """A file a run writes in a job folder: an image (``<folder name>-<k>.<ext>``, with
    ``-t<take>`` for a later take, or ``<k>.<ext>`` as older runs named it) or a download's
    temporary."""
    stem, _, ext = name.rpartition(".")
    index = stem.rpartition("-")[2]
    return (
        (ext in IMAGE_EXTENSIONS and (stem.isdigit() or index.isdigit()))
        or (name.startswith(".") and name.endswith(".part"))
        or is_temporary(name)
    )


def _owned(out: Path, record: JobRecord, kept: _Kept) -> tuple[list[Path], list[Path]]:
    """The files an orphan owns alone: the recorded images of all its takes and the leftovers
    of its downloads, in its own folders, as regular files (never a link, never a planned
    job's file or folder, never outside ``<out>``)."""
    slug = variant_slug(record.variant.values(), slug_room(record.job))
    folders = {job_dir(record.job, slug, record.id)}
    folders.update(image.path.rpartition("/")[0] for _, image in record.all_images())
    files: list[Path] = []
    found: list[Path] = []
    for relative in sorted(folders - kept.folders):
        folder = _plain_folder(out, relative)
        if folder is None:
            continue
        found.append(folder)
        try:
            with os.scandir(folder) as entries:
                names = sorted(
                    e.name for e in entries if _is_ours(e.name) and e.is_file(follow_symlinks=False)
                )
        except OSError as exc:
            raise OutputError.from_os_error(folder, exc, "cannot read the folder") from exc
        files += [folder / name for name in names if f"{relative}/{name}" not in kept.files]
    return files, found


@dataclass(frozen=True)
class _Kept:
    """What the planned jobs own: their folders and every image they record."""

    folders: frozenset[str]
    files: frozenset[str]


def _kept(planned: Iterable[Job], records: Mapping[str, JobRecord]) -> _Kept:
    folders: set[str] = set()
    files: set[str] = set()
    for job in planned:
        folders.add(job.output)
        record = records.get(job.id)
        if record is not None:
            paths = [image.path for _, image in record.all_images()]  # every take's, kept
            files.update(paths)
            folders.update(path.rpartition("/")[0] for path in paths)
    return _Kept(frozenset(folders), frozenset(files))


def prune(
    manifest: Manifest, *, lockfile: Path | None = None, out: Path | None = None, dry_run: bool
) -> PruneResult:
    """Remove the lockfile entries of orphaned jobs and their image files (empty folders too).

    A dry run reads the lockfile and changes nothing; a real one takes the run lock (exit 4
    while a run holds it).
    """
    path = lockfile or default_lockfile_path(manifest.path)
    if dry_run:
        snapshot = read_lockfile(path)
        records = snapshot.jobs if snapshot is not None else {}
        folder = output_folder(manifest, path, snapshot, out)
        return _found(folder, plan(manifest, snapshot), records, dry_run=True)
    with Lockfile.open(path, manifest_name=manifest.name, manifest_sha256=manifest.sha256) as lock:
        folder = output_folder(manifest, path, lock, out)
        result = _found(folder, plan(manifest, lock), lock.jobs, dry_run=False)
        for file in result.files:
            try:
                file.unlink()
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise OutputError.from_os_error(file, exc, "cannot remove") from exc
        for folder in result.folders:
            with contextlib.suppress(OSError):  # a folder still holding a user's file stays
                os.rmdir(folder)
        lock.remove(record.id for record in result.orphans)
    return result


def _found(
    out: Path, planned: Plan, records: Mapping[str, JobRecord], *, dry_run: bool
) -> PruneResult:
    orphans = [records[i] for i in planned.orphans]
    kept = _kept(planned.jobs, records)
    files: list[Path] = []
    folders: list[Path] = []
    for record in orphans:
        owned_files, owned_folders = _owned(out, record, kept)
        files += [f for f in owned_files if f not in files]
        folders += [f for f in owned_folders if f not in folders]
    return PruneResult(tuple(orphans), tuple(files), tuple(folders), dry_run)
