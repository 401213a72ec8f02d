"""Which jobs a reroll gives a new take: those whose latest images are all rejected (section 10).

One rule, used by ``plan`` (to price it) and ``run --reroll-rejected`` (to send it). A planned
job is rerolled when its latest take succeeded with images and every one of them is
``rejected`` in the review file, no image of its variant (the combination: all its repeats and
all their takes together) is approved (``favourite`` approves), and it has had fewer than
``budget.max_takes`` takes. Each repeat is a job of its own and takes its own takes: a variant
of two repeats whose four images are all rejected gets two new takes, one per repeat. An image
without a decision never leads to a reroll; ``--only`` narrows which jobs are rerolled, not
which images count for their variant.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from seedance_batch import _run_files as run_files
from seedance_batch._decisions import Entry, default_review_path, read_review
from seedance_batch._manifest import Manifest
from seedance_batch._planner import Job
from seedance_batch.lockfile import JobRecord, Lockfile, read_lockfile

__all__ = [
    "reroll_notice",
    "rerollable",
    "rerolls_for_plan",
    "rerolls_for_run",
    "start_takes",
]

_Variant = tuple[str, tuple[tuple[str, str], ...]]


def _variant(job: Job) -> _Variant:
    return job.job, tuple(job.variant.items())


def rerollable(
    jobs: Iterable[Job],
    records: Mapping[str, JobRecord],
    decisions: Mapping[str, Entry],
    max_takes: int,
) -> frozenset[str]:
    """The ids of ``jobs`` (the whole plan, so that every repeat of a variant counts) that a
    reroll gives a new take, by ``records`` (the lockfile's) and ``decisions`` (by SHA-256)."""
    if not decisions or not any(e.decision == "rejected" for e in decisions.values()):
        return frozenset()
    candidates: dict[_Variant, list[str]] = {}
    approved: set[_Variant] = set()
    for job in jobs:
        record = records.get(job.id)
        if record is None:
            continue
        variant = _variant(job)
        if variant in approved:
            continue
        if any(_approves(decisions.get(image.sha256)) for _, image in record.all_images()):
            approved.add(variant)
            continue
        if (
            record.state == "succeeded"
            and record.images
            and record.take < max_takes
            and all(_rejects(decisions.get(image.sha256)) for image in record.images)
        ):
            candidates.setdefault(variant, []).append(job.id)
    return frozenset(
        job_id for variant, ids in candidates.items() if variant not in approved for job_id in ids
    )


def _approves(entry: Entry | None) -> bool:
    return entry is not None and entry.approved


def _rejects(entry: Entry | None) -> bool:
    return entry is not None and entry.decision == "rejected"


def _decisions(manifest: Manifest) -> dict[str, Entry]:
    """The review file beside the manifest (``<stem>.review.yaml``), or none."""
    return read_review(default_review_path(manifest.path))


def rerolls_for_plan(manifest: Manifest, jobs: Iterable[Job], lockfile: Path) -> frozenset[str]:
    """:func:`rerollable` for ``plan``, which reads the lockfile lean: the review file is read
    first, and the lockfile's records only when it rejects an image (a campaign not under
    review costs one ``stat``).

    Raises what ``read_review`` and ``read_lockfile`` raise (one line each)."""
    decisions = _decisions(manifest)
    if not any(entry.decision == "rejected" for entry in decisions.values()):
        return frozenset()
    snapshot = read_lockfile(lockfile, manifest.name)
    if snapshot is None:
        return frozenset()
    return rerollable(jobs, snapshot.jobs, decisions, manifest.max_takes)


def rerolls_for_run(
    manifest: Manifest, jobs: Iterable[Job], records: Mapping[str, JobRecord]
) -> frozenset[str]:
    """:func:`rerollable` for ``run --reroll-rejected``, over the locked lockfile's records."""
    return rerollable(jobs, records, _decisions(manifest), manifest.max_takes)


def start_takes(lock: Lockfile, jobs: Iterable[Job], rerolls: frozenset[str], out: Path) -> int:
    """Begin a new take of each of ``jobs`` in ``rerolls``: its files first moved to its planned
    folder if it was renamed, then its current take moved into ``takes`` and the job ``new``
    again, in one journal line (a crash leaves the take before or after, never half). The
    takes started; each is then submitted as any new job is, its key carrying the take."""
    started = 0
    for job in jobs:
        if job.id not in rerolls:
            continue
        record = lock.jobs[job.id]
        if not run_files.in_planned_place(job, record):
            record = run_files.move_renamed(out, job, record)
        lock.put(record.rerolled())
        started += 1
    return started


def reroll_notice(started: int, credits: int) -> str:
    """What ``run --reroll-rejected`` says before it submits: the takes it started, or none."""
    if not started:
        return "reroll: no selected job has all its latest images rejected (and takes left)"
    jobs = "job" if started == 1 else "jobs"
    return (
        f"reroll: a new take for {started} {jobs} whose images are all rejected ({credits} credits)"
    )
