"""Arguments and printing shared by several commands."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path

from seedance_batch._errors import Diagnostic


def add_manifest(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("manifest", type=Path, metavar="MANIFEST", help="the manifest (YAML)")


def add_lockfile(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--lockfile",
        type=Path,
        metavar="P",
        help="the lockfile (default: <manifest stem>.lock.json beside the manifest)",
    )


def add_format(parser: argparse.ArgumentParser, *choices: str) -> None:
    parser.add_argument(
        "--format",
        choices=choices,
        default=choices[0],
        help=f"output format (default {choices[0]})",
    )


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or more, got {value}")
    return value


def positive_int(text: str) -> int:
    value = non_negative_int(text)
    if value == 0:
        raise argparse.ArgumentTypeError("expected 1 or more, got 0")
    return value


def add_selection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="JOB",
        help="only jobs whose name (shell pattern) or id prefix matches; repeatable",
    )
    parser.add_argument(
        "--limit",
        type=positive_int,
        metavar="N",
        help="only the first N jobs in plan order that still need work",
    )
    parser.add_argument(
        "--max-credits", type=non_negative_int, metavar="N", help="override the manifest's budget"
    )


def print_diagnostics(diagnostics: Iterable[Diagnostic]) -> None:
    for diagnostic in diagnostics:
        print(diagnostic, file=sys.stderr)
