"""``seedance-batch gallery MANIFEST``: rewrite ``<out>/index.html`` (and its further pages) from
the lockfile, the files and the review file."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from seedance_batch._manifest import load_manifest
from seedance_batch._planner import plan
from seedance_batch.cli._common import add_out, manifest_command, print_diagnostics
from seedance_batch.cli._errors import EXIT_OK


def add_parser(subparsers: Any) -> None:
    what = (
        "rewrite <out>/index.html, the campaign's contact sheet",
        "Rewrite <out>/index.html (and index-2.html ... past 500 images) from the lockfile, the "
        "image files and the review file: self-contained pages with every image of the "
        "campaign as its thumbnail (made in <out>/.thumbs/ when missing), grouped by job and "
        "variant, approved first and rejected dimmed. Nothing is sent.",
    )
    add_out(manifest_command(subparsers, "gallery", what))


def run(args: argparse.Namespace) -> int:
    # here, not at the top: `validate` builds every command's parser and must stay light
    from seedance_batch._gallery import write_gallery
    from seedance_batch._run_files import output_folder
    from seedance_batch.lockfile import default_lockfile_path, read_lockfile

    manifest = load_manifest(args.manifest)
    lockfile_path = args.lockfile or default_lockfile_path(manifest.path)
    lockfile = read_lockfile(lockfile_path)
    result = plan(manifest, lockfile)
    print_diagnostics(sorted((*manifest.warnings, *result.warnings)))
    if lockfile is None:
        print(f"warning: no lockfile at {lockfile_path}: no job has run yet", file=sys.stderr)
    records = lockfile.jobs if lockfile is not None else {}
    out = output_folder(manifest, lockfile_path, lockfile, args.out)
    path = write_gallery(out, manifest, result.jobs, records)  # OutputError: one line, exit 1
    print(path)
    return EXIT_OK
