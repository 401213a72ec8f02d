"""What the lockfile says of a campaign: each planned job's state, then the orphans."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from seedance_batch._lockfile import JobRecord, default_lockfile_path, read_lockfile
from seedance_batch._manifest import Manifest
from seedance_batch._planner import STATES, Plan, plan, variant_text

__all__ = ["JobStatus", "Status", "status", "status_json", "status_markdown", "status_text"]


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


@dataclass(frozen=True)
class Status:
    """A campaign's progress: jobs in plan order, orphans after, and totals."""

    name: str
    lockfile: Path
    jobs: tuple[JobStatus, ...]
    plan: Plan

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
    """Read the lockfile (no lock taken: it works while a run holds it) against the plan."""
    path = lockfile or default_lockfile_path(manifest.path)
    snapshot = read_lockfile(path)
    records: Mapping[str, JobRecord] = snapshot.jobs if snapshot is not None else {}
    current = plan(manifest, snapshot)
    jobs: list[JobStatus] = []
    for job in current.jobs:
        record = records.get(job.id)
        jobs.append(_job_status(job.id, job.job, job.variant, job.credits, record, False))
    for job_id in current.orphans:
        record = records[job_id]
        jobs.append(_job_status(job_id, record.job, record.variant, 0, record, True))
    return Status(name=manifest.name, lockfile=path, jobs=tuple(jobs), plan=current)


def _job_status(
    job_id: str,
    name: str,
    variant: Mapping[str, str],
    credits: int,
    record: JobRecord | None,
    orphaned: bool,
) -> JobStatus:
    if record is None:
        return JobStatus(job_id, name, variant, "new", None, (), None, credits, 0)
    return JobStatus(
        id=job_id,
        job=name,
        variant=variant,
        state=record.state,
        task_id=record.task_id,
        images=tuple(i.path for i in record.images),
        error=record.error,
        credits=credits,
        credits_charged=record.credits_charged,
        orphaned=orphaned,
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
        if job.orphaned:
            entry["orphaned"] = True
        jobs.append(entry)
    document = {
        "name": report.name,
        "jobs": jobs,
        "totals": {"by_state": report.by_state, "credits_charged": report.credits_charged},
    }
    return json.dumps(document, ensure_ascii=False, indent=1) + "\n"


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
        "states: " + (", ".join(f"{k} {v}" for k, v in report.by_state.items()) or "none"),
        f"credits charged: {report.credits_charged}; "
        f"still to spend: {report.plan.totals.credits_to_spend}",
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
        "| jobs | succeeded | failed | in flight | new | credits charged | to spend |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        f"| {len(planned)} | {report.by_state.get('succeeded', 0)} "
        f"| {report.by_state.get('failed', 0)} "
        f"| {report.by_state.get('submitting', 0) + report.by_state.get('submitted', 0)} "
        f"| {report.by_state.get('new', 0)} | {report.credits_charged} "
        f"| {totals.credits_to_spend} |",
        "",
    ]
    if report.failures:
        out += ["**Failed**", "", "| id | job | variant | message |", "| --- | --- | --- | --- |"]
        out += [
            f"| `{j.id}` | {j.job} | {_variant(j)} | {(j.error or '').replace('|', '/')} |"
            for j in report.failures
        ]
        out.append("")
    if report.orphans:
        out += ["**Orphaned** (no longer planned; `prune` removes them)", ""]
        out += [f"- `{j.id}` {j.job} ({_variant(j)}): {j.state}" for j in report.orphans]
        out.append("")
    return "\n".join(out)
