"""Which planned variants have an approved image: the one count that status, its ship gate and
the gallery share.

A variant is a combination of a job: its repeat jobs (the same request, another repeat index)
and all their takes pooled, in plan order. Each recorded image is approved (``approved`` or
``favourite`` in the review file, keyed by its SHA-256), rejected, or undecided (no entry). A
variant is ready when at least one of its images is approved; otherwise the reason says why:
no image yet, some still undecided, or every one rejected. Orphaned lockfile entries are no
variant of the plan and are never counted.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Literal

from seedance_batch._decisions import Decision, Entry
from seedance_batch._planner import Job
from seedance_batch.lockfile import ImageRecord, JobRecord

__all__ = [
    "NO_COUNTS",
    "REASONS",
    "Counts",
    "Reason",
    "Shot",
    "Variant",
    "counts_of",
    "decision_of",
    "job_images",
    "variants",
]

Reason = Literal["no image yet", "undecided", "all rejected"]
REASONS: Final[tuple[Reason, ...]] = ("no image yet", "undecided", "all rejected")
#: The order of images within a variant when decisions rank them: favourites, approved,
#: undecided, rejected.
_RANK: Final[Mapping[Decision | None, int]] = {
    "favourite": 0,
    "approved": 1,
    None: 2,
    "rejected": 3,
}


def job_images(record: JobRecord) -> Iterator[tuple[int, ImageRecord]]:
    """Every image a job has, earlier takes first, as (take, image) pairs: the one place that
    reads a record's images for the gate and the gallery."""
    yield from record.all_images()


@dataclass(frozen=True, slots=True)
class Counts:
    """Images approved (favourites included), rejected and undecided."""

    approved: int = 0
    rejected: int = 0
    undecided: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            self.approved + other.approved,
            self.rejected + other.rejected,
            self.undecided + other.undecided,
        )

    @property
    def images(self) -> int:
        return self.approved + self.rejected + self.undecided

    def to_json(self) -> dict[str, int]:
        return {"approved": self.approved, "rejected": self.rejected, "undecided": self.undecided}


#: No image at all.
NO_COUNTS: Final = Counts()


def decision_of(entries: Mapping[str, Entry], sha256: str) -> Decision | None:
    """The review file's decision on the image ``sha256``; None when undecided."""
    entry = entries.get(sha256)
    return None if entry is None else entry.decision


def counts_of(decisions: Iterable[Decision | None]) -> Counts:
    """The counts of these images' decisions (None: undecided)."""
    approved = rejected = undecided = 0
    for decision in decisions:
        if decision is None:
            undecided += 1
        elif decision == "rejected":
            rejected += 1
        else:
            approved += 1
    return Counts(approved, rejected, undecided)


@dataclass(frozen=True, slots=True)
class Shot:
    """One image of a variant: its job (a repeat), take, 1-based index in its take, and
    decision."""

    job: Job
    take: int
    index: int
    image: ImageRecord
    decision: Decision | None

    @property
    def rank(self) -> int:
        """0 favourite, 1 approved, 2 undecided, 3 rejected."""
        return _RANK[self.decision]


@dataclass(frozen=True)
class Variant:
    """A planned combination: its repeat jobs in plan order and their images (all takes)."""

    jobs: tuple[Job, ...]
    shots: tuple[Shot, ...]

    @property
    def id(self) -> str:
        """The id of its first job (repeat 0): how a variant is named in a report."""
        return self.jobs[0].id

    @property
    def job(self) -> str:
        return self.jobs[0].job

    @property
    def variant(self) -> Mapping[str, str]:
        return self.jobs[0].variant

    @property
    def counts(self) -> Counts:
        return counts_of(shot.decision for shot in self.shots)

    @property
    def ready(self) -> bool:
        """At least one image approved (or favourite)."""
        return any(shot.rank < 2 for shot in self.shots)

    @property
    def reason(self) -> Reason | None:
        """Why the variant is not ready yet; None when it is."""
        if not self.shots:
            return "no image yet"
        if self.ready:
            return None
        if any(shot.decision is None for shot in self.shots):
            return "undecided"
        return "all rejected"

    def ranked(self) -> list[Shot]:
        """Its images, favourites and approved first, rejected last, else in plan order."""
        return sorted(self.shots, key=lambda shot: shot.rank)


def variants(
    jobs: Sequence[Job], records: Mapping[str, JobRecord], entries: Mapping[str, Entry]
) -> tuple[Variant, ...]:
    """The plan's variants in plan order (by their first job), each with its images and their
    decisions from ``entries`` (the review file's, by SHA-256)."""
    grouped: dict[tuple[str, str], list[Job]] = {}
    for job in jobs:
        grouped.setdefault((job.job, job.body), []).append(job)
    found = []
    for repeats in grouped.values():
        shots = []
        for job in repeats:
            record = records.get(job.id)
            if record is None:
                continue
            counted: dict[int, int] = {}
            for take, image in job_images(record):
                counted[take] = counted.get(take, 0) + 1
                decision = decision_of(entries, image.sha256)
                shots.append(Shot(job, take, counted[take], image, decision))
        found.append(Variant(tuple(repeats), tuple(shots)))
    return tuple(found)
