"""Arguments and printing shared by several commands; printing never changes what they do."""

from __future__ import annotations

import argparse
import contextlib
import errno
import io
import math
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO, cast

from seedance_batch._errors import ConfigurationError, Diagnostic, OutputError

#: The formats of a report: text for people, JSON for programs, Markdown for pull requests.
REPORT_FORMATS = ("text", "json", "markdown")


def manifest_command(
    subparsers: Any, name: str, what: tuple[str, str], formats: tuple[str, ...] = ()
) -> argparse.ArgumentParser:
    """The parser of a command that reads a manifest and its lockfile (MANIFEST, --lockfile,
    and ``--format`` when it has ``formats``); ``what`` is its help and its description."""
    help_text, description = what
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name, help=help_text, description=description
    )
    add_manifest(parser)
    add_lockfile(parser)
    if formats:
        add_format(parser, *formats)
    return parser


def add_manifest(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("manifest", type=Path, metavar="MANIFEST", help="the manifest (YAML)")


def add_lockfile(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--lockfile",
        type=Path,
        metavar="P",
        help="the lockfile (default: <manifest stem>.lock.json beside the manifest)",
    )


def add_out(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="the output folder (default: the one the lockfile records, else the manifest's "
        "output.dir, else outputs/<name>)",
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


def number(
    *, above: float | None = None, at_least: float | None = None, at_most: float | None = None
) -> Callable[[str], float]:
    """An argparse type: a finite number (fractions allowed) above ``above``, or from
    ``at_least``, and at most ``at_most``."""
    low = f"above {above:g}" if above is not None else f"of {at_least:g} or more"
    bounds = f"from {at_least:g} to {at_most:g}" if at_most is not None else low

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        within = (
            math.isfinite(value)
            and (above is None or value > above)
            and (at_least is None or value >= at_least)
            and (at_most is None or value <= at_most)
        )
        if not within:
            raise argparse.ArgumentTypeError(f"expected a finite number {bounds}, got {text}")
        return value

    return parse


#: A finite number above 0, as the manifest's ``execution`` takes.
positive_number = number(above=0)


def shard_spec(text: str) -> tuple[int, int]:
    """``--shard K/N``: shard K (from 1) of N; a bad one is one line, exit 2 (a
    :class:`ConfigurationError`, which argparse lets through, not its usage text)."""
    from seedance_batch._shards import parse_shard  # here: the parsers stay light

    try:
        return parse_shard(text)
    except ValueError as exc:
        raise ConfigurationError(f"--shard: {exc}") from None


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
    parser.add_argument(
        "--shard",
        type=shard_spec,
        metavar="K/N",
        help="only shard K of N (by job id), with <stem>.shard-K-of-N.lock.json and a budget "
        "share of max_credits // N unless --lockfile or --max-credits is given",
    )


def print_diagnostics(diagnostics: Iterable[Diagnostic]) -> None:
    for diagnostic in diagnostics:
        say(str(diagnostic))


def say(text: str) -> None:
    """One line on stderr; nothing, and no error, once stderr is gone (closed, full, a broken
    pipe)."""
    if sys.stderr is None:  # closed when Python started, outside main()'s guard
        return
    with contextlib.suppress(OSError, ValueError):
        print(text, file=sys.stderr, flush=True)


class GuardedStream:
    """A standard stream that never raises into the program.

    On stderr every write error makes it quiet for good: the reader is gone or the disk is full,
    and a progress bar or a notice must never change a run. On stdout a broken pipe does the same
    (``plan --format json | head -1``: the reader has what it wanted); any other error (a full
    disk under ``> report.json``) is an :class:`OutputError`, so a report is never cut silently.
    Once quiet, the descriptor is pointed at ``/dev/null`` too, so that the interpreter's last
    flush at exit finds nothing to complain about.
    """

    def __init__(self, stream: TextIO | None, *, name: str, strict: bool) -> None:
        self._stream = stream
        self._name = name
        self._strict = strict
        self.quiet = stream is None

    def write(self, text: str) -> int:
        if not self.quiet:
            assert self._stream is not None
            with self._guard():
                self._stream.write(text)
        return len(text)

    def flush(self) -> None:
        if not self.quiet:
            assert self._stream is not None
            with self._guard():
                self._stream.flush()

    def isatty(self) -> bool:
        with contextlib.suppress(OSError, ValueError):
            return not self.quiet and self._stream is not None and self._stream.isatty()
        return False

    def fileno(self) -> int:
        if self._stream is None:
            raise io.UnsupportedOperation("no descriptor")
        return self._stream.fileno()

    def writable(self) -> bool:
        return True

    def __getattr__(self, name: str) -> object:  # errors, buffer, ...: the stream's own
        return getattr(self._stream, name)

    @property
    def encoding(self) -> str:
        return getattr(self._stream, "encoding", None) or "utf-8"

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            yield
        except (OSError, ValueError) as exc:
            broken = isinstance(exc, BrokenPipeError) or getattr(exc, "errno", None) == errno.EPIPE
            if self._strict and not broken:
                self._silence()
                raise OutputError.from_os_error(
                    self._name,
                    exc if isinstance(exc, OSError) else OSError(str(exc)),
                    "cannot write",
                ) from exc
            self._silence()

    def _silence(self) -> None:
        """Write nothing more, and let the descriptor swallow what is still buffered."""
        self.quiet = True
        with contextlib.suppress(OSError, ValueError, AttributeError, io.UnsupportedOperation):
            assert self._stream is not None
            fd = self._stream.fileno()
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, fd)
            os.close(null)


def _open_standard_descriptors() -> None:
    """Point a closed stdin, stdout or stderr at ``/dev/null``, so that no file the run opens
    (a lockfile, an image) takes descriptor 2 and receives what is meant for stderr."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)


@contextlib.contextmanager
def guarded_streams() -> Iterator[None]:
    """stdout and stderr as :class:`GuardedStream` for the duration; restored afterwards."""
    _open_standard_descriptors()
    saved = sys.stdout, sys.stderr
    out = GuardedStream(sys.stdout, name="<stdout>", strict=True)
    err = GuardedStream(sys.stderr, name="<stderr>", strict=False)
    sys.stdout, sys.stderr = cast(TextIO, out), cast(TextIO, err)
    try:
        yield
    finally:
        with contextlib.suppress(OutputError):
            out.flush()
        err.flush()
        sys.stdout, sys.stderr = saved
