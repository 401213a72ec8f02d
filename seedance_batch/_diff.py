"""What a manifest change does: jobs added, removed and kept, and the credits it adds."""

from __future__ import annotations

import json
from dataclasses import dataclass

from seedance_batch._planner import Job, Plan, variant_text

__all__ = ["PlanDiff", "diff_json", "diff_markdown", "diff_plans", "diff_text"]


@dataclass(frozen=True)
class PlanDiff:
    """Jobs only in the new plan, only in the old, and in both (by id), in plan order."""

    old: Plan
    new: Plan
    added: tuple[Job, ...]
    removed: tuple[Job, ...]
    kept: tuple[Job, ...]
    max_credits: int | None = None

    @property
    def credits_added(self) -> int:
        return sum(job.credits for job in self.added)

    @property
    def credits_removed(self) -> int:
        return sum(job.credits for job in self.removed)

    @property
    def within_budget(self) -> bool:
        return self.max_credits is None or self.credits_added <= self.max_credits


def diff_plans(old: Plan, new: Plan, max_credits: int | None = None) -> PlanDiff:
    """Compare two plans by job id: a changed prompt or setting is a removal and an addition."""
    old_ids = {job.id for job in old.jobs}
    new_ids = {job.id for job in new.jobs}
    return PlanDiff(
        old=old,
        new=new,
        added=tuple(job for job in new.jobs if job.id not in old_ids),
        removed=tuple(job for job in old.jobs if job.id not in new_ids),
        kept=tuple(job for job in new.jobs if job.id in old_ids),
        max_credits=max_credits,
    )


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
        "budget": {"max_credits": change.max_credits, "within": change.within_budget},
    }
    return json.dumps(document, ensure_ascii=False, indent=1) + "\n"


def _line(sign: str, job: Job) -> str:
    variant = variant_text(job.variant) or "-"
    repeat = f" #{job.repeat}" if job.repeat else ""
    return f"{sign} {job.id}  {job.job} [{variant}]{repeat}  {job.credits} credits"


def _budget(change: PlanDiff) -> str:
    if change.max_credits is None:
        return ""
    if change.within_budget:
        return f"within --max-credits {change.max_credits}"
    return (
        f"OVER BUDGET: adds {change.credits_added} credits, --max-credits is {change.max_credits}"
    )


def diff_text(change: PlanDiff) -> str:
    """Added and removed jobs, one a line, then the credits."""
    lines = [_line("+", j) for j in change.added] + [_line("-", j) for j in change.removed]
    lines.append(
        f"{len(change.added)} added (+{change.credits_added} credits), "
        f"{len(change.removed)} removed (-{change.credits_removed} credits), "
        f"{len(change.kept)} kept; total {change.old.totals.credits} -> "
        f"{change.new.totals.credits} credits"
    )
    if budget := _budget(change):
        lines.append(budget)
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
    if budget := _budget(change):
        out += [f"**{budget}**" if not change.within_budget else budget, ""]
    for title, jobs in (("Added", change.added), ("Removed", change.removed)):
        if not jobs:
            continue
        out += [f"<details><summary>{title}: {len(jobs)} jobs</summary>", ""]
        out += ["| id | job | variant | credits |", "| --- | --- | --- | ---: |"]
        for job in jobs:
            variant = variant_text(job.variant) or "-"
            out.append(f"| `{job.id}` | {job.job} | {variant.replace('|', '/')} | {job.credits} |")
        out += ["", "</details>", ""]
    return "\n".join(out)
