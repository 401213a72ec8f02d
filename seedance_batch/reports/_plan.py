"""The dry-run report of a plan: text for people, JSON for programs, Markdown for pull requests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TextIO

from seedance_batch._budget import Budget, budget_line
from seedance_batch._labels import job_size, variant_text
from seedance_batch._planner import Job, Plan
from seedance_batch._states import TO_SPEND
from seedance_batch.reports._markdown import md_code, md_row, md_text
from seedance_batch.reports._table import text_table

__all__ = [
    "SUMMARY_ROWS",
    "plan_json",
    "plan_json_chunks",
    "plan_markdown",
    "plan_text",
    "write_plan_json",
]

#: Jobs listed before a long plan is summarised (``--verbose`` lists them all).
SUMMARY_ROWS = 20

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
            "credits_spent": totals.credits_spent,
            "by_state": totals.by_state,
            "by_model": totals.by_model,
            "by_resolution": totals.by_resolution,
        }
    )
    budget_json = _dumps(budget.to_json())
    yield "]" if first else "\n ]"
    yield f',\n "totals": {totals_json},\n "budget": {budget_json}}}\n'


def _shown(plan: Plan, verbose: bool) -> tuple[tuple[Job, ...], int]:
    if verbose or len(plan.jobs) <= SUMMARY_ROWS:
        return plan.jobs, 0
    return plan.jobs[:SUMMARY_ROWS], len(plan.jobs) - SUMMARY_ROWS


def plan_text(
    plan: Plan, *, verbose: bool = False, with_state: bool = False, budget: Budget | None = None
) -> str:
    """An aligned table of jobs, then totals by model and resolution, then the budget."""
    totals = plan.totals
    shown, hidden = _shown(plan, verbose)
    out = [f"plan for {plan.manifest.name} ({plan.manifest.file})", ""]
    header = ["id", "job", "variant", "rep", "model", "res", "size", "n", "credits"]
    if with_state:
        header.append("state")
    rows = [header]
    for job in shown:
        row = [
            job.id,
            job.job,
            variant_text(job.variant),
            str(job.repeat),
            job.model,
            job.resolution,
            job_size(job.request) or "-",
            str(job.images),
            str(job.credits),
        ]
        if with_state:
            row.append(plan.state(job.id))
        rows.append(row)
    if shown:
        out.extend(text_table(rows, right=(3, 7, 8)))
    if hidden:
        out.append(f"... and {hidden} more jobs (--verbose lists every job)")
    out.append("")
    summary = [["model", "credits"], *[[m, str(c)] for m, c in totals.by_model.items()]]
    summary += [["resolution", ""], *[[r, str(c)] for r, c in totals.by_resolution.items()]]
    out.extend(text_table(summary, right=(1,)))
    out.append("")
    out.append(f"total: {totals.jobs} jobs, {totals.images} images, {totals.credits} credits")
    if with_state:
        states = ", ".join(f"{k} {v}" for k, v in totals.by_state.items())
        out.append(f"states: {states}")
        out.append(
            f"to spend: {totals.credits_to_spend} credits; "
            f"failed jobs (--retry-failed): {totals.credits_to_retry} credits"
        )
        if plan.orphans:
            out.append(
                f"orphaned: {len(plan.orphans)} jobs in the lockfile the manifest no longer plans"
            )
    out.append(budget_line(budget or plan.budget))
    return "\n".join(out) + "\n"


def plan_markdown(
    plan: Plan, *, verbose: bool = False, with_state: bool = False, budget: Budget | None = None
) -> str:
    """Totals first, then the jobs: ready for a pull request or a CI step summary."""
    totals = plan.totals
    budget = budget or plan.budget
    mark = "within budget" if budget.within else "**over budget**"
    limit = f"{budget.max_credits}" if budget.max_credits is not None else "none"
    out = [
        f"### seedance-batch plan: `{plan.manifest.name}`",
        "",
        "| jobs | images | credits | spent | to spend | to retry | budget |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | --- |",
        f"| {totals.jobs} | {totals.images} | {totals.credits} | {budget.spent} "
        f"| {budget.to_spend} | {totals.credits_to_retry} | {limit} ({mark}) |",
        "",
        md_text(budget_line(budget)),
        "",
    ]
    if with_state:
        out += _against_lockfile(plan)
    out.append(
        "By model: "
        + ", ".join(f"{md_text(m)} {c}" for m, c in totals.by_model.items())
        + " · by resolution: "
        + ", ".join(f"{md_text(r)} {c}" for r, c in totals.by_resolution.items())
    )
    out.append("")
    shown, hidden = _shown(plan, verbose)
    if shown:
        out.append("<details><summary>Jobs</summary>\n")
        header = "| id | job | variant | rep | model | res | size | n | credits |"
        rule = "| --- | --- | --- | ---: | --- | --- | --- | ---: | ---: |"
        if with_state:
            header += " state |"
            rule += " --- |"
        out.extend([header, rule])
        for job in shown:
            cells: list[object] = [
                md_code(job.id),
                md_text(job.job),
                md_text(variant_text(job.variant)),
                job.repeat,
                md_text(job.model),
                md_text(job.resolution),
                md_text(job_size(job.request) or "-"),
                job.images,
                job.credits,
            ]
            if with_state:
                cells.append(plan.state(job.id))
            out.append(md_row(cells))
        if hidden:
            out.append(f"\n… and {hidden} more jobs.")
        out.append("\n</details>")
    return "\n".join(out) + "\n"


def _against_lockfile(plan: Plan) -> list[str]:
    """What changed against the lockfile: jobs added, already done, still to do, removed."""
    added = [j for j in plan.jobs if j.id not in plan.states]
    done = [j for j in plan.jobs if plan.states.get(j.id) == "succeeded"]
    failed = [j for j in plan.jobs if plan.states.get(j.id) == "failed"]
    pending = [j for j in plan.jobs if j.id in plan.states and plan.states[j.id] in TO_SPEND]
    waiting = [j for j in plan.jobs if plan.states.get(j.id) == "submitted"]
    rows = [
        ("added since the lockfile", added, "to spend"),
        ("in the lockfile, not yet sent", pending, "to spend"),
        ("submitted, being polled", waiting, "already charged"),
        ("already done", done, "already charged"),
        ("failed (`--retry-failed`)", failed, "to retry"),
    ]
    out = [
        "| against the lockfile | jobs | credits | |",
        "| --- | ---: | ---: | --- |",
    ]
    out += [
        f"| {label} | {len(jobs)} | {sum(j.credits for j in jobs)} | {note} |"
        for label, jobs, note in rows
        if jobs
    ]
    if plan.orphans:
        out.append(f"| removed from the manifest (orphaned; `prune`) | {len(plan.orphans)} | | |")
    return [*out, ""]
