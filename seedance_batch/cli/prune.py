"""``seedance-batch prune MANIFEST``: remove orphaned lockfile entries and their image folders."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from seedance_batch._labels import variant_text
from seedance_batch._manifest import load_manifest
from seedance_batch.cli._common import manifest_command
from seedance_batch.cli._errors import EXIT_OK


def add_parser(subparsers: Any) -> None:
    what = (
        "remove jobs the manifest no longer plans, with their images",
        "Remove the lockfile entries and image files of orphaned jobs; nothing else.",
    )
    parser = manifest_command(subparsers, "prune", what)
    parser.add_argument(
        "--out", type=Path, metavar="DIR", help="output folder (default: manifest's)"
    )
    parser.add_argument("--dry-run", action="store_true", help="say what would go; change nothing")


def run(args: argparse.Namespace) -> int:
    # here, not at the top: `validate` builds every command's parser and must stay light
    from seedance_batch._prune import prune

    result = prune(
        load_manifest(args.manifest), lockfile=args.lockfile, out=args.out, dry_run=args.dry_run
    )
    verb = "would remove" if result.dry_run else "removed"
    for record in result.orphans:
        print(f"{verb} {record.id} {record.job} [{variant_text(record.variant)}] ({record.state})")
    for file in result.files:
        print(f"{verb} {file}")
    print(f"{verb} {len(result.orphans)} orphaned jobs and {len(result.files)} files")
    return EXIT_OK
