"""Pausing Python's cycle collector while many acyclic objects are made (a plan, a lockfile)."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

__all__ = ["no_cycle_collection"]


@contextlib.contextmanager
def no_cycle_collection() -> Iterator[None]:
    """Pause the cycle collector for the block: none of the objects a plan or a parsed lockfile
    is made of form cycles, and collecting over and over as they pile up costs a third of the
    time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
