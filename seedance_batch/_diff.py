"""What a manifest change does: jobs added, removed, changed, renamed and kept, and what it costs.

Jobs are compared by id (the request and the repeat index). A removed and an added job of the
same job name, variant and repeat are one *changed* job (a new prompt or setting: a new
request, so its credits count); a job whose id stays while its job name or variant labels
change is *renamed*, and costs nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from seedance_batch._budget import Budget, campaign_budget
from seedance_batch._planner import Job, Plan
from seedance_batch._states import TO_SPEND

__all__ = ["Pair", "PlanDiff", "diff_plans", "prompt_of"]


@dataclass(frozen=True)
class Pair:
    """One job before and after the change: ``changed`` (new id) or ``renamed`` (same id)."""

    old: Job
    new: Job

    @property
    def prompts(self) -> tuple[str, str]:
        """The prompt sent before the change and the one sent after."""
        return prompt_of(self.old), prompt_of(self.new)


@dataclass(frozen=True)
class PlanDiff:
    """Jobs only in the new plan, only in the old, changed, renamed and kept, in plan order.

    ``added`` and ``removed`` leave out the jobs of ``changed``; ``kept`` (same id) includes
    those of ``renamed``.
    """

    old: Plan
    new: Plan
    added: tuple[Job, ...]
    removed: tuple[Job, ...]
    kept: tuple[Job, ...]
    max_credits: int | None = None
    changed: tuple[Pair, ...] = ()
    renamed: tuple[Pair, ...] = ()

    @property
    def new_jobs(self) -> tuple[Job, ...]:
        """Every job a run of the new manifest would submit for the first time (new ids)."""
        return (*(pair.new for pair in self.changed), *self.added)

    @property
    def credits_added(self) -> int:
        return sum(job.credits for job in self.new_jobs)

    @property
    def credits_removed(self) -> int:
        return sum(job.credits for job in self.removed) + sum(p.old.credits for p in self.changed)

    @property
    def budget(self) -> Budget:
        """The campaign's budget after the change: what its lockfile says was spent, plus the
        new jobs a run would send, against ``--max-credits`` or the new manifest's own limit."""
        states = self.new.states
        to_spend = sum(j.credits for j in self.new_jobs if states.get(j.id, "new") in TO_SPEND)
        limit = self.max_credits if self.max_credits is not None else self.new.manifest.max_credits
        return campaign_budget(max_credits=limit, spent=self.new.spent, to_spend=to_spend)

    @property
    def within_budget(self) -> bool:
        return self.budget.within


def prompt_of(job: Job) -> str:
    """The prompt a job sends."""
    return str(job.request.get("prompt", ""))


def _place(job: Job) -> tuple[str, tuple[tuple[str, str], ...], int]:
    return job.job, tuple(job.variant.items()), job.repeat


def diff_plans(old: Plan, new: Plan, max_credits: int | None = None) -> PlanDiff:
    """Compare two plans by job id, then pair what is left by job name, variant and repeat."""
    old_by_id: Mapping[str, Job] = {job.id: job for job in old.jobs}
    new_ids = {job.id for job in new.jobs}
    removed = {_place(job): job for job in reversed(old.jobs) if job.id not in new_ids}
    changed: list[Pair] = []
    added: list[Job] = []
    for job in new.jobs:
        if job.id in old_by_id:
            continue
        before = removed.pop(_place(job), None)
        if before is None:
            added.append(job)
        else:
            changed.append(Pair(before, job))
    paired = {pair.old.id for pair in changed}
    kept = tuple(job for job in new.jobs if job.id in old_by_id)
    renamed = tuple(
        Pair(old_by_id[job.id], job)
        for job in kept
        if _place(old_by_id[job.id])[:2] != _place(job)[:2]
    )
    return PlanDiff(
        old=old,
        new=new,
        added=tuple(added),
        removed=tuple(j for j in old.jobs if j.id not in new_ids and j.id not in paired),
        kept=kept,
        max_credits=max_credits,
        changed=tuple(changed),
        renamed=renamed,
    )
