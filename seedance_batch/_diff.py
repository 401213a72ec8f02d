"""What a manifest change does: jobs added, removed and kept, and the credits it adds."""

from __future__ import annotations

from dataclasses import dataclass

from seedance_batch._budget import Budget, campaign_budget
from seedance_batch._planner import Job, Plan
from seedance_batch._states import TO_SPEND

__all__ = ["PlanDiff", "diff_plans"]


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
