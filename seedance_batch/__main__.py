"""``python -m seedance_batch``: the same as the ``seedance-batch`` command."""

import contextlib
import os
import sys

from seedance_batch.cli import main

code = main()
if code == 130:  # interrupted: leave now, so that the interpreter's own exit (which may die
    for stream in (sys.stdout, sys.stderr):  # by SIGINT after a caught Ctrl-C) cannot change it
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)
sys.exit(code)
