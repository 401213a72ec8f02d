"""The dry-run report for people and reviewers: each job's prompt template once, its variants'
values in columns, a subtotal per job, then the totals and the budget (text and Markdown)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from seedance_batch._budget import Budget, budget_line
from seedance_batch._job_spec import JobSpec
from seedance_batch._labels import job_size
from seedance_batch._planner import Job, Plan, Totals
from seedance_batch._states import TO_SPEND
from seedance_batch.reports._markdown import MarkdownDocument, md_code, md_table, md_text
from seedance_batch.reports._table import one_line, text_table

__all__ = ["SUMMARY_ROWS", "plan_markdown", "plan_text"]

#: Jobs listed before a long text plan is summarised (``--verbose`` lists them all).
SUMMARY_ROWS = 20

#: The settings every job row shows, and the request field each one is: a column is left out
#: when that field is one of the job's axes (its values are in the axis's column already).
_SETTINGS = (("model", "model"), ("res", "resolution"), ("size", "size"), ("n", "n"))


@dataclass(frozen=True)
class _Group:
    """The jobs of one manifest job in the plan, with its prompt templates and axes."""

    name: str
    jobs: tuple[Job, ...]
    planned: int
    templates: tuple[tuple[str | None, str], ...]
    axes: tuple[str, ...]
    repeats: bool

    def subtotal(self) -> str:
        """``2 of 12 jobs, 4 images, 8 credits`` (``of`` only for a subset)."""
        return _counts(self.jobs, self.planned)

    def header(self, with_state: bool) -> list[str]:
        settings = [label for label, field in _SETTINGS if field not in self.axes]
        return [
            "id",
            *self.axes,
            *(["rep"] if self.repeats else []),
            *settings,
            "credits",
            *(["state"] if with_state else []),
        ]

    def row(self, job: Job, plan: Plan, with_state: bool) -> list[str]:
        values = {
            "model": job.model,
            "resolution": job.resolution,
            "size": job_size(job.request) or "-",
            "n": str(job.images),
        }
        return [
            job.id,
            *(job.variant.get(axis) or values.get(axis, "-") for axis in self.axes),
            *([str(job.repeat)] if self.repeats else []),
            *(values[field] for _, field in _SETTINGS if field not in self.axes),
            str(job.credits),
            *([plan.state(job.id)] if with_state else []),
        ]

    def right(self, header: Sequence[str]) -> tuple[int, ...]:
        return tuple(i for i, name in enumerate(header) if name in ("rep", "n", "credits"))


def _counts(jobs: Sequence[Job], planned: int) -> str:
    """``6 of 52 jobs, 12 images, 24 credits`` (``of`` only for a subset)."""
    images = sum(job.images for job in jobs)
    credits = sum(job.credits for job in jobs)
    of = f" of {planned}" if planned != len(jobs) else ""
    jobs_text = f"{len(jobs)}{of} {_plural(planned, 'job')}"
    return f"{jobs_text}, {images} {_plural(images, 'image')}, {credits} credits"


def _plural(count: int, word: str) -> str:
    return word if count == 1 else word + "s"


def _templates(spec: JobSpec | None) -> tuple[tuple[str | None, str], ...]:
    if spec is None:
        return ()
    if spec.prompts is not None:
        return tuple(spec.prompts.items())
    return ((None, spec.prompt),) if spec.prompt is not None else ()


def _groups(plan: Plan) -> list[_Group]:
    """The plan's jobs by manifest job, in plan order, each with how many the whole plan has."""
    by_name: dict[str, list[Job]] = {}
    for job in plan.jobs:
        by_name.setdefault(job.job, []).append(job)
    planned: Mapping[str, int] = {}
    if plan.selected_from is not None:
        counts: dict[str, int] = {}
        for job in plan.selected_from:
            counts[job.job] = counts.get(job.job, 0) + 1
        planned = counts
    specs = {spec.name: spec for spec in plan.manifest.jobs}
    groups = []
    for name, jobs in by_name.items():
        axes: dict[str, None] = {}
        for job in jobs:
            axes.update(dict.fromkeys(job.variant))
        groups.append(
            _Group(
                name=name,
                jobs=tuple(jobs),
                planned=planned.get(name, len(jobs)),
                templates=_templates(specs.get(name)),
                axes=tuple(axes),
                repeats=any(job.repeat for job in jobs),
            )
        )
    return groups


def _template_text(variant: str | None, template: str) -> str:
    return f"prompt {variant}: {template}" if variant is not None else f"prompt: {template}"


def plan_text(
    plan: Plan, *, verbose: bool = False, with_state: bool = False, budget: Budget | None = None
) -> str:
    """Each job: its subtotal, its prompt template, a table of its variants; then the totals
    by model and resolution, and the budget. Past :data:`SUMMARY_ROWS` rows (unless
    ``verbose``), the rest of the jobs are counted, not listed."""
    totals = plan.totals
    planned = len(plan.planned_jobs)
    out = [
        f"plan for {plan.manifest.name} ({plan.manifest.file}): {_counts(plan.jobs, planned)}",
        "",
    ]
    room = len(plan.jobs) if verbose else SUMMARY_ROWS
    listed = 0
    for group in _groups(plan):
        out.append(f"{one_line(group.name)}: {group.subtotal()}")
        out += [f"  {one_line(_template_text(*t))}" for t in group.templates]
        shown = group.jobs[:room]
        room -= len(shown)
        listed += len(shown)
        if shown:
            header = group.header(with_state)
            rows = [header, *(group.row(job, plan, with_state) for job in shown)]
            out += [f"  {line}" for line in text_table(rows, right=group.right(header))]
        if len(shown) < len(group.jobs):
            out.append(f"  ... {len(group.jobs) - len(shown)} more {one_line(group.name)} jobs")
        out.append("")
    if listed < len(plan.jobs):
        out += [f"... and {len(plan.jobs) - listed} more jobs (--verbose lists every job)", ""]
    summary = [["model", "credits"], *[[m, str(c)] for m, c in totals.by_model.items()]]
    summary += [["resolution", ""], *[[r, str(c)] for r, c in totals.by_resolution.items()]]
    out.extend(text_table(summary, right=(1,)))
    out.append("")
    out.append(f"total: {_counts(plan.jobs, planned)}")
    if with_state:
        states = ", ".join(f"{k} {v}" for k, v in totals.by_state.items())
        out.append(f"states: {states}")
        out.append(
            f"to spend: {totals.credits_to_spend} credits; "
            f"failed jobs (--retry-failed): {totals.credits_to_retry} credits"
            + _reroll_words(totals)
        )
        if plan.orphans:
            out.append(
                f"orphaned: {len(plan.orphans)} jobs in the lockfile the manifest no longer plans"
            )
    out.append(budget_line(budget or plan.budget))
    return "\n".join(out) + "\n"


def _reroll_words(totals: Totals) -> str:
    """``; new takes of rejected images (--reroll-rejected): N credits``, when a review
    rejected any job wholly (nothing otherwise: a campaign not under review reads as before)."""
    if not totals.credits_to_reroll:
        return ""
    return f"; new takes of rejected images (--reroll-rejected): {totals.credits_to_reroll} credits"


def plan_markdown(plan: Plan, *, with_state: bool = False, budget: Budget | None = None) -> str:
    """Totals first, then each job with its prompt template and its variants, long tables
    folded: ready for a pull request comment or a CI step summary, within GitHub's limit."""
    totals = plan.totals
    budget = budget or plan.budget
    mark = "within budget" if budget.within else "**over budget**"
    limit = f"{budget.max_credits}" if budget.max_credits is not None else "none"
    planned = len(plan.planned_jobs)
    jobs = f"{totals.jobs} of {planned}" if planned != totals.jobs else str(totals.jobs)
    doc = MarkdownDocument()
    doc.add(f"### seedance-batch plan: {md_code(plan.manifest.name)}", "")
    header = ["jobs", "images", "credits", "spent", "to spend", "to retry", "budget"]
    numbers = (jobs, totals.images, totals.credits, budget.spent, budget.to_spend)
    row: tuple[object, ...] = (*numbers, totals.credits_to_retry, f"{limit} ({mark})")
    if totals.credits_to_reroll:
        header.insert(6, "to reroll")
        row = (*row[:6], totals.credits_to_reroll, row[6])
    right = range(len(header) - 1)
    doc.add(*md_table(header, [row], right=right), "", md_text(budget_line(budget)), "")
    if with_state:
        doc.add(*_against_lockfile(plan))
    doc.add(
        "By model: "
        + ", ".join(f"{md_text(m)} {c}" for m, c in totals.by_model.items())
        + " · by resolution: "
        + ", ".join(f"{md_text(r)} {c}" for r, c in totals.by_resolution.items()),
        "",
    )
    groups = _groups(plan)
    for index, group in enumerate(groups):
        heading = f"#### {md_text(group.name)}: {group.subtotal()}"
        if not doc.fits(heading):
            left = sum(len(g.jobs) for g in groups[index:])
            doc.add(f"… and {left} more jobs (`plan --format json` lists them all).")
            break
        doc.add(heading, "")
        quoted = [
            f"> **{md_text(variant)}**: {md_text(template)}"
            if variant is not None
            else f"> {md_text(template)}"
            for variant, template in group.templates
        ]
        doc.add(*"\n>\n".join(quoted).splitlines(), "")
        header = group.header(with_state)
        rows = [
            [md_code(cells[0]), *(md_text(cell) for cell in cells[1:])]
            for cells in (group.row(job, plan, with_state) for job in group.jobs)
        ]
        doc.table(
            "",
            header,
            rows,
            right=group.right(header),
            rest=" (`plan --format json` lists them all)",
            room=doc.room // (len(groups) - index),
            summary=f"{len(group.jobs)} jobs of {md_text(group.name)}",
        )
    return doc.text()


def _against_lockfile(plan: Plan) -> list[str]:
    """What changed against the lockfile: jobs added, already done, still to do, removed."""
    states = plan.states
    added = [j for j in plan.jobs if j.id not in states]
    done = [j for j in plan.jobs if states.get(j.id) == "succeeded"]
    failed = [j for j in plan.jobs if states.get(j.id) == "failed"]
    pending = [j for j in plan.jobs if j.id in states and states[j.id] in TO_SPEND]
    waiting = [j for j in plan.jobs if states.get(j.id) == "submitted"]
    rerolled = [j for j in plan.jobs if j.id in plan.rerolls]
    rows = [
        ("added since the lockfile", added, "to spend"),
        ("in the lockfile, not yet sent", pending, "to spend"),
        ("submitted, being polled", waiting, "already charged"),
        ("already done", done, "already charged"),
        ("failed (`--retry-failed`)", failed, "to retry"),
        ("all images rejected (`--reroll-rejected`)", rerolled, "to reroll"),
    ]
    table: list[tuple[str, int, int | str, str]] = [
        (label, len(jobs), sum(j.credits for j in jobs), note) for label, jobs, note in rows
    ]
    if plan.orphans:
        table.append(("removed from the manifest (orphaned; `prune`)", len(plan.orphans), "", ""))
    header = ["against the lockfile", "jobs", "credits", ""]
    shown = [row for row in table if row[1]]
    return [*md_table(header, shown, right=(1, 2)), ""]
