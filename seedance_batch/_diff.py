"""What a manifest change does: jobs added, removed and kept, and the credits it adds."""

from __future__ import annotations

import json
from dataclasses import dataclass

from seedance_batch._budget import Budget, budget_line, campaign_budget
from seedance_batch._markdown import md_text
from seedance_batch._planner import Job, Plan, variant_text
from seedance_batch._states import TO_SPEND

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
    def budget(self) -> Budget:
        """The campaign's budget after the change: what its lockfile says was spent, plus the
        added jobs a run would send, against ``--max-credits`` or the new manifest's limit."""
        states = self.new.states
        to_spend = sum(j.credits for j in self.added if states.get(j.id, "new") in TO_SPEND)
        limit = self.max_credits if self.max_credits is not None else self.new.manifest.max_credits
        return campaign_budget(max_credits=limit, spent=self.new.spent, to_spend=to_spend)

    @property
    def within_budget(self) -> bool:
        return self.budget.within


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
        "budget": change.budget.to_json(),
    }
    return json.dumps(document, ensure_ascii=False, indent=1) + "\n"


def _line(sign: str, job: Job) -> str:
    variant = variant_text(job.variant) or "-"
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
            variant = md_text(variant_text(job.variant) or "-")
            out.append(f"| `{job.id}` | {md_text(job.job)} | {variant} | {job.credits} |")
        out += ["", "</details>", ""]
    return "\n".join(out)
