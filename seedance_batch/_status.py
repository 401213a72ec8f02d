"""What the lockfile and the files on disk say of a campaign: each job's state, then orphans."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from seedance_batch._budget import Budget, budget_line
from seedance_batch._files import regular_file_size
from seedance_batch._manifest import Manifest
from seedance_batch._markdown import md_text
from seedance_batch._planner import Plan, plan, variant_text
from seedance_batch._run_files import output_folder
from seedance_batch._states import STATES
from seedance_batch.lockfile import (
    Holder,
    JobRecord,
    default_lockfile_path,
    lock_holder,
    read_lockfile,
)

__all__ = [
    "JobStatus",
    "Status",
    "status",
    "status_json",
    "status_markdown",
    "status_text",
]


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


def status(manifest: Manifest, lockfile: Path | None = None) -> Status:
    """Read the lockfile (no lock taken: it works while a run holds it) against the plan, and
    look for each recorded image on disk."""
    path = lockfile or default_lockfile_path(manifest.path)
    snapshot = read_lockfile(path, manifest.name)
    records: Mapping[str, JobRecord] = snapshot.jobs if snapshot is not None else {}
    current = plan(manifest, snapshot)
    out = output_folder(manifest, path, snapshot)
    jobs: list[JobStatus] = []
    for job in current.jobs:
        record = records.get(job.id)
        entry = _job_status(job.id, job.job, job.variant, job.credits, record, False, out)
        jobs.append(_replace_n(entry, job.images))
    for job_id in current.orphans:
        record = records[job_id]
        jobs.append(_job_status(job_id, record.job, record.variant, 0, record, True, out))
    return Status(
        name=manifest.name,
        lockfile=path,
        jobs=tuple(jobs),
        plan=current,
        output=out,
        holder=lock_holder(path),
    )


def _replace_n(entry: JobStatus, n: int) -> JobStatus:
    return JobStatus(**{**entry.__dict__, "n": n})


def _on_disk(out: Path, image_path: str) -> bool:
    relative = PurePosixPath(image_path)
    if relative.is_absolute() or ".." in relative.parts or "\x00" in image_path:
        return False  # never looked for outside the output folder
    return regular_file_size(os.path.join(out, *relative.parts)) is not None


def _job_status(
    job_id: str,
    name: str,
    variant: Mapping[str, str],
    credits: int,
    record: JobRecord | None,
    orphaned: bool,
    out: Path,
) -> JobStatus:
    if record is None:
        return JobStatus(job_id, name, variant, "new", None, (), None, credits, 0)
    images = tuple(i.path for i in record.images)
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
        missing=tuple(p for p in images if not _on_disk(out, p)),
    )


def status_json(report: Status) -> str:
    """The contract's object: name, jobs (orphans flagged, after the planned), totals."""
    jobs = []
    for job in report.jobs:
        entry: dict[str, object] = {
            "id": job.id,
            "job": job.job,
            "state": job.state,
            "task_id": job.task_id,
            "images": list(job.images),
        }
        if job.error:
            entry["error"] = job.error
        if job.missing:
            entry["missing"] = list(job.missing)
        if job.short:
            entry["short"] = {"images": len(job.images), "n": job.n}
        if job.orphaned:
            entry["orphaned"] = True
        jobs.append(entry)
    holder = report.holder
    document = {
        "name": report.name,
        "jobs": jobs,
        "totals": {
            "by_state": report.by_state,
            "credits_charged": report.credits_charged,
            "credits_spent": report.budget.spent,
            "images": sum(len(j.images) for j in report.jobs if not j.orphaned),
            "images_missing": len(report.missing),
            "jobs_short": len(report.short),
        },
        "budget": report.budget.to_json(),
        "held_by": None if holder is None else _holder_json(holder),
    }
    return json.dumps(document, ensure_ascii=False, indent=1) + "\n"


def _holder_json(holder: Holder) -> dict[str, object]:
    return {
        "pid": holder.pid,
        "host": holder.host,
        "since": holder.since,
        "command": holder.command,
    }


def _holder_text(holder: Holder) -> str:
    since = f" since {holder.since}" if holder.since else ""
    return f"a run holds this lockfile now: pid {holder.pid} on {holder.host}{since}"


def _files_lines(report: Status) -> list[str]:
    lines = []
    if report.missing:
        lines.append(
            f"missing on disk ({len(report.missing)} images recorded but not in "
            f"{report.output}; a rerun downloads them again):"
        )
        lines += [f"  {path}" for path in report.missing]
    if short := report.short:
        lines.append(f"short of n ({len(short)} jobs delivered fewer images than asked):")
        lines += [
            f"  {j.id} {j.job} [{_variant(j)}]: {len(j.images)} of {j.n}" for j in report.short
        ]
    return lines


def _variant(job: JobStatus) -> str:
    return variant_text(job.variant) or "-"


def status_text(report: Status, *, verbose: bool = False) -> str:
    """Progress at a glance: counts, credits, failures with the API's message, orphans."""
    planned = [j for j in report.jobs if not j.orphaned]
    done = report.by_state.get("succeeded", 0)
    images = sum(len(j.images) for j in planned)
    lines = [
        f"{report.name}: {done} of {len(planned)} jobs succeeded, {images} images "
        f"({report.lockfile})",
    ]
    if report.holder is not None:
        lines.append(_holder_text(report.holder))
    lines += [
        "states: " + (", ".join(f"{k} {v}" for k, v in report.by_state.items()) or "none"),
        f"credits charged: {report.credits_charged}; "
        f"still to spend: {report.plan.totals.credits_to_spend}",
        budget_line(report.budget),
        *_files_lines(report),
    ]
    if report.failures:
        lines.append(f"failed ({len(report.failures)}; `run --retry-failed` submits them again):")
        lines += [
            f"  {j.id} {j.job} [{_variant(j)}]: {j.error or 'no message'}" for j in report.failures
        ]
    waiting = [j for j in planned if j.state in ("submitting", "submitted")]
    if waiting:
        lines.append(f"in flight ({len(waiting)}; a rerun polls them):")
        lines += [
            f"  {j.id} {j.job} [{_variant(j)}]: {j.state} {j.task_id or ''}".rstrip()
            for j in waiting
        ]
    if report.orphans:
        lines.append(
            f"orphaned ({len(report.orphans)}; no longer planned, files kept; "
            "`prune` removes them):"
        )
        lines += [
            f"  {j.id} {j.job} [{_variant(j)}]: {j.state}, {len(j.images)} images"
            for j in report.orphans
        ]
    if verbose:
        lines.append("jobs:")
        lines += [f"  {j.id} {j.job} [{_variant(j)}]: {j.state}" for j in planned]
    return "\n".join(lines) + "\n"


def status_markdown(report: Status) -> str:
    """Totals first, then failures and orphans: for a pull request or a CI step summary."""
    planned = [j for j in report.jobs if not j.orphaned]
    totals = report.plan.totals
    out = [
        f"### seedance-batch status: `{report.name}`",
        "",
        "| jobs | succeeded | failed | in flight | new | credits charged | to spend | missing |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        f"| {len(planned)} | {report.by_state.get('succeeded', 0)} "
        f"| {report.by_state.get('failed', 0)} "
        f"| {report.by_state.get('submitting', 0) + report.by_state.get('submitted', 0)} "
        f"| {report.by_state.get('new', 0)} | {report.credits_charged} "
        f"| {totals.credits_to_spend} | {len(report.missing)} |",
        "",
        md_text(budget_line(report.budget)),
        "",
    ]
    if report.holder is not None:
        out += [md_text(_holder_text(report.holder)), ""]
    if report.failures:
        out += ["**Failed**", "", "| id | job | variant | message |", "| --- | --- | --- | --- |"]
        out += [
            f"| `{j.id}` | {md_text(j.job)} | {md_text(_variant(j))} | {md_text(j.error or '')} |"
            for j in report.failures
        ]
        out.append("")
    if report.short:
        out += ["**Short of n**", "", "| id | job | variant | images | n |"]
        out += ["| --- | --- | --- | ---: | ---: |"]
        out += [
            f"| `{j.id}` | {md_text(j.job)} | {md_text(_variant(j))} | {len(j.images)} | {j.n} |"
            for j in report.short
        ]
        out.append("")
    if report.missing:
        out += [f"**Missing on disk**: {len(report.missing)} images", ""]
        out += [f"- {md_text(path)}" for path in report.missing]
        out.append("")
    if report.orphans:
        out += ["**Orphaned** (no longer planned; `prune` removes them)", ""]
        out += [
            f"- `{j.id}` {md_text(j.job)} ({md_text(_variant(j))}): {j.state}"
            for j in report.orphans
        ]
        out.append("")
    return "\n".join(out)
