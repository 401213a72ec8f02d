"""``verify``: every image under ``<out>`` re-hashed against the lockfile (every take), and
every delivered file it can reach re-hashed against its destination's ``delivery.json``.

The destinations are those ``export`` remembered in ``<out>/.deliveries.json``, and any
named with ``to``. Each problem is one line: a missing file, a file whose SHA-256 differs, a
destination that cannot be read or has no record.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from seedance_batch._errors import DeliveryError
from seedance_batch._manifest import Manifest
from seedance_batch._run_files import output_folder
from seedance_batch.delivery._destinations import Destination, read_destinations, where
from seedance_batch.delivery._record import JSON_NAME, read_record
from seedance_batch.delivery._target import open_target
from seedance_batch.lockfile import default_lockfile_path, read_lockfile

__all__ = ["VerifyReport", "verify"]

_CHUNK = 1 << 20


@dataclass(frozen=True)
class VerifyReport:
    """What verify checked and found: one line per problem, none when all is well."""

    images: int
    delivered: int
    destinations: tuple[str, ...]
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(
    manifest: Manifest,
    *,
    to: Sequence[str] = (),
    endpoint_url: str | None = None,
    lockfile: Path | None = None,
) -> VerifyReport:
    """Re-hash the campaign's images and its delivered files (see the module)."""
    lockfile_path = lockfile or default_lockfile_path(manifest.path)
    snapshot = read_lockfile(lockfile_path, manifest.name)
    problems: list[str] = []
    images = 0
    out = output_folder(manifest, lockfile_path, snapshot)
    for record in snapshot.jobs.values() if snapshot is not None else ():
        for _take, image in record.all_images():
            images += 1
            problem = _check_image(out, image.path, image.sha256)
            if problem is not None:
                problems.append(problem)
    destinations = list(dict.fromkeys(read_destinations(out)))
    for dest in to:
        extra = Destination(where(dest), endpoint_url)
        if all(d.dest != extra.dest for d in destinations):
            destinations.append(extra)
    delivered = 0
    for destination in destinations:
        checked, found = _check_destination(destination)
        delivered += checked
        problems.extend(found)
    return VerifyReport(images, delivered, tuple(d.dest for d in destinations), tuple(problems))


def _sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _check_image(out: Path, relpath: str, expected: str) -> str | None:
    parts = PurePosixPath(relpath)
    if parts.is_absolute() or ".." in parts.parts:
        return f"outside the output folder: {relpath} (the lockfile names it; left alone)"
    path = os.path.join(out, *parts.parts)
    try:
        found = _sha256_file(path)
    except FileNotFoundError:
        return f"missing: {path}"
    except OSError as exc:
        return f"unreadable: {path}: {exc.strerror or exc}"
    if found != expected:
        return f"changed: {path}: SHA-256 {found[:12]}..., the lockfile says {expected[:12]}..."
    return None


def _check_destination(destination: Destination) -> tuple[int, list[str]]:
    """The files checked at one destination and its problems."""
    try:
        target = open_target(destination.dest, endpoint_url=destination.endpoint_url)
        entries = read_record(target)
        if not entries and target.read(JSON_NAME) is None:
            return 0, [f"missing: {destination.dest.rstrip('/')}/{JSON_NAME} (no record there)"]
        problems = []
        for entry in entries.values():
            found = target.sha256_of(entry.name)
            shown = f"{target.describe().rstrip('/')}/{entry.name}"
            if found is None:
                problems.append(f"missing: {shown}")
            elif found != entry.sha256:
                problems.append(
                    f"changed: {shown}: SHA-256 {found[:12]}..., "
                    f"delivery.json says {entry.sha256[:12]}..."
                )
        return len(entries), problems
    except DeliveryError as exc:
        return 0, [str(exc)]
