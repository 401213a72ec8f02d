"""The campaign's budget: what was spent plus what the next run would add, against max_credits."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Budget", "budget_line", "campaign_budget"]


@dataclass(frozen=True)
class Budget:
    """Credits the campaign has been charged, what the next run would add, and the limit."""

    max_credits: int | None
    spent: int
    to_spend: int
    within: bool

    @property
    def spare(self) -> int | None:
        """Credits left after the next run (negative when over), None without a limit."""
        if self.max_credits is None:
            return None
        return self.max_credits - self.spent - self.to_spend

    def to_json(self) -> dict[str, object]:
        """The contract's ``budget`` object."""
        return {
            "max_credits": self.max_credits,
            "spent": self.spent,
            "to_spend": self.to_spend,
            "within": self.within,
        }


def campaign_budget(*, max_credits: int | None, spent: int, to_spend: int) -> Budget:
    """The one budget check of ``plan``, ``run``, ``status`` and ``diff`` (contract section 3)."""
    within = max_credits is None or spent + to_spend <= max_credits
    return Budget(max_credits=max_credits, spent=spent, to_spend=to_spend, within=within)


def budget_line(budget: Budget, what: str = "this run") -> str:
    """``budget: spent X of Y, this run would add Z (W to spare)``, or OVER BUDGET, for people."""
    added = f"{what} would add {budget.to_spend}"
    if budget.max_credits is None:
        return f"budget: none set; spent {budget.spent} credits, {added}"
    spare = budget.spare
    assert spare is not None
    limit = f"spent {budget.spent} of {budget.max_credits} credits, {added}"
    if budget.within:
        return f"budget: {limit} ({spare} to spare)"
    return f"OVER BUDGET: {limit} ({-spare} over)"
