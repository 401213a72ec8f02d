"""``seedance-batch run MANIFEST``: submit, poll, download; resumable; a summary at the end."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

from seedance_batch import _executor
from seedance_batch._executor import RunOptions, RunSummary
from seedance_batch._manifest import load_manifest
from seedance_batch.cli._common import (
    add_lockfile,
    add_manifest,
    add_selection,
    positive_int,
    print_diagnostics,
)
from seedance_batch.cli._progress import Progress


def add_parser(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "run",
        help="submit, poll and download; resumes what a run left",
        description="Run a manifest against the API. The key comes from SEEDANCE_API_KEY.",
    )
    add_manifest(parser)
    add_lockfile(parser)
    parser.add_argument(
        "--out", type=Path, metavar="DIR", help="output folder (default: manifest's)"
    )
    parser.add_argument("--base-url", metavar="URL", help="API base URL (or SEEDANCE_BASE_URL)")
    parser.add_argument("--concurrency", type=positive_int, metavar="N", help="tasks in flight")
    add_selection(parser)
    parser.add_argument(
        "--retry-failed", action="store_true", help="submit failed jobs again (may cost credits)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run_command(args: argparse.Namespace) -> RunSummary:
    manifest = load_manifest(args.manifest)
    print_diagnostics(manifest.warnings)
    options = RunOptions(
        base_url=args.base_url,
        out=args.out,
        lockfile=args.lockfile,
        concurrency=args.concurrency,
        max_credits=args.max_credits,
        retry_failed=args.retry_failed,
        only=tuple(args.only),
        limit=args.limit,
        handle_signals=True,
    )
    show = not args.no_progress and sys.stderr.isatty()
    with Progress(enabled=show) as progress:
        return _executor.run(manifest, options, on_event=progress.on_event)


def _resume_command(args: argparse.Namespace) -> str:
    words = ["seedance-batch", "run", str(args.manifest)]
    for flag in ("lockfile", "out", "base_url"):
        value = getattr(args, flag)
        if value is not None:
            words += [f"--{flag.replace('_', '-')}", str(value)]
    return shlex.join(words)


def print_summary(summary: RunSummary, args: argparse.Namespace) -> None:
    states = ", ".join(f"{k} {v}" for k, v in sorted(summary.by_state.items())) or "nothing"
    if summary.exit_code == 0 and not summary.credits_charged and not summary.images_saved:
        jobs = sum(summary.by_state.values())
        print(f"nothing to do: all {jobs} selected jobs have succeeded", file=sys.stderr)
    lines = [
        f"jobs: {states}",
        f"this run: {summary.succeeded} succeeded, {summary.failed} failed, "
        f"{summary.timed_out} timed out, {summary.unfinished} left for the next run",
        f"images: {summary.images_saved} saved ({summary.images_delivered} delivered of "
        f"{summary.images_asked} asked)",
        f"credits: {summary.credits_charged} charged in this run, "
        f"{summary.credits_charged_total} in total",
        f"possible double charges: {summary.possible_double_charges}",
        f"elapsed: {summary.elapsed:.1f} s",
        f"gallery: {summary.gallery}",
    ]
    for message in summary.messages[:20]:
        lines.append(f"  {message}")
    if len(summary.messages) > 20:
        lines.append(f"  ... and {len(summary.messages) - 20} more (see `seedance-batch status`)")
    if summary.stopped == "interrupted":
        lines.append(f"interrupted; the lockfile is saved. Resume with: {_resume_command(args)}")
    elif summary.exit_code == 1:
        lines.append(f"not finished; a rerun resumes: {_resume_command(args)}")
    print("\n".join(lines), file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    summary = run_command(args)
    print_summary(summary, args)
    return summary.exit_code
