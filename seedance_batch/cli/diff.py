"""``seedance-batch diff OLD NEW``: the jobs and credits a manifest change adds and removes."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from seedance_batch._manifest import load_manifest
from seedance_batch._planner import Plan, plan
from seedance_batch.cli._common import REPORT_FORMATS, add_format, non_negative_int
from seedance_batch.cli._errors import EXIT_OK, EXIT_REFUSED


def add_parser(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "diff",
        help="jobs and credits a manifest change adds and removes",
        description="Compare two versions of a manifest by job id: what a change would cost.",
    )
    parser.add_argument(
        "old",
        metavar="OLD",
        help="the manifest before the change: a file, or a git revision and a path in it "
        "(HEAD~1:manifests/x.yaml, read from NEW's repository; the path from its root)",
    )
    parser.add_argument("new", type=Path, metavar="NEW", help="the manifest after the change")
    add_format(parser, *REPORT_FORMATS)
    parser.add_argument(
        "--max-credits",
        type=non_negative_int,
        metavar="N",
        help="the campaign's budget (default: the new manifest's); exit 3 when what was spent "
        "plus what the change adds passes it",
    )


def _old_plan(old: str, new: Path) -> Plan:
    from seedance_batch._revision import is_revision, manifest_at_revision

    if not is_revision(old):
        return plan(load_manifest(old))
    with manifest_at_revision(old, new.resolve().parent) as manifest:
        return plan(manifest)


def run(args: argparse.Namespace) -> int:
    # here, not at the top: `validate` builds every command's parser and must stay light
    from seedance_batch._diff import diff_plans
    from seedance_batch.lockfile import default_lockfile_path, read_lockfile
    from seedance_batch.reports import diff_json, diff_markdown, diff_text

    new = load_manifest(args.new)
    old = _old_plan(args.old, args.new)
    lockfile = read_lockfile(default_lockfile_path(new.path), new.name)
    change = diff_plans(old, plan(new, lockfile), args.max_credits)
    render = {"json": diff_json, "markdown": diff_markdown}.get(args.format, diff_text)
    sys.stdout.write(render(change))
    return EXIT_OK if change.within_budget else EXIT_REFUSED
