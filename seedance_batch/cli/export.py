"""``seedance-batch export MANIFEST --to DEST``: deliver the approved images, named, sized and
labelled, and list them in ``DEST/delivery.json``."""

from __future__ import annotations

import argparse
from typing import Any

from seedance_batch._manifest import load_manifest
from seedance_batch.cli._common import manifest_command, print_diagnostics
from seedance_batch.cli._errors import EXIT_OK


def add_parser(subparsers: Any) -> None:
    what = (
        "deliver approved images to a folder or S3, named, sized and labelled",
        "Copy every approved image (every succeeded one with --all) to DEST, named by the "
        "manifest's delivery.name, in its delivery.profiles (each into DEST/<profile>/ when "
        "there are several; the original bytes when it has none), with provenance XMP in each "
        "file, and list them in DEST/delivery.json and delivery.csv. An unchanged export "
        "writes nothing; files the previous export listed and this one does not are removed.",
    )
    parser = manifest_command(subparsers, "export", what)
    add_destination(parser, required=True)
    parser.add_argument(
        "--profile",
        action="append",
        default=[],
        metavar="NAME",
        help="deliver this profile (repeatable; 'original' is the original bytes); "
        "default: every profile of the manifest",
    )
    parser.add_argument("--all", action="store_true", help="every succeeded image, approved or not")
    parser.add_argument("-v", "--verbose", action="store_true", help="say each file done")


def add_destination(parser: argparse.ArgumentParser, *, required: bool) -> None:
    """``--to`` and ``--endpoint-url`` (shared with ``verify``)."""
    parser.add_argument(
        "--to",
        required=required,
        action="store" if required else "append",
        default=None if required else [],
        metavar="DEST",
        help="a folder, or s3://bucket/prefix (the usual AWS environment)"
        + ("" if required else "; repeatable, added to those export remembered"),
    )
    parser.add_argument(
        "--endpoint-url",
        metavar="URL",
        help="an S3-compatible endpoint (MinIO, R2, ...) for s3:// destinations",
    )


def run(args: argparse.Namespace) -> int:
    # here, not at the top: `validate` builds every command's parser and must stay light
    from seedance_batch.delivery import Delivered, export

    manifest = load_manifest(args.manifest)
    print_diagnostics(manifest.warnings)

    def on_event(event: Delivered) -> None:
        if args.verbose and event.action != "kept":
            print(f"{event.action} {event.name}", flush=True)

    summary = export(
        manifest,
        args.to,
        profiles=args.profile,
        everything=args.all,
        endpoint_url=args.endpoint_url,
        lockfile=args.lockfile,
        on_event=on_event,
    )
    print(
        f"exported {summary.listed} files to {summary.dest} "
        f"({', '.join(summary.profiles)}): {summary.written} written, {summary.kept} unchanged, "
        f"{summary.removed} removed"
    )
    return EXIT_OK
