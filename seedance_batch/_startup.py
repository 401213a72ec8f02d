"""Ctrl-C while the command line starts up (imports included) exits 130 quietly, no traceback.

Imported first by the package, it acts only when the process is the command line
(``python -m seedance_batch`` or the ``seedance-batch`` script), never in a program that imports
the library; :func:`seedance_batch.cli.main` puts Python's own handler back once it runs.
"""

from __future__ import annotations

import os
import signal
import sys
from types import FrameType  # loaded already: runpy and the console script import it

__all__ = ["EXIT_INTERRUPTED", "is_command_line", "startup_handler"]

#: The contract's exit code for an interrupted command: defined here, the first module the
#: command line runs, and taken from here by the CLI's table of codes (``cli._errors``).
EXIT_INTERRUPTED = 130


def is_command_line() -> bool:
    """True in ``python -m seedance_batch`` (argv[0] is ``-m`` while it starts, then the path
    of its ``__main__.py``) or the script."""
    first = sys.argv[0] if sys.argv else ""
    if first == "-m" or first.endswith(os.path.join("seedance_batch", "__main__.py")):
        return True
    return os.path.basename(first) in ("seedance-batch", "seedance-batch.exe")


def startup_handler(signum: int, frame: FrameType | None) -> None:
    """Nothing has been read or written yet: say so in one line and leave, 130."""
    try:  # noqa: SIM105  (contextlib is not loaded yet; this runs before anything)
        os.write(2, b"seedance-batch: interrupted\n")
    except OSError:
        pass
    os._exit(EXIT_INTERRUPTED)


if is_command_line() and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
    signal.signal(signal.SIGINT, startup_handler)
