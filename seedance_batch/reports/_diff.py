"""The diff report: what a manifest change adds, removes and costs, in text, JSON and Markdown
(the comparison is :func:`seedance_batch._diff.diff_plans`'s)."""

from __future__ import annotations

import json

from seedance_batch._budget import budget_line
from seedance_batch._diff import PlanDiff
from seedance_batch._labels import variant_text
from seedance_batch._planner import Job
from seedance_batch.reports._markdown import md_text

__all__ = ["diff_json", "diff_markdown", "diff_text"]


def _brief(job: Job) -> dict[str, object]:
    return {
        "id": job.id,
        "job": job.job,
        "variant": dict(job.variant),
        "repeat": job.repeat,
        "credits": job.credits,
    }


def diff_json(change: PlanDiff) -> str:
    """One object: the manifests, the jobs in each group, and the credits."""
    document = {
        "old": change.old.manifest.file,
        "new": change.new.manifest.file,
        "added": [_brief(j) for j in change.added],
        "removed": [_brief(j) for j in change.removed],
        "kept": len(change.kept),
        "credits": {
            "added": change.credits_added,
            "removed": change.credits_removed,
            "old_total": change.old.totals.credits,
            "new_total": change.new.totals.credits,
        },
        "budget": change.budget.to_json(),
    }
    return json.dumps(document, ensure_ascii=False, indent=1) + "\n"


def _line(sign: str, job: Job) -> str:
    variant = variant_text(job.variant)
    repeat = f" #{job.repeat}" if job.repeat else ""
    return f"{sign} {job.id}  {job.job} [{variant}]{repeat}  {job.credits} credits"


def _budget(change: PlanDiff) -> str:
    return budget_line(change.budget, "this change")


def diff_text(change: PlanDiff) -> str:
    """Added and removed jobs, one a line, then the credits."""
    lines = [_line("+", j) for j in change.added] + [_line("-", j) for j in change.removed]
    lines.append(
        f"{len(change.added)} added (+{change.credits_added} credits), "
        f"{len(change.removed)} removed (-{change.credits_removed} credits), "
        f"{len(change.kept)} kept; total {change.old.totals.credits} -> "
        f"{change.new.totals.credits} credits"
    )
    lines.append(_budget(change))
    return "\n".join(lines) + "\n"


def diff_markdown(change: PlanDiff) -> str:
    """A summary a reviewer reads in a pull request: the cost first, then the jobs."""
    name = change.new.manifest.name
    out = [
        f"### seedance-batch cost of this change: `{name}`",
        "",
        "| added | removed | kept | credits added | total before | total after |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
        f"| {len(change.added)} | {len(change.removed)} | {len(change.kept)} "
        f"| +{change.credits_added} | {change.old.totals.credits} | {change.new.totals.credits} |",
        "",
    ]
    budget = md_text(_budget(change))
    out += [budget if change.within_budget else f"**{budget}**", ""]
    for title, jobs in (("Added", change.added), ("Removed", change.removed)):
        if not jobs:
            continue
        out += [f"<details><summary>{title}: {len(jobs)} jobs</summary>", ""]
        out += ["| id | job | variant | credits |", "| --- | --- | --- | ---: |"]
        for job in jobs:
            variant = md_text(variant_text(job.variant))
            out.append(f"| `{job.id}` | {md_text(job.job)} | {variant} | {job.credits} |")
        out += ["", "</details>", ""]
    return "\n".join(out)
