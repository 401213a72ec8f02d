"""``seedance-batch verify MANIFEST``: re-hash every image and every delivered file it can reach
against the lockfile and the destinations' ``delivery.json``."""

from __future__ import annotations

import argparse
from typing import Any

from seedance_batch._manifest import load_manifest
from seedance_batch.cli._common import manifest_command
from seedance_batch.cli._errors import EXIT_FAILED, EXIT_OK
from seedance_batch.cli.export import add_destination


def add_parser(subparsers: Any) -> None:
    what = (
        "re-hash every image and delivered file against the lockfile and delivery.json",
        "Check every image under <out> against the lockfile (every take) and every file "
        "delivered to the destinations export remembered (and those given with --to) against "
        "their delivery.json: one line per missing or changed file (exit 1), else ok.",
    )
    parser = manifest_command(subparsers, "verify", what)
    add_destination(parser, required=False)


def run(args: argparse.Namespace) -> int:
    # here, not at the top: `validate` builds every command's parser and must stay light
    from seedance_batch.delivery import verify

    report = verify(
        load_manifest(args.manifest),
        to=args.to,
        endpoint_url=args.endpoint_url,
        lockfile=args.lockfile,
    )
    for problem in report.problems:
        print(problem)
    if not report.ok:
        print(f"{len(report.problems)} problems", flush=True)
        return EXIT_FAILED
    print(
        f"ok: {report.images} images, {report.delivered} delivered files "
        f"in {len(report.destinations)} destinations"
    )
    return EXIT_OK
