"""Keeping Python's cycle collector off the objects that cannot be garbage (a plan, a lockfile)."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

__all__ = ["RUN_THRESHOLD", "freeze_for_exit", "no_cycle_collection", "run_collection"]

#: Allocations between two collections of the youngest generation while a run goes (700 by
#: default): a run makes and drops short-lived objects by the thousand a second, and most are
#: freed by their reference counts before a collection would look at them.
RUN_THRESHOLD = 10_000


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


@contextlib.contextmanager
def run_collection() -> Iterator[None]:
    """For the block (a run): every object made so far (modules, the plan, the lockfile) is
    frozen out of the collector's sight, and the youngest generation is collected every
    :data:`RUN_THRESHOLD` allocations; both are undone after (objects a caller had frozen
    before stay frozen)."""
    thresholds = gc.get_threshold()
    frozen_before = gc.get_freeze_count()
    gc.freeze()
    gc.set_threshold(RUN_THRESHOLD, *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        if not frozen_before:
            gc.unfreeze()


def freeze_for_exit() -> None:
    """The process ends next (the command line's work is done): move every object still alive
    out of the collector's sight, so that the interpreter's exit does not trace them all, every
    module's, once more (a fifth of ``validate``'s time). The exit still runs atexit handlers,
    joins threads and flushes files; only cycles left now go uncollected, as the operating
    system takes the memory back."""
    gc.freeze()
