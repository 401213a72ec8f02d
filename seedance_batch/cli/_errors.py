"""One place that turns expected errors into one line on stderr and an exit code."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from seedance_batch._errors import (
    AuthenticationError,
    BudgetExceededError,
    ConfigurationError,
    CreditsExhaustedError,
    LockfileError,
    LockHeldError,
    ManifestError,
    OutputError,
    SeedanceBatchError,
)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_REFUSED = 3
EXIT_LOCKED = 4
EXIT_INTERRUPTED = 130


def exit_code_for(exc: SeedanceBatchError) -> int:
    """The exit code of the contract's table (section 4) for an error."""
    if isinstance(exc, LockHeldError):
        return EXIT_LOCKED
    if isinstance(exc, OutputError):  # before LockfileError: a lockfile write failure is no
        return EXIT_FAILED  # bad input, and creates may have been sent
    if isinstance(exc, (ManifestError, ConfigurationError, LockfileError)):
        return EXIT_BAD_INPUT
    if isinstance(exc, (BudgetExceededError, AuthenticationError, CreditsExhaustedError)):
        return EXIT_REFUSED
    return EXIT_FAILED


@dataclass
class Outcome:
    code: int = EXIT_OK


@contextmanager
def handle_errors() -> Iterator[Outcome]:
    """Run a command; expected errors become lines on stderr, Ctrl-C becomes 130."""
    outcome = Outcome()
    try:
        yield outcome
    except ManifestError as exc:
        for diagnostic in exc.diagnostics:
            print(diagnostic, file=sys.stderr)
        outcome.code = EXIT_BAD_INPUT
    except SeedanceBatchError as exc:
        print(f"seedance-batch: error: {exc}", file=sys.stderr)
        outcome.code = exit_code_for(exc)
    except KeyboardInterrupt:
        print("seedance-batch: interrupted", file=sys.stderr)
        outcome.code = EXIT_INTERRUPTED
    except BrokenPipeError:
        outcome.code = EXIT_OK
