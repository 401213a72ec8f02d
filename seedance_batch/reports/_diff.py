"""The diff report: what a manifest change adds, removes, changes and renames, and what it costs,
in text, JSON and Markdown (the comparison is :func:`seedance_batch._diff.diff_plans`'s)."""

from __future__ import annotations

import json

from seedance_batch._budget import budget_line
from seedance_batch._diff import Pair, PlanDiff, prompt_of
from seedance_batch._labels import variant_text
from seedance_batch._planner import Job
from seedance_batch.reports._markdown import MarkdownDocument, md_code, md_table, md_text
from seedance_batch.reports._table import one_line

__all__ = ["diff_json", "diff_markdown", "diff_text"]


def _brief(job: Job) -> dict[str, object]:
    return {
        "id": job.id,
        "job": job.job,
        "variant": dict(job.variant),
        "repeat": job.repeat,
        "credits": job.credits,
    }


def _changed_json(pair: Pair) -> dict[str, object]:
    old, new = pair.old, pair.new
    return {
        "job": new.job,
        "variant": dict(new.variant),
        "repeat": new.repeat,
        "old": {"id": old.id, "prompt": prompt_of(old), "credits": old.credits},
        "new": {"id": new.id, "prompt": prompt_of(new), "credits": new.credits},
    }


def _renamed_json(pair: Pair) -> dict[str, object]:
    return {
        "id": pair.new.id,
        "old": {"job": pair.old.job, "variant": dict(pair.old.variant)},
        "new": {"job": pair.new.job, "variant": dict(pair.new.variant)},
    }


def diff_json(change: PlanDiff) -> str:
    """One object: the manifests, the jobs in each group, and the credits. ``added`` and
    ``removed`` leave out the ``changed`` pairs; ``renamed`` jobs are among the ``kept``."""
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
        "changed": [_changed_json(pair) for pair in change.changed],
        "renamed": [_renamed_json(pair) for pair in change.renamed],
    }
    return json.dumps(document, ensure_ascii=False, indent=1) + "\n"


def _label(job: Job) -> str:
    repeat = f" #{job.repeat}" if job.repeat else ""
    return one_line(f"{job.job} [{variant_text(job.variant)}]{repeat}")


def _line(sign: str, job: Job) -> str:
    return f"{sign} {job.id}  {_label(job)}  {job.credits} credits"


def _changed_lines(pair: Pair) -> list[str]:
    old, new = pair.old, pair.new
    was = f" (was {old.credits})" if old.credits != new.credits else ""
    lines = [f"~ {old.id} -> {new.id}  {_label(new)}  {new.credits} credits{was}"]
    old_prompt, new_prompt = pair.prompts
    if old_prompt != new_prompt:
        lines += [
            f"    old prompt: {one_line(old_prompt)}",
            f"    new prompt: {one_line(new_prompt)}",
        ]
    else:
        lines.append("    same prompt; another setting changed")
    return lines


def _budget(change: PlanDiff) -> str:
    return budget_line(change.budget, "this change")


def _summary(change: PlanDiff) -> str:
    return (
        f"{len(change.changed)} changed, "
        f"{len(change.added)} added, {len(change.removed)} removed, "
        f"{len(change.renamed)} renamed (free), {len(change.kept)} kept; "
        f"+{change.credits_added} / -{change.credits_removed} credits; "
        f"total {change.old.totals.credits} -> {change.new.totals.credits} credits"
    )


def diff_text(change: PlanDiff) -> str:
    """Changed jobs with their old and new prompt, added and removed jobs, renames, one a line;
    then the counts, the credits and the budget."""
    lines = [f"diff {change.old.manifest.file} -> {change.new.manifest.file}"]
    for pair in change.changed:
        lines += _changed_lines(pair)
    lines += [_line("+", j) for j in change.added] + [_line("-", j) for j in change.removed]
    lines += [
        f"= {pair.new.id}  {_label(pair.old)} -> {_label(pair.new)}  renamed, free"
        for pair in change.renamed
    ]
    lines += [_summary(change), _budget(change)]
    return "\n".join(lines) + "\n"


def _cells(job: Job) -> list[object]:
    return [md_code(job.id), md_text(job.job), md_text(variant_text(job.variant)), job.credits]


def diff_markdown(change: PlanDiff) -> str:
    """A summary a reviewer reads in a pull request: the cost first, then the changed jobs
    with both prompts, the added, the removed and the renamed; long tables folded, the whole
    within GitHub's comment limit."""
    name = change.new.manifest.name
    doc = MarkdownDocument()
    doc.add(f"### seedance-batch cost of this change: {md_code(name)}", "")
    header = ["added", "removed", "kept", "credits added", "total before", "total after"]
    row = (
        len(change.added),
        len(change.removed),
        len(change.kept),
        f"+{change.credits_added}",
        change.old.totals.credits,
        change.new.totals.credits,
        len(change.changed),
        len(change.renamed),
    )
    doc.add(*md_table([*header, "changed", "renamed (free)"], [row], right=range(8)), "")
    budget = md_text(_budget(change))
    doc.add(budget if change.within_budget else f"**{budget}**", "")
    rest = " (`diff --format json` lists them all)"
    sections: list[tuple[str, list[str], list[list[object]], tuple[int, ...]]] = [
        (
            "Changed",
            ["old id", "new id", "job", "variant", "credits", "old prompt", "new prompt"],
            [
                [
                    md_code(p.old.id),
                    *_cells(p.new),
                    *(md_text(prompt) for prompt in p.prompts),
                ]
                for p in change.changed
            ],
            (4,),
        ),
        ("Added", ["id", "job", "variant", "credits"], [_cells(j) for j in change.added], (3,)),
        ("Removed", ["id", "job", "variant", "credits"], [_cells(j) for j in change.removed], (3,)),
        (
            "Renamed (free)",
            ["id", "old job", "old variant", "new job", "new variant"],
            [
                [
                    md_code(p.new.id),
                    md_text(p.old.job),
                    md_text(variant_text(p.old.variant)),
                    md_text(p.new.job),
                    md_text(variant_text(p.new.variant)),
                ]
                for p in change.renamed
            ],
            (),
        ),
    ]
    present = [section for section in sections if section[2]]
    for index, (title, columns, rows, right) in enumerate(present):
        doc.table(
            f"**{title}**: {len(rows)} jobs",
            columns,
            rows,
            right=right,
            rest=rest,
            room=doc.room // (len(present) - index),
            summary=f"{title}: {len(rows)} jobs",
        )
    return doc.text()
