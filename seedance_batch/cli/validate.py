"""``seedance-batch validate MANIFEST... [--strict]``: check manifests, print one line each."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from seedance_batch._errors import Diagnostic, ManifestError
from seedance_batch._manifest import Manifest, read_manifest
from seedance_batch._planner import Plan, plan
from seedance_batch.cli._common import print_diagnostics, say
from seedance_batch.cli._errors import EXIT_BAD_INPUT, EXIT_OK, EXIT_REFUSED


def add_parser(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "validate",
        help="check manifests",
        description="Check each manifest, with every problem of its files in one pass; "
        "one line each.",
    )
    parser.add_argument("manifests", nargs="+", type=Path, metavar="MANIFEST")
    parser.add_argument(
        "--strict",
        action="store_true",
        help="warnings are errors, and the campaign's budget is checked (exit 3 when over), "
        "for pre-commit and CI",
    )


def run(args: argparse.Namespace) -> int:
    codes = [_validate(path, strict=args.strict) for path in args.manifests]
    return max(codes, default=EXIT_OK) if EXIT_BAD_INPUT not in codes else EXIT_BAD_INPUT


def _validate(path: Path, *, strict: bool) -> int:
    manifest, diagnostics = read_manifest(path)
    result: Plan | None = None
    if manifest is not None:
        try:
            result = plan(manifest)
        except ManifestError as exc:
            diagnostics = [*diagnostics, *exc.diagnostics]
        else:
            diagnostics = [*diagnostics, *result.warnings, *_name_problems(manifest, result)]
    if strict:
        diagnostics = [_as_error(d) for d in diagnostics]
    print_diagnostics(sorted(set(diagnostics)))
    if manifest is None or result is None or any(d.severity == "error" for d in diagnostics):
        return EXIT_BAD_INPUT
    if strict and not _within_budget(manifest, result):
        return EXIT_REFUSED
    totals = result.totals
    print(
        f"ok {manifest.name}: {totals.jobs} jobs, {totals.images} images, {totals.credits} credits",
        file=sys.stdout,
    )
    return EXIT_OK


def _name_problems(manifest: Manifest, result: Plan) -> list[Diagnostic]:
    """Names two images would share, for a manifest that writes its own ``delivery.name``
    (only then is the namer imported: a manifest without one is spared it)."""
    if not manifest.delivery.written:
        return []
    from seedance_batch.delivery._names import name_problems

    return name_problems(manifest, result.jobs)


def _as_error(diagnostic: Diagnostic) -> Diagnostic:
    if diagnostic.severity == "error":
        return diagnostic
    message = f"{diagnostic.message} (an error with --strict)"
    return Diagnostic(
        diagnostic.file, diagnostic.line, diagnostic.col, diagnostic.path, message, "error"
    )


def _within_budget(manifest: Manifest, result: Plan) -> bool:
    """The campaign's budget, as ``plan`` checks it: what the lockfile says was spent plus
    what the next run would spend, against ``budget.max_credits``."""
    if manifest.max_credits is None:
        return True
    # here, not at the top: a plain `validate` reads no lockfile and stays light
    from seedance_batch.lockfile import default_lockfile_path, read_lockfile_states

    lockfile = read_lockfile_states(default_lockfile_path(manifest.path), manifest.name)
    budget = plan(manifest, lockfile).budget
    if not budget.within:
        say(
            f"{manifest.file}: budget exceeded: {budget.spent} credits spent and "
            f"{budget.to_spend} to spend, max_credits is {budget.max_credits}"
        )
    return budget.within
