"""``seedance-batch merge MANIFEST SHARD_LOCKFILE...``: fold shard lockfiles into the campaign's."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from seedance_batch._manifest import load_manifest
from seedance_batch.cli._common import manifest_command, print_diagnostics, say
from seedance_batch.cli._errors import EXIT_OK


def add_parser(subparsers: Any) -> None:
    what = (
        "fold shard lockfiles (run --shard K/N) and their images into the campaign's",
        "Fold shard lockfiles, their journals and their images into the campaign's lockfile "
        "and output folder: the most advanced state of each job wins, no task id is lost, "
        "spent adds up, and a job two lockfiles both submitted is reported. Merging a "
        "lockfile again adds nothing. Nothing is sent.",
    )
    parser = manifest_command(subparsers, "merge", what)
    parser.add_argument(
        "shards", nargs="+", type=Path, metavar="SHARD_LOCKFILE", help="the shards' lockfiles"
    )
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="the campaign's output folder (default: the one its lockfile records, else the "
        "manifest's)",
    )


def run(args: argparse.Namespace) -> int:
    # here, not at the top: `validate` builds every command's parser and must stay light
    from seedance_batch._merge import merge

    manifest = load_manifest(args.manifest)
    print_diagnostics(manifest.warnings)
    report = merge(manifest, args.shards, lockfile=args.lockfile, out=args.out)
    for shard in report.shards:
        say(
            f"{shard.path}: {shard.records} records taken, {shard.credits} credits added, "
            f"{shard.images_copied} images copied"
        )
    for overlap in report.overlaps:
        others = ", ".join(overlap.other_tasks)
        say(
            f"warning: job {overlap.job} {overlap.job_id} was submitted by more than one "
            f"lockfile (again in {overlap.shard}): kept task {overlap.task_id}, also charged "
            f"for {others}"
        )
    for image in report.missing_images:
        say(f"warning: image not found or not as recorded: {image}; a run downloads it again")
    states = ", ".join(f"{k} {v}" for k, v in sorted(report.by_state.items())) or "nothing"
    sys.stdout.write(
        f"merged {len(report.shards)} lockfiles into {report.lockfile}\n"
        f"jobs: {states}\n"
        f"spent: {report.spent} credits ({report.spent - report.spent_before} added by this "
        f"merge), {report.possible_double_charges} possible double charges\n"
        f"jobs submitted twice: {len(report.overlaps)}\n"
        f"images: {report.out}\n"
    )
    return EXIT_OK
