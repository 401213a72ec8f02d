"""``seedance-batch status MANIFEST``: what the lockfile and the review say, job by job and in
totals; ``--require-approved`` is the ship gate (exit 1 until every variant has an approved
image)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from seedance_batch._manifest import load_manifest
from seedance_batch.cli._common import REPORT_FORMATS, manifest_command, shard_spec
from seedance_batch.cli._errors import EXIT_FAILED, EXIT_OK


def add_parser(subparsers: Any) -> None:
    what = (
        "what the lockfile says",
        "Show each job's state from the lockfile, orphans included, and the decisions of the "
        "review file (<manifest stem>.review.yaml); no network.",
    )
    parser = manifest_command(subparsers, "status", what, REPORT_FORMATS)
    parser.add_argument("-v", "--verbose", action="store_true", help="list every job")
    parser.add_argument(
        "--shard",
        type=shard_spec,
        metavar="K/N",
        help="only shard K of N, as `run --shard K/N` sees it: its jobs, from "
        "<stem>.shard-K-of-N.lock.json unless --lockfile is given, against its budget share",
    )
    parser.add_argument(
        "--require-approved",
        action="store_true",
        help="the ship gate: exit 1, listing what is missing, until every planned variant "
        "has at least one approved (or favourite) image",
    )


def run(args: argparse.Namespace) -> int:
    # here, not at the top: `validate` builds every command's parser and must stay light
    from seedance_batch._status import status
    from seedance_batch.reports import status_json, status_markdown, status_text

    report = status(load_manifest(args.manifest), args.lockfile, shard=args.shard)
    gate = args.require_approved
    if args.format == "json":
        sys.stdout.write(status_json(report))
    elif args.format == "markdown":
        sys.stdout.write(status_markdown(report, gate=gate))
    else:
        sys.stdout.write(status_text(report, verbose=args.verbose, gate=gate))
    return EXIT_FAILED if gate and not report.ready else EXIT_OK
