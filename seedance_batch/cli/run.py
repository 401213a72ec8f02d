"""``seedance-batch run MANIFEST``: submit, poll, download; resumable; a summary at the end."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, TextIO

from seedance_batch._manifest import load_manifest
from seedance_batch._states import needs_work
from seedance_batch.cli._common import (
    add_format,
    add_lockfile,
    add_manifest,
    add_selection,
    positive_int,
    positive_number,
    print_diagnostics,
)
from seedance_batch.cli._errors import EXIT_INTERRUPTED, EXIT_OK, run_exit_code

if TYPE_CHECKING:
    from seedance_batch._run_values import RunSummary

#: Signals that stop a run like Ctrl-C; during the run the executor handles them itself.
OTHER_STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
MAX_LISTED = 20


def add_parser(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "run",
        help="submit, poll and download; resumes what a run left",
        description="Run a manifest against the API. The key comes from SEEDANCE_API_KEY.",
    )
    add_manifest(parser)
    add_lockfile(parser)
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="output folder (default: the lockfile's recorded one, else the manifest's)",
    )
    parser.add_argument("--base-url", metavar="URL", help="API base URL (or SEEDANCE_BASE_URL)")
    parser.add_argument("--concurrency", type=positive_int, metavar="N", help="tasks in flight")
    parser.add_argument(
        "--requests-per-second",
        type=positive_number,
        metavar="R",
        help="ceiling on all requests to the API together",
    )
    parser.add_argument(
        "--poll-interval", type=positive_number, metavar="S", help="seconds before the first poll"
    )
    parser.add_argument(
        "--poll-max", type=positive_number, metavar="S", help="longest wait between polls"
    )
    parser.add_argument(
        "--task-timeout", type=positive_number, metavar="S", help="seconds from submit to give up"
    )
    parser.add_argument(
        "--max-attempts", type=positive_int, metavar="N", help="submissions per job in one run"
    )
    add_selection(parser)
    parser.add_argument(
        "--retry-failed", action="store_true", help="submit failed jobs again (may cost credits)"
    )
    parser.add_argument(
        "--reroll-rejected",
        action="store_true",
        help="a new take for each job whose images are all rejected in the review (costs credits)",
    )
    parser.add_argument(
        "--adopt",
        action="store_true",
        help="take over a lockfile recorded for another campaign name (a campaign renamed)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_format(parser, "text", "json")


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _leave_now() -> None:
    """A second Ctrl-C while the run stops: leave at once (the journal keeps the lockfile
    valid), exit 130."""
    os._exit(EXIT_INTERRUPTED)


@contextlib.contextmanager
def _stop_signals_interrupt() -> Iterator[None]:
    """SIGTERM, SIGHUP and SIGQUIT outside the run's own handlers (start-up, the outputs, the
    summary) act as Ctrl-C."""
    previous = {signum: signal.signal(signum, _interrupt) for signum in OTHER_STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def run_command(args: argparse.Namespace) -> RunSummary:
    # here, not at the top: `validate` builds every command's parser and must stay light
    from seedance_batch import _run
    from seedance_batch._run_values import RunOptions
    from seedance_batch.cli._progress import Progress

    with _stop_signals_interrupt():
        manifest = load_manifest(args.manifest)
        print_diagnostics(manifest.warnings)
        options = RunOptions(
            base_url=args.base_url,
            out=args.out,
            lockfile=args.lockfile,
            concurrency=args.concurrency,
            requests_per_second=args.requests_per_second,
            poll_interval=args.poll_interval,
            poll_max=args.poll_max,
            task_timeout=args.task_timeout,
            max_attempts=args.max_attempts,
            max_credits=args.max_credits,
            retry_failed=args.retry_failed,
            reroll_rejected=args.reroll_rejected,
            only=tuple(args.only),
            limit=args.limit,
            shard=args.shard,
            handle_signals=True,
            on_interrupt_again=_leave_now,
            adopt=args.adopt,
        )
        show = not args.no_progress and sys.stderr.isatty()
        with Progress(enabled=show) as progress:
            return _run.run(manifest, options, on_event=progress.on_event)


def resume_command(
    args: argparse.Namespace, summary: RunSummary, *, retry_failed: bool | None = None
) -> str | None:
    """The command that resumes this run: the same selection, budget, folders and API.

    ``--limit N`` picks the first N jobs that still need work, so a canary whose jobs partly
    finished is resumed with the count it has left, never with jobs beyond it; ``None`` when
    the limited selection has nothing left for that command to do.
    """
    retry = args.retry_failed if retry_failed is None else retry_failed
    words = ["seedance-batch", "run", str(args.manifest)]
    for pattern in args.only:
        words += ["--only", pattern]
    if args.limit is not None:
        wanted = needs_work(retry_failed=retry)
        left = sum(count for state, count in summary.by_state.items() if state in wanted)
        if not left:
            return None
        words += ["--limit", str(left)]
    if args.shard is not None:
        words += ["--shard", "{}/{}".format(*args.shard)]
    for flag in ("max_credits", "out", "lockfile", "base_url"):
        value = getattr(args, flag)
        if value is not None:
            words += [f"--{flag.replace('_', '-')}", str(value)]
    if retry:
        words.append("--retry-failed")
    if args.reroll_rejected:
        words.append("--reroll-rejected")
    return shlex.join(words)


def _credits_line(summary: RunSummary) -> str:
    line = (
        f"credits: {summary.credits_charged} charged in this run "
        f"({summary.credits_first_attempts} first attempts, "
        f"{summary.credits_resubmissions} resubmissions), "
        f"{summary.credits_spent_total} spent by the campaign"
    )
    if summary.max_credits is not None:
        line += f" of a budget of {summary.max_credits}"
    return line


def summary_lines(summary: RunSummary, args: argparse.Namespace) -> list[str]:
    """The end-of-run summary as lines for stderr (the stop's reason was said already)."""
    if summary.stopped == "auth" and not summary.credits_charged and not summary.images_saved:
        return []  # the refusal was its one line; nothing else happened
    states = ", ".join(f"{k} {v}" for k, v in sorted(summary.by_state.items())) or "nothing"
    lines = []
    nothing_done = not summary.credits_charged and not summary.images_saved
    if run_exit_code(summary) == EXIT_OK and nothing_done:
        jobs = sum(summary.by_state.values())
        lines.append(f"nothing to do: all {jobs} selected jobs have succeeded")
    lines += [
        f"jobs: {states}",
        f"this run: {summary.succeeded} succeeded, {summary.failed} failed, "
        f"{summary.timed_out} timed out, {summary.unfinished} left for the next run",
        f"images: {summary.images_saved} saved ({summary.images_delivered} delivered of "
        f"{summary.images_asked} asked)",
        _credits_line(summary),
        f"possible double charges: {summary.possible_double_charges}",
    ]
    if summary.retries:
        lines.append(f"retries: {summary.retries} requests sent again")
    if summary.rate_limited and summary.settled_rate is not None:
        lines.append(
            f"rate: settled at {summary.settled_rate:.1f} requests/s; "
            f"{summary.rate_limited} answers said to slow down (429)"
        )
    elif summary.settled_rate is not None:
        lines.append("rate: no 429 met, the rate was never cut")
    lines.append(f"elapsed: {summary.elapsed:.1f} s")
    if summary.outputs_written or summary.gallery.is_file():
        lines.append(f"gallery: {summary.gallery}")
    lines += [f"  {message}" for message in summary.messages[:MAX_LISTED]]
    if len(summary.messages) > MAX_LISTED:
        more = len(summary.messages) - MAX_LISTED
        lines.append(f"  ... and {more} more (see `seedance-batch status`)")
    lines += _unrecorded_lines(summary)
    lines += _advice(summary, args)
    return lines


def _unrecorded_lines(summary: RunSummary) -> list[str]:
    if not summary.unrecorded:
        return []
    lines = ["tasks the lockfile could not record (keep these ids: they are paid for):"]
    return lines + [f"  job {job_id}: task {task_id}" for job_id, task_id in summary.unrecorded]


def _advice(summary: RunSummary, args: argparse.Namespace) -> list[str]:
    """What to do next: resume what is unfinished, retry what failed (with its cost)."""
    resume = resume_command(args, summary)
    if summary.stopped == "interrupted":
        if resume is None:
            return ["interrupted; the lockfile is saved, and the selection has nothing left to run"]
        return [f"interrupted; the lockfile is saved. Resume with: {resume}"]
    lines = []
    if summary.stopped == "budget":
        lines.append(
            f"the budget stopped the run: {summary.credits_spent_total} of "
            f"{summary.max_credits} credits spent; to go on, raise budget.max_credits "
            "(or pass --max-credits)"
        )
    elif resume and (
        summary.unfinished or summary.by_state.keys() & {"new", "submitting", "submitted"}
    ):
        lines.append(f"not finished; a rerun resumes: {resume}")
    if getattr(args, "shard", None) is not None and not lines:
        k, n = args.shard
        lines.append(
            f"shard {k}/{n} done; once every shard is, fold them into the campaign: "
            f"seedance-batch merge {shlex.quote(str(args.manifest))} <the {n} shard lockfiles>"
        )
    retry = resume_command(args, summary, retry_failed=True)
    if summary.by_state.get("failed") and retry:
        lines.append(
            f"{summary.by_state['failed']} failed; to submit them again "
            f"(up to {summary.retry_failed_credits} credits): {retry}"
        )
    return lines


def summary_json(summary: RunSummary) -> dict[str, Any]:
    """The end-of-run summary as one JSON object (contract, section 4)."""
    return {
        "exit_code": run_exit_code(summary),
        "stopped": summary.stopped,
        "reason": summary.reason,
        "states": dict(summary.by_state),
        "this_run": {
            "succeeded": summary.succeeded,
            "failed": summary.failed,
            "timed_out": summary.timed_out,
            "unfinished": summary.unfinished,
        },
        "credits": {
            "charged": summary.credits_charged,
            "first_attempts": summary.credits_first_attempts,
            "resubmissions": summary.credits_resubmissions,
            "spent_total": summary.credits_spent_total,
            "max_credits": summary.max_credits,
            "retry_failed": summary.retry_failed_credits,
        },
        "possible_double_charges": summary.possible_double_charges,
        "retries": summary.retries,
        "settled_rate": (None if summary.settled_rate is None else round(summary.settled_rate, 2)),
        "rate_limited": summary.rate_limited,
        "images": {
            "asked": summary.images_asked,
            "delivered": summary.images_delivered,
            "saved": summary.images_saved,
        },
        "elapsed": round(summary.elapsed, 3),
        "lockfile": str(summary.lockfile),
        "results": str(summary.results),
        "gallery": str(summary.gallery),
        "unreachable": summary.unreachable,
        "unrecorded": [{"job_id": j, "task_id": t} for j, t in summary.unrecorded],
        "failures": [
            {"job": p.job, "job_id": p.job_id, "outcome": p.outcome, "message": p.message}
            for p in summary.problems
        ],
    }


def print_summary(summary: RunSummary, args: argparse.Namespace) -> None:
    """The summary on stderr (and as JSON on stdout with ``--format json``); a closed or full
    stream is ignored: the exit code still says how the run ended."""
    if getattr(args, "format", "text") == "json":
        _write(sys.stdout, json.dumps(summary_json(summary), ensure_ascii=False) + "\n")
    lines = summary_lines(summary, args)
    if lines:
        _write(sys.stderr, "\n".join(lines) + "\n")


def _write(stream: TextIO, text: str) -> None:
    """Write and flush; when the stream is gone, point it at /dev/null so that nothing at
    exit fails again (a broken pipe must not change the exit code)."""
    try:
        stream.write(text)
        stream.flush()
    except (OSError, ValueError):
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, stream.fileno())
            os.close(devnull)


def run(args: argparse.Namespace) -> int:
    summary = run_command(args)
    print_summary(summary, args)
    if summary.stopped == "interrupted":
        # all is saved and said: a late Ctrl-C must not turn the interpreter's teardown (which
        # puts default handlers back) into a death by signal instead of exit 130
        for signum in (signal.SIGINT, *OTHER_STOP_SIGNALS):
            signal.signal(signum, signal.SIG_IGN)
    return run_exit_code(summary)
