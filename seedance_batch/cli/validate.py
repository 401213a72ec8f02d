"""``seedance-batch validate MANIFEST...``: check manifests, print one line each."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from seedance_batch._errors import ManifestError
from seedance_batch._manifest import load_manifest
from seedance_batch._planner import plan
from seedance_batch.cli._common import print_diagnostics
from seedance_batch.cli._errors import EXIT_BAD_INPUT, EXIT_OK


def add_parser(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "validate", help="check manifests", description="Check each manifest; one line each."
    )
    parser.add_argument("manifests", nargs="+", type=Path, metavar="MANIFEST")


def run(args: argparse.Namespace) -> int:
    code = EXIT_OK
    for path in args.manifests:
        try:
            manifest = load_manifest(path)
            result = plan(manifest)
        except ManifestError as exc:
            print_diagnostics(exc.diagnostics)
            code = EXIT_BAD_INPUT
            continue
        print_diagnostics(sorted((*manifest.warnings, *result.warnings)))
        totals = result.totals
        print(
            f"ok {manifest.name}: {totals.jobs} jobs, {totals.images} images, "
            f"{totals.credits} credits",
            file=sys.stdout,
        )
    return code
