"""What the lockfile, the files on disk and the review file say of a campaign: each job's state
and decisions, then orphans, and which planned variants still lack an approved image."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from seedance_batch._approvals import (
    NO_COUNTS,
    Counts,
    Variant,
    counts_of,
    decision_of,
    job_images,
    variants,
)
from seedance_batch._budget import Budget
from seedance_batch._decisions import Entry, default_review_path, read_review
from seedance_batch._manifest import Manifest
from seedance_batch._planner import Plan, plan
from seedance_batch._run_files import output_folder, recorded_size
from seedance_batch._shards import Shard
from seedance_batch._states import STATES
from seedance_batch.lockfile import (
    Holder,
    JobRecord,
    default_lockfile_path,
    lock_holder,
    read_lockfile,
)

__all__ = ["JobStatus", "Status", "status"]


@dataclass(frozen=True)
class JobStatus:
    """One job as the lockfile has it; ``orphaned`` when the manifest no longer plans it."""

    id: str
    job: str
    variant: Mapping[str, str]
    state: str
    task_id: str | None
    images: tuple[str, ...]
    error: str | None
    credits: int
    credits_charged: int
    orphaned: bool = False
    missing: tuple[str, ...] = ()
    n: int = 0
    decisions: Counts = NO_COUNTS

    @property
    def short(self) -> bool:
        """Succeeded with fewer images recorded than the job's ``n``."""
        return self.state == "succeeded" and not self.orphaned and len(self.images) < self.n


@dataclass(frozen=True)
class Status:
    """A campaign's progress: jobs in plan order, orphans after, and totals."""

    name: str
    lockfile: Path
    jobs: tuple[JobStatus, ...]
    plan: Plan
    output: Path
    holder: Holder | None = None
    review: Path | None = None
    variants: tuple[Variant, ...] = ()

    @property
    def decisions(self) -> Counts:
        """Images approved, rejected and undecided over the planned jobs."""
        return sum((j.decisions for j in self.jobs if not j.orphaned), NO_COUNTS)

    @property
    def unapproved(self) -> tuple[Variant, ...]:
        """The planned variants with no approved image yet, in plan order: what the ship gate
        waits for."""
        return tuple(v for v in self.variants if not v.ready)

    @property
    def ready(self) -> bool:
        """Every planned variant has at least one approved (or favourite) image."""
        return not self.unapproved

    @property
    def budget(self) -> Budget:
        """The campaign's budget, as ``plan`` and ``run`` compute it."""
        return self.plan.budget_for()

    @property
    def missing(self) -> tuple[str, ...]:
        """Recorded images of planned jobs that are not a regular file on disk."""
        return tuple(path for j in self.jobs if not j.orphaned for path in j.missing)

    @property
    def short(self) -> tuple[JobStatus, ...]:
        """Jobs delivered short of their ``n``."""
        return tuple(j for j in self.jobs if j.short)

    @property
    def by_state(self) -> dict[str, int]:
        counts = Counter(j.state for j in self.jobs if not j.orphaned)
        return {s: counts[s] for s in STATES if counts[s]}

    @property
    def credits_charged(self) -> int:
        return sum(j.credits_charged for j in self.jobs)

    @property
    def orphans(self) -> tuple[JobStatus, ...]:
        return tuple(j for j in self.jobs if j.orphaned)

    @property
    def failures(self) -> tuple[JobStatus, ...]:
        return tuple(j for j in self.jobs if j.state == "failed" and not j.orphaned)


def status(
    manifest: Manifest,
    lockfile: Path | None = None,
    review: Path | None = None,
    *,
    shard: Shard | None = None,
) -> Status:
    """Read the lockfile (no lock taken: it works while a run holds it) against the plan, look
    for each recorded image on disk, and read the review file (``<stem>.review.yaml`` beside
    the manifest unless ``review`` is given; none means every image is undecided).

    ``shard`` ``(K, N)`` reports shard K of N as its own run sees it: its jobs only, read from
    ``<stem>.shard-K-of-N.lock.json`` unless ``lockfile`` is given, against its budget share.

    Raises :class:`~seedance_batch._decisions.ReviewFileError` for a broken review file.
    """
    path = lockfile or default_lockfile_path(manifest.path, shard)
    snapshot = read_lockfile(path, manifest.name)
    records: Mapping[str, JobRecord] = snapshot.jobs if snapshot is not None else {}
    review_path = review or default_review_path(manifest.path)
    entries = read_review(review_path)
    current = plan(manifest, snapshot)
    if shard is not None:
        current = current.select((), None, shard=shard)
    out = output_folder(manifest, path, snapshot)
    jobs: list[JobStatus] = []
    folders: dict[str, bool] = {}  # each folder checked once (a real folder, no link)
    for job in current.jobs:
        record = records.get(job.id)
        entry = _job_status(job.id, job.job, job.variant, job.credits, record, False, out, folders)
        jobs.append(_with(entry, job.images, record, entries))
    for job_id in current.orphans:
        record = records[job_id]
        entry = _job_status(job_id, record.job, record.variant, 0, record, True, out, folders)
        jobs.append(_with(entry, 0, record, entries))
    return Status(
        name=manifest.name,
        lockfile=path,
        jobs=tuple(jobs),
        plan=current,
        output=out,
        holder=lock_holder(path),
        review=review_path,
        variants=variants(current.jobs, records, entries),
    )


def _with(
    entry: JobStatus, n: int, record: JobRecord | None, entries: Mapping[str, Entry]
) -> JobStatus:
    """``entry`` with its ``n`` and the decisions on its images."""
    found = () if record is None else job_images(record)
    decided = counts_of(decision_of(entries, image.sha256) for _, image in found)
    return JobStatus(**{**entry.__dict__, "n": n, "decisions": decided})


def _job_status(
    job_id: str,
    name: str,
    variant: Mapping[str, str],
    credits: int,
    record: JobRecord | None,
    orphaned: bool,
    out: Path,
    folders: dict[str, bool],
) -> JobStatus:
    if record is None:
        return JobStatus(job_id, name, variant, "new", None, (), None, credits, 0)
    images = tuple(image.path for _, image in record.all_images())
    return JobStatus(
        id=job_id,
        job=name,
        variant=variant,
        state=record.state,
        task_id=record.task_id,
        images=images,
        error=record.error,
        credits=credits,
        credits_charged=record.credits_charged,
        orphaned=orphaned,
        missing=tuple(p for p in images if recorded_size(out, p, folders) is None),
    )
