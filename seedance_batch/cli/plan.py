"""``seedance-batch plan MANIFEST``: the dry-run report; exit 3 over budget."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from seedance_batch._manifest import load_manifest
from seedance_batch._planner import new_shard_plan, plan
from seedance_batch.cli._common import (
    REPORT_FORMATS,
    add_selection,
    manifest_command,
    print_diagnostics,
)
from seedance_batch.cli._errors import EXIT_OK, EXIT_REFUSED


def add_parser(subparsers: Any) -> None:
    what = (
        "the dry-run report: jobs, credits, budget",
        "Expand a manifest into jobs and credits; nothing is sent.",
    )
    parser = manifest_command(subparsers, "plan", what, REPORT_FORMATS)
    add_selection(parser)
    parser.add_argument("--retry-failed", action="store_true", help="count failed jobs as to do")
    parser.add_argument(
        "--reroll-rejected",
        action="store_true",
        help="count new takes of jobs whose images are all rejected in the budget",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="list every job")


def run(args: argparse.Namespace) -> int:
    # here, not at the top: `validate` builds every command's parser and must stay light
    from seedance_batch._rerolls import rerolls_for_plan
    from seedance_batch.lockfile import default_lockfile_path, read_lockfile_states
    from seedance_batch.reports import plan_markdown, plan_text, write_plan_json

    manifest = load_manifest(args.manifest)
    path = args.lockfile or default_lockfile_path(manifest.path, args.shard)
    lockfile = read_lockfile_states(
        path, manifest.name, background=True
    )  # parsed while the plan expands
    if args.shard is not None and lockfile is None and args.lockfile is None:
        # no shard lockfile yet: the run will start it from the campaign's, so price that
        lockfile = read_lockfile_states(default_lockfile_path(manifest.path), manifest.name)
        full = (
            plan(manifest) if lockfile is None else new_shard_plan(manifest, args.shard, lockfile)
        )
    else:
        full = plan(manifest, lockfile)
    if lockfile is not None:
        full = full.with_rerolls(rerolls_for_plan(manifest, full.jobs, path))
    result = full.select(
        args.only,
        args.limit,
        retry_failed=args.retry_failed,
        reroll_rejected=args.reroll_rejected,
        shard=args.shard,
    )
    budget = result.budget_for(
        retry_failed=args.retry_failed,
        reroll_rejected=args.reroll_rejected,
        max_credits=args.max_credits,
    )
    print_diagnostics(sorted((*manifest.warnings, *result.warnings)))
    with_state = lockfile is not None
    if args.format == "json":
        write_plan_json(result, sys.stdout, budget=budget)
    elif args.format == "markdown":
        sys.stdout.write(plan_markdown(result, with_state=with_state, budget=budget))
    else:
        sys.stdout.write(
            plan_text(result, verbose=args.verbose, with_state=with_state, budget=budget)
        )
    return EXIT_OK if budget.within else EXIT_REFUSED
