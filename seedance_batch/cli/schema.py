"""``seedance-batch schema [manifest|lockfile]``: print a JSON Schema, for editors and CI."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from seedance_batch._schemas import SCHEMA_NAMES, schema_text
from seedance_batch.cli._errors import EXIT_OK


def add_parser(subparsers: Any) -> None:
    description = (
        "Print a JSON Schema, with its $id: the manifest's (fragments too) or the lockfile's."
    )
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "schema", help="print a JSON Schema", description=description
    )
    parser.add_argument("name", nargs="?", choices=SCHEMA_NAMES, default="manifest")


def run(args: argparse.Namespace) -> int:
    text = schema_text(args.name)
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return EXIT_OK
