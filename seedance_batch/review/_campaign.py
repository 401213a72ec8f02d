"""The campaign as the review app sees it: every recorded image in plan order, filtered and paged.

Built from the manifest's plan and the lockfile (read with its public reader, without the run
lock, so a run may go on meanwhile), in the output folder the lockfile records. The images are
those of ``results.jsonl`` (every succeeded take of each planned job, in plan order, earlier
takes first; orphans left out), so a second take can be approved beside the first.
:class:`CampaignSource` reads it again when the manifest, the lockfile or its journal changes.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, NamedTuple

from seedance_batch._decisions import APPROVING, Entry, Located
from seedance_batch._results import ResultLine, result_lines
from seedance_batch._thumbs import Source

__all__ = [
    "MAX_LIMIT",
    "Campaign",
    "CampaignSource",
    "Image",
    "Page",
    "image_json",
    "load_campaign",
    "source_of",
]

#: The most images one answer of ``/api/images`` holds (the grid view asks for many).
MAX_LIMIT: Final = 5_000
DEFAULT_LIMIT: Final = 120
#: Query parameters naming an axis start so: ``v.product=serum``.
AXIS_PREFIX: Final = "v."
UNDECIDED: Final = "undecided"


#: What ``/api/images`` tells of each image (its URL and task id stay out).
_SHOWN: Final = (
    "sha256", "path", "bytes", "job", "job_id", "variant", "repeat", "take", "index", "prompt",
    "model", "size", "resolution",
)  # fmt: skip

#: An image of the campaign: a line of ``results.jsonl``.
Image = ResultLine


def image_json(image: Image, entry: Entry | None) -> dict[str, Any]:
    """The image as ``/api/images`` answers it: its fields, then its decision, note and by."""
    fields: dict[str, Any] = {name: getattr(image, name) for name in _SHOWN}
    fields["variant"] = dict(image.variant)
    for name in ("decision", "note", "by"):
        fields[name] = getattr(entry, name) if entry else None
    return fields


def source_of(image: Image) -> Source:
    """What the thumbnails need of an image."""
    return Source(image.path, image.sha256, image.bytes)


class Page(NamedTuple):
    """One answer of ``/api/images``: the matching images from ``offset``, and how many match."""

    total: int
    offset: int
    limit: int
    images: tuple[Image, ...]


def _first_seen(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


@dataclass(frozen=True)
class Campaign:
    """A campaign's images in plan order, looked up by hash and by path."""

    name: str
    manifest: Path
    out: Path
    images: tuple[Image, ...]
    by_sha256: Mapping[str, Image] = field(init=False)
    by_path: Mapping[str, Image] = field(init=False)

    def __post_init__(self) -> None:
        first: dict[str, Image] = {}
        for image in self.images:  # the same bytes twice: the first one stands for both
            first.setdefault(image.sha256, image)
        object.__setattr__(self, "by_sha256", first)
        object.__setattr__(self, "by_path", {i.path: i for i in self.images})

    @functools.cached_property
    def located(self) -> dict[str, Located]:
        """Each hash -> its first image's job id and path, in plan order (for the review file)."""
        return {sha: Located(i.job_id, i.path) for sha, i in self.by_sha256.items()}

    @functools.cached_property
    def facets(self) -> dict[str, Any]:
        """Every value each filter can take, in plan order."""
        axes: dict[str, list[str]] = {}
        for image in self.images:
            for name, value in image.variant.items():
                axes.setdefault(name, []).append(value)
        return {
            "jobs": _first_seen(i.job for i in self.images),
            "models": _first_seen(i.model for i in self.images),
            "resolutions": _first_seen(i.resolution for i in self.images),
            "axes": {name: _first_seen(values) for name, values in axes.items()},
            "decisions": ["approved", "favourite", "rejected", UNDECIDED],
        }

    def select(
        self, query: Mapping[str, Sequence[str]], decisions: Mapping[str, Entry]
    ) -> list[Image]:
        """The images every filter of ``query`` lets through (one filter's values: any of them).

        ``job``, ``model``, ``resolution``, ``decision`` (``approved`` includes favourites,
        ``undecided``), ``v.<axis>`` and ``q`` (words the prompt or path must all contain).
        """
        fields = {n: set(query[n]) for n in ("job", "model", "resolution") if query.get(n)}
        axes = {
            name[len(AXIS_PREFIX) :]: set(values)
            for name, values in query.items()
            if name.startswith(AXIS_PREFIX) and values
        }
        words = " ".join(query.get("q", ())).lower().split()
        chosen = set(query.get("decision", ()))

        def keep(image: Image) -> bool:
            if any(getattr(image, n) not in wanted for n, wanted in fields.items()):
                return False
            if any(image.variant.get(a) not in wanted for a, wanted in axes.items()):
                return False
            text = f"{image.prompt} {image.path}".lower() if words else ""
            if not all(word in text for word in words):
                return False
            return not chosen or _decision_matches(decisions.get(image.sha256), chosen)

        return [image for image in self.images if keep(image)]

    def page(self, query: Mapping[str, Sequence[str]], decisions: Mapping[str, Entry]) -> Page:
        """``select`` from ``offset`` (default 0), at most ``limit`` (default 120) images."""
        matching = self.select(query, decisions)
        offset = _number(query, "offset", 0, len(matching))
        limit = _number(query, "limit", DEFAULT_LIMIT, MAX_LIMIT)
        return Page(len(matching), offset, limit, tuple(matching[offset : offset + limit]))


def _decision_matches(entry: Entry | None, chosen: set[str]) -> bool:
    if entry is None:
        return UNDECIDED in chosen
    return entry.decision in chosen or ("approved" in chosen and entry.decision in APPROVING)


def _number(query: Mapping[str, Sequence[str]], name: str, default: int, most: int) -> int:
    """A query parameter as a whole number in [0, most]; ValueError for anything else."""
    values = query.get(name) or ()
    if not values:
        return min(default, most)
    text = values[-1]
    if not text.isascii() or not text.isdigit():
        raise ValueError(f"{name} must be a whole number >= 0, not {text!r}")
    return min(int(text), most)


def load_campaign(
    manifest_path: Path, *, lockfile: Path | None = None, out: Path | None = None
) -> Campaign:
    """The campaign of ``manifest_path``: its plan, its lockfile's images, its output folder.

    Raises what ``load_manifest`` and ``read_lockfile`` raise (ManifestError, LockfileError).
    """
    from seedance_batch._manifest import load_manifest
    from seedance_batch._planner import plan
    from seedance_batch._run_files import output_folder
    from seedance_batch.lockfile import default_lockfile_path, read_lockfile

    manifest = load_manifest(manifest_path)
    lockfile_path = lockfile or default_lockfile_path(manifest.path)
    snapshot = read_lockfile(lockfile_path, manifest.name)
    jobs = plan(manifest, snapshot).jobs
    records = snapshot.jobs if snapshot is not None else {}
    folder = output_folder(manifest, lockfile_path, snapshot, out)
    images = tuple(result_lines(jobs, records))
    return Campaign(manifest.name, Path(manifest.path), Path(folder), images)


def _fingerprint(paths: Iterable[Path]) -> tuple[tuple[int, int, int] | None, ...]:
    marks: list[tuple[int, int, int] | None] = []
    for path in paths:
        try:
            info = os.stat(path)
        except OSError:
            marks.append(None)
        else:
            marks.append((info.st_ino, info.st_size, info.st_mtime_ns))
    return tuple(marks)


class CampaignSource:
    """The campaign, read again when its manifest, lockfile or journal has changed on disk."""

    def __init__(
        self, manifest: Path, *, lockfile: Path | None = None, out: Path | None = None
    ) -> None:
        from seedance_batch.lockfile import default_lockfile_path, journal_path

        self._manifest, self._lockfile, self._out = Path(manifest), lockfile, out
        lock = lockfile or default_lockfile_path(manifest)
        self._watched = (self._manifest, Path(lock), Path(journal_path(lock)))
        self._mark = _fingerprint(self._watched)
        self.campaign = load_campaign(self._manifest, lockfile=lockfile, out=out)

    def current(self) -> Campaign:
        """The campaign as the files say now (read again only when they changed)."""
        mark = _fingerprint(self._watched)
        if mark != self._mark:
            self.campaign = load_campaign(self._manifest, lockfile=self._lockfile, out=self._out)
            self._mark = mark
        return self.campaign
