"""The status report: what the lockfile, the files and the review say of a campaign, in text,
JSON and Markdown, with the ship gate's verdict (the reading is
:func:`seedance_batch._status.status`'s)."""

from __future__ import annotations

import json
from collections.abc import Iterator

from seedance_batch._approvals import NO_COUNTS, Counts, Variant
from seedance_batch._budget import budget_line
from seedance_batch._labels import variant_text
from seedance_batch._states import NEEDS_WORK
from seedance_batch._status import JobStatus, Status
from seedance_batch.lockfile import Holder
from seedance_batch.reports._markdown import MarkdownDocument, md_code, md_table, md_text
from seedance_batch.reports._table import text_table

__all__ = ["status_json", "status_markdown", "status_text"]


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
        entry["decisions"] = job.decisions.to_json()
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
            "decisions": report.decisions.to_json(),
            "variants": len(report.variants),
            "variants_approved": len(report.variants) - len(report.unapproved),
        },
        "budget": report.budget.to_json(),
        "held_by": None if holder is None else _holder_json(holder),
        "review": None if report.review is None else str(report.review),
        "ready": report.ready,
        "missing": [_missing_json(v) for v in report.unapproved],
    }
    return json.dumps(document, ensure_ascii=False, indent=1) + "\n"


def _missing_json(variant: Variant) -> dict[str, object]:
    return {
        "id": variant.id,
        "job": variant.job,
        "variant": dict(variant.variant),
        "reason": variant.reason,
        "images": len(variant.shots),
    }


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
        lines += [f"{_label(j)}: {len(j.images)} of {j.n}" for j in report.short]
    return lines


def _label(job: JobStatus) -> str:
    """``  <id> <job> [<variant>]``: a job on a line of the text report."""
    return f"  {job.id} {job.job} [{variant_text(job.variant)}]"


def _counts_text(counts: Counts) -> str:
    return f"{counts.approved} approved, {counts.rejected} rejected, {counts.undecided} undecided"


def _variants_text(report: Status) -> str:
    total = len(report.variants)
    return f"{total - len(report.unapproved)} of {total} variants approved"


def _by_job(report: Status) -> Iterator[tuple[str, int, int, Counts]]:
    """Per job name, in plan order: variants, variants approved, and image decisions."""
    rows: dict[str, tuple[int, int, Counts]] = {}
    for variant in report.variants:
        count, ready, decided = rows.get(variant.job, (0, 0, NO_COUNTS))
        rows[variant.job] = (count + 1, ready + variant.ready, decided + variant.counts)
    for name, (count, ready, decided) in rows.items():
        yield name, count, ready, decided


def _review_lines(report: Status) -> list[str]:
    where = f" ({report.review})" if report.review is not None else ""
    lines = [f"review: {_counts_text(report.decisions)} images; {_variants_text(report)}{where}"]
    rows: list[tuple[object, ...]] = [
        ("job", "variants", "ready", "approved", "rejected", "undecided")
    ]
    rows += [
        (name, count, ready, c.approved, c.rejected, c.undecided)
        for name, count, ready, c in _by_job(report)
    ]
    lines += [f"  {line}" for line in text_table(rows, right=range(1, 6))]
    return lines


def _reason_text(variant: Variant) -> str:
    images = len(variant.shots)
    return (
        f"{variant.reason} ({images} image{'' if images == 1 else 's'})"
        if images
        else (str(variant.reason))
    )


def _gate_lines(report: Status) -> list[str]:
    """The ship gate's verdict: ready, or each variant without an approved image and why."""
    total = len(report.variants)
    if report.ready:
        return [f"ready to ship: all {total} variants have an approved image"]
    missing = report.unapproved
    lines = [
        f"not ready to ship: {len(missing)} of {total} variants have no approved image "
        "(`seedance-batch review` to decide):"
    ]
    for variant in missing:
        label = f"  {variant.id} {variant.job} [{variant_text(variant.variant)}]"
        lines.append(f"{label}: {_reason_text(variant)}")
    return lines


def status_text(report: Status, *, verbose: bool = False, gate: bool = False) -> str:
    """Progress at a glance: counts, credits, failures with the API's message, orphans, the
    review's decisions; with ``gate``, the ship gate's verdict last."""
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
        *_review_lines(report),
    ]
    if report.failures:
        lines.append(f"failed ({len(report.failures)}; `run --retry-failed` submits them again):")
        lines += [f"{_label(j)}: {j.error or 'no message'}" for j in report.failures]
    waiting = [j for j in planned if j.state in NEEDS_WORK - {"new"}]
    if waiting:
        lines.append(f"in flight ({len(waiting)}; a rerun polls them):")
        lines += [f"{_label(j)}: {j.state} {j.task_id or ''}".rstrip() for j in waiting]
    if report.orphans:
        lines.append(
            f"orphaned ({len(report.orphans)}; no longer planned, files kept; "
            "`prune` removes them):"
        )
        lines += [f"{_label(j)}: {j.state}, {len(j.images)} images" for j in report.orphans]
    if verbose:
        lines.append("jobs:")
        lines += [f"{_label(j)}: {j.state}, {_counts_text(j.decisions)}" for j in planned]
    if gate:
        lines += _gate_lines(report)
    return "\n".join(lines) + "\n"


def status_markdown(report: Status, *, gate: bool = False) -> str:
    """Totals first, then the review by job, failures and orphans: for a pull request or a CI
    step summary; with ``gate``, the variants without an approved image as well."""
    planned = [j for j in report.jobs if not j.orphaned]
    by_state = report.by_state
    in_flight = sum(by_state.get(state, 0) for state in NEEDS_WORK - {"new"})
    doc = MarkdownDocument()
    doc.add(f"### seedance-batch status: {md_code(report.name)}", "")
    header = ["jobs", "succeeded", "failed", "in flight", "new", "credits charged", "to spend"]
    doc.add(
        *md_table(
            [*header, "missing"],
            [
                (
                    len(planned),
                    by_state.get("succeeded", 0),
                    by_state.get("failed", 0),
                    in_flight,
                    by_state.get("new", 0),
                    report.credits_charged,
                    report.plan.totals.credits_to_spend,
                    len(report.missing),
                )
            ],
            right=range(8),
        ),
        "",
        md_text(budget_line(report.budget)),
        "",
    )
    if report.holder is not None:
        doc.add(md_text(_holder_text(report.holder)), "")
    rest = " (`status --format json` lists them all)"
    _review_markdown(doc, report, gate=gate, rest=rest)
    if report.failures:
        doc.table(
            "**Failed**",
            ["id", "job", "variant", "message"],
            [(*_cells(j), md_text(j.error or "")) for j in report.failures],
            rest=rest,
        )
    if report.short:
        doc.table(
            "**Short of n**",
            ["id", "job", "variant", "images", "n"],
            [(*_cells(j), len(j.images), j.n) for j in report.short],
            right=(3, 4),
            rest=rest,
        )
    if report.missing:
        doc.table(
            f"**Missing on disk**: {len(report.missing)} images",
            ["image"],
            [(md_text(path),) for path in report.missing],
            rest=rest,
        )
    if report.orphans:
        doc.table(
            "**Orphaned** (no longer planned; `prune` removes them)",
            ["id", "job", "variant", "state"],
            [(*_cells(j), j.state) for j in report.orphans],
            rest=rest,
        )
    return doc.text()


def _cells(job: JobStatus) -> tuple[str, str, str]:
    return md_code(job.id), md_text(job.job), md_text(variant_text(job.variant))


def _review_markdown(doc: MarkdownDocument, report: Status, *, gate: bool, rest: str) -> None:
    total = len(report.variants)
    missing = report.unapproved
    if report.ready:
        verdict = f"✅ **Ready to ship**: all {total} variants have an approved image."
    else:
        verdict = (
            f"❌ **Not ready to ship**: {len(missing)} of {total} variants have no approved image."
        )
    header = ["job", "variants", "ready", "approved", "rejected", "undecided"]
    rows: list[tuple[object, ...]] = [
        (md_text(name), count, ready, c.approved, c.rejected, c.undecided)
        for name, count, ready, c in _by_job(report)
    ]
    c = report.decisions
    rows.append(("**total**", total, total - len(missing), c.approved, c.rejected, c.undecided))
    doc.table("**Review**", header, rows, right=range(1, 6), rest=rest)
    doc.add(verdict, "")
    if gate and missing:
        doc.table(
            "**Not approved yet**",
            ["id", "job", "variant", "why", "images"],
            [
                (
                    md_code(v.id),
                    md_text(v.job),
                    md_text(variant_text(v.variant)),
                    v.reason,
                    len(v.shots),
                )
                for v in missing
            ],
            right=(4,),
            rest=rest,
        )
