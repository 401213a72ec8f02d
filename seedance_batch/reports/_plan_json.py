"""The plan as the contract's JSON, built from strings a chunk at a time (a 100,000-job plan
is 40 MB); ``tests/test_fast_paths.py`` holds it to the ``json`` reference."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TextIO

from seedance_batch._budget import Budget
from seedance_batch._planner import Plan

__all__ = ["plan_json", "plan_json_chunks", "write_plan_json"]

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(", ", ": ")).encode


def plan_json(plan: Plan, budget: Budget | None = None) -> str:
    """The contract's JSON object: one job a line, then the totals and the budget."""
    return "".join(plan_json_chunks(plan, budget=budget))


def write_plan_json(plan: Plan, stream: TextIO, budget: Budget | None = None) -> None:
    """Write :func:`plan_json` to ``stream`` a chunk at a time (a 100,000-job plan is 40 MB)."""
    for chunk in plan_json_chunks(plan, budget=budget):
        stream.write(chunk)


def plan_json_chunks(
    plan: Plan, lines_per_chunk: int = 2000, *, budget: Budget | None = None
) -> Iterator[str]:
    """The text of :func:`plan_json` in pieces, so that it never has to be held whole.

    ``budget`` is the check to report (``plan.budget_for(...)``), a plain run's by default.
    """
    manifest = plan.manifest
    totals = plan.totals
    budget = budget or plan.budget
    head = f'{{"manifest": {_dumps(manifest.file)}, "name": {_dumps(manifest.name)},\n "jobs": ['
    variants: dict[int, str] = {}
    pairs: dict[tuple[str, str], str] = {}
    states = plan.states
    lines: list[str] = []
    yield head
    first = True
    for job in plan.jobs:
        job_id = job.id
        variant_map = job.variant
        variant = variants.get(id(variant_map))
        if variant is None:
            # axis names are identifiers and values repeat across jobs: quote each pair once
            parts = []
            for item in variant_map.items():
                text = pairs.get(item)
                if text is None:
                    text = pairs[item] = f'"{item[0]}": {_dumps(item[1])}'
                parts.append(text)
            variant = variants[id(variant_map)] = "{" + ", ".join(parts) + "}"
        # job names and output paths are slugs: nothing in them needs escaping
        lines.append(
            f'{{"id": "{job_id}", "job": "{job.job}", "variant": {variant}, '
            f'"repeat": {job.repeat}, "request": {job.body}, "images": {job.images}, '
            f'"credits": {job.credits}, "output": "{job.output}", '
            f'"state": "{states.get(job_id, "new")}"}}'
        )
        if len(lines) >= lines_per_chunk:
            yield ("\n  " if first else ",\n  ") + ",\n  ".join(lines)
            first = False
            lines.clear()
    if lines:
        yield ("\n  " if first else ",\n  ") + ",\n  ".join(lines)
        first = False
    totals_json = _dumps(
        {
            "jobs": totals.jobs,
            "images": totals.images,
            "credits": totals.credits,
            "credits_to_spend": totals.credits_to_spend,
            "credits_to_retry": totals.credits_to_retry,
            "credits_to_reroll": totals.credits_to_reroll,
            "credits_spent": totals.credits_spent,
            "by_state": totals.by_state,
            "by_model": totals.by_model,
            "by_resolution": totals.by_resolution,
        }
    )
    budget_json = _dumps(budget.to_json())
    yield "]" if first else "\n ]"
    yield f',\n "totals": {totals_json},\n "budget": {budget_json}}}\n'
