"""The exit codes, and the one place that turns errors and runs into them (contract, section 4).

Expected errors are one line and their code; Ctrl-C is 130; anything else is a bug: one line
saying so and naming the file in the system's temporary folder that holds its traceback (with
the API key redacted), exit 70. A run's summary has its code too (:func:`run_exit_code`).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from seedance_batch._errors import (
    AuthenticationError,
    BudgetExceededError,
    ConfigurationError,
    CreditsExhaustedError,
    DeliveryRefusedError,
    LockfileError,
    LockHeldError,
    ManifestError,
    OutputError,
    SeedanceBatchError,
)
from seedance_batch._startup import EXIT_INTERRUPTED
from seedance_batch.cli._common import say

if TYPE_CHECKING:
    from seedance_batch._run_values import RunSummary

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_REFUSED = 3
EXIT_LOCKED = 4
EXIT_BUG = 70
__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_BUG",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",  # 130, defined by _startup: Ctrl-C while the command line starts
    "EXIT_LOCKED",
    "EXIT_OK",
    "EXIT_REFUSED",
    "Outcome",
    "exit_code_for",
    "handle_errors",
    "report_bug",
    "run_exit_code",
    "write_crash_report",
]
#: How a run stopped early, by exit code: refused (3), or could not go on (1).
_REFUSED_STOPS = ("credits", "auth", "budget")
_FAILED_STOPS = ("unreachable", "journal", "output")

_LONGEST_SUMMARY = 200


def exit_code_for(exc: SeedanceBatchError) -> int:
    """The exit code of the contract's table (section 4) for an error."""
    if isinstance(exc, LockHeldError):
        return EXIT_LOCKED
    if isinstance(exc, OutputError):  # before LockfileError: a lockfile write failure is no
        return EXIT_FAILED  # bad input, and creates may have been sent
    if isinstance(exc, (ManifestError, ConfigurationError, LockfileError)):
        return EXIT_BAD_INPUT
    if isinstance(
        exc,
        (BudgetExceededError, AuthenticationError, CreditsExhaustedError, DeliveryRefusedError),
    ):
        return EXIT_REFUSED
    return EXIT_FAILED


def run_exit_code(summary: RunSummary) -> int:
    """A run's exit code: 0 every selected job succeeded; 1 some failed or wait, the API
    cannot be reached or a file cannot be written; 3 refused (key, credits, or the budget
    reached by retries); 130 interrupted."""
    if summary.stopped == "interrupted":
        return EXIT_INTERRUPTED
    if summary.stopped in _REFUSED_STOPS:
        return EXIT_REFUSED
    if summary.stopped in _FAILED_STOPS:
        return EXIT_FAILED
    if set(summary.by_state) - {"succeeded"}:
        return EXIT_FAILED
    return EXIT_OK


@dataclass
class Outcome:
    """The exit code a command ends with (set by :func:`handle_errors` on an error)."""

    code: int = EXIT_OK


@contextmanager
def handle_errors() -> Iterator[Outcome]:
    """Run a command; expected errors become lines on stderr, Ctrl-C 130, a bug 70."""
    outcome = Outcome()
    try:
        yield outcome
    except ManifestError as exc:
        for diagnostic in exc.diagnostics:
            say(str(diagnostic))
        outcome.code = EXIT_BAD_INPUT
    except SeedanceBatchError as exc:
        say(f"seedance-batch: error: {exc}")
        outcome.code = exit_code_for(exc)
    except KeyboardInterrupt:
        say("seedance-batch: interrupted")
        outcome.code = EXIT_INTERRUPTED
    except Exception as exc:
        if _caused_by_ctrl_c(exc):  # a Ctrl-C Python wrapped (during a class's __set_name__)
            say("seedance-batch: interrupted")
            outcome.code = EXIT_INTERRUPTED
            return
        report_bug(exc)
        outcome.code = EXIT_BUG


def _caused_by_ctrl_c(exc: BaseException) -> bool:
    """``exc`` was raised from a KeyboardInterrupt (``raise ... from``, as Python 3.11 wraps
    one that lands while a class is being made in a RuntimeError), however deep."""
    seen: set[int] = set()
    cause = exc.__cause__
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, KeyboardInterrupt):
            return True
        seen.add(id(cause))
        cause = cause.__cause__
    return False


def _one_line(text: str) -> str:
    return " ".join(text.split())


def report_bug(exc: BaseException) -> Path | None:
    """Write ``exc``'s traceback (redacted) to a new file in the temporary folder and say, in
    one line, that this is a bug and where the file is. Returns the file, None if unwritable."""
    import shlex  # only when there is a bug: every command's start-up is spared these
    import tempfile
    import traceback

    from seedance_batch._key import key_values
    from seedance_batch._redact import redact

    keys = key_values()
    summary = redact(_one_line(f"{type(exc).__name__}: {exc}"), keys)[:_LONGEST_SUMMARY]
    report = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    header = f"seedance-batch crashed\ncommand: {shlex.join(sys.argv)}\n\n"
    try:
        path = write_crash_report(redact(header + report, keys))
    except OSError as error:
        say(
            f"seedance-batch: internal error (a bug): {summary}; the traceback could not be "
            f"written to {tempfile.gettempdir()}: {error.strerror or error}"
        )
        return None
    say(f"seedance-batch: internal error (a bug): {summary}; the traceback is in {path}")
    return path


def write_crash_report(text: str) -> Path:
    """A new file ``seedance-batch-crash-<timestamp>-<pid>.txt`` in the temporary folder,
    created exclusively (never through a planted link), readable by its owner only."""
    import secrets  # only when there is a bug (it brings hmac and hashlib)
    import tempfile

    from seedance_batch._files import EXCLUSIVE_FLAGS

    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    folder = Path(tempfile.gettempdir())
    name = f"seedance-batch-crash-{stamp}-{os.getpid()}"
    for suffix in ("", *(f"-{secrets.token_hex(4)}" for _ in range(20))):
        path = folder / f"{name}{suffix}.txt"
        try:
            fd = os.open(path, EXCLUSIVE_FLAGS, 0o600)
        except FileExistsError:
            continue
        with os.fdopen(fd, "w", encoding="utf-8", errors="replace") as handle:
            handle.write(text)
        return path
    raise FileExistsError(f"no free crash report name in {folder}")
