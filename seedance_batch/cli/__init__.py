"""The command line: parses arguments, calls the library, prints. Nothing else lives here.

Each command is a module of this package with ``add_parser(subparsers)`` and ``run(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from seedance_batch import _startup
from seedance_batch._gc import freeze_for_exit
from seedance_batch.cli._common import guarded_streams, say
from seedance_batch.cli._errors import EXIT_INTERRUPTED, handle_errors

__all__ = ["main"]

COMMANDS = (
    "init",
    "schema",
    "validate",
    "plan",
    "run",
    "status",
    "simulate",
    "gallery",
    "diff",
    "merge",
    "prune",
    "review",
    "export",
    "verify",
)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser; when ``argv`` names a command, only that command's module is imported (a
    command's start-up never pays for the others: ``validate`` loads no simulator)."""
    parser = argparse.ArgumentParser(
        prog="seedance-batch",
        description="Turn YAML manifests into image campaigns on the Seedance 2.1 image API.",
    )
    parser.add_argument("--version", action=_Version, help="show program's version number and exit")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in _commands_to_build(argv):
        module = importlib.import_module(f"seedance_batch.cli.{name}")
        module.add_parser(subparsers)
    return parser


def _commands_to_build(argv: Sequence[str] | None) -> Sequence[str]:
    """The command ``argv`` names, alone; every command when it names none (help, a typo)."""
    words = sys.argv[1:] if argv is None else argv
    first = next((word for word in words if not word.startswith("-")), None)
    return (first,) if first in COMMANDS else COMMANDS


class _Version(argparse.Action):
    """``--version``: reads the package metadata only when asked (every other command starts
    without importing ``importlib.metadata``)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        kwargs.setdefault("nargs", 0)
        kwargs.setdefault("default", argparse.SUPPRESS)
        super().__init__(option_strings, dest, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        from seedance_batch import __version__

        sys.stdout.write(f"{parser.prog} {__version__}\n")  # as argparse's own "version"
        parser.exit()


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and dispatch to one command; return the exit code.

    Printing never changes the outcome (stdout and stderr are guarded), Ctrl-C anywhere is 130
    without a traceback, and an unexpected error is 70 with its traceback in a file.
    """
    with guarded_streams():
        try:
            _restore_interrupts()
            code = _dispatch(argv)
        except KeyboardInterrupt:
            say("seedance-batch: interrupted")
            return EXIT_INTERRUPTED
    if argv is None and _startup.is_command_line():
        freeze_for_exit()  # the process ends next; main(argv) from a program never does this
    return code


def _restore_interrupts() -> None:
    """From here on Ctrl-C raises KeyboardInterrupt again, for the commands to save and say."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGINT) is _startup.startup_handler:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _dispatch(argv: Sequence[str] | None) -> int:
    with handle_errors() as outcome:
        parser = build_parser(argv)
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # argparse exits 2 on bad flags, 0 on --help
            outcome.code = int(exc.code or 0)
            return outcome.code
        module = importlib.import_module(f"seedance_batch.cli.{args.command}")
        outcome.code = int(module.run(args))
    return outcome.code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
