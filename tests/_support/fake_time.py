"""A run's fake time that moves only when the run waits on nothing but its own fake sleeps.

The run is given ``FakeTime.monotonic``, ``.wall`` and ``.sleep`` (``RunOptions(clock=,
wall_clock=, sleep=)``), and the simulator ``serve(config, clock=fake.monotonic)``. A sleep parks
its task until the clock reaches its wake. The clock jumps to the earliest wake only when every
other task of the loop is parked in a fake sleep, waits on another task (awaits or gathers it,
or waits for a lock or a semaphore), or is done; never while a task is runnable or awaits
anything else (an HTTP answer, a thread, an event), so a request in flight sees the clock where
it left, however long it takes in real time, and the same requests get the same fake times on
every run. Trio's ``MockClock(autojump_threshold=0)`` and looptime jump as soon as nothing is
ready, I/O in flight included: with a server in a thread that reads the same clock, how far
time moves during a round trip would then depend on real time.

A safety valve: when the run has stayed busy for ``stall`` real seconds (``STALL`` unless
given) with sleepers parked (a request that hangs on purpose, or a wait this rule does not
know), the clock jumps anyway, and ``forced`` counts it.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import os
import time
from types import CodeType
from typing import Any, Final

from seedance_batch import RunOptions

__all__ = ["EPOCH", "STALL", "FakeTime"]

#: The fake wall clock starts at a whole second, so that timestamps lose nothing.
EPOCH: Final = 1_800_000_000.0
#: Real seconds the run may stay busy, with sleepers parked, before the clock jumps anyway.
STALL: Final = 5.0
#: Real seconds the driver waits before it looks again while a task is busy.
_LOOK_AGAIN: Final = 0.0005
#: asyncio's waits that only another task of the loop ends: a lock's or a semaphore's acquire
#: (a release), ``wait_for``'s (its inner task, itself looked at). Not ``Event.wait``: I/O
#: callbacks set events (anyio's sockets do), nor ``asyncio.sleep``: real time ends it.
_WAITS_ON_TASKS: Final = frozenset({("locks.py", "acquire"), ("tasks.py", "wait_for")})


class FakeTime:
    """A monotonic and a wall clock that move only when the run sleeps and nothing else is in
    flight: a sleep returns with the clock at its wake, never later, never back. Sleeps that
    overlap move it to the latest of their ends, not their sum; ``sleeps`` lists each asked."""

    def __init__(self, wall: float = EPOCH, *, stall: float = STALL) -> None:
        self.now = 0.0
        self.wall_start = wall
        self.sleeps: list[float] = []
        self.stall = stall
        self.forced = 0
        """Times the clock jumped after ``stall`` real seconds with the run still busy."""
        self._parked: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._driver: asyncio.Task[None] | None = None

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return self.wall_start + self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if seconds <= 0:
            await asyncio.sleep(0)  # the loop still turns
            return
        loop = asyncio.get_running_loop()
        wake: asyncio.Future[None] = loop.create_future()
        heapq.heappush(self._parked, (self.now + seconds, next(self._order), wake))
        if self._driver is None or self._driver.done() or self._driver.get_loop() is not loop:
            self._driver = loop.create_task(self._drive(), name="fake-time")
        await wake

    def options(self, base_url: str, **more: Any) -> RunOptions:
        return RunOptions(
            base_url=base_url,
            clock=self.monotonic,
            wall_clock=self.wall,
            sleep=self.sleep,
            seed=7,
            **more,
        )

    async def _drive(self) -> None:
        """Wake the earliest sleepers each time the loop is idle, until none is parked."""
        busy_since = time.monotonic()
        while self._parked:
            await asyncio.sleep(0)
            if self._idle():
                self._wake_earliest()
                busy_since = time.monotonic()
            elif time.monotonic() - busy_since > self.stall:
                self.forced += 1
                self._wake_earliest()
                busy_since = time.monotonic()
            else:
                await asyncio.sleep(_LOOK_AGAIN)  # real time: an answer is on its way

    def _wake_earliest(self) -> None:
        """Move the clock to the earliest wake and release every sleeper due then, in order."""
        while self._parked and self._parked[0][2].cancelled():
            heapq.heappop(self._parked)
        if not self._parked:
            return
        due = self._parked[0][0]
        self.now = max(self.now, due)
        while self._parked and self._parked[0][0] <= due:
            _, _, wake = heapq.heappop(self._parked)
            if not wake.done():
                wake.set_result(None)

    def _idle(self) -> bool:
        """Every task of the loop but the driver is done, parked here, or waits on a task."""
        sleeping = {id(wake) for _, _, wake in self._parked if not wake.done()}
        me = asyncio.current_task()
        for task in asyncio.all_tasks():
            if task is me:
                continue
            waiting = getattr(task, "_fut_waiter", None)  # asyncio's: what the task awaits
            if waiting is None or waiting.done():
                return False  # runnable
            if id(waiting) in sleeping or isinstance(waiting, asyncio.Task):
                continue
            if isinstance(waiting, asyncio.Future) and _gathering(waiting):
                continue
            if not _waits_on_tasks(_innermost(task)):
                return False  # an answer, a thread, a connection: real time
        return True


def _gathering(future: asyncio.Future[Any]) -> bool:
    """``asyncio.gather``'s future: it ends when the tasks it gathers do."""
    return type(future).__name__ == "_GatheringFuture"


def _waits_on_tasks(code: CodeType | None) -> bool:
    """``code`` is one of asyncio's waits that only another task of the loop ends."""
    if code is None:
        return False
    folder, _, name = code.co_filename.rpartition(os.sep)
    return folder.endswith("asyncio") and (name, code.co_name) in _WAITS_ON_TASKS


def _innermost(task: asyncio.Task[Any]) -> CodeType | None:
    """The code of the innermost coroutine ``task`` is suspended in."""
    coro: Any = task.get_coro()
    code = None
    while coro is not None and hasattr(coro, "cr_code"):
        code = coro.cr_code
        coro = coro.cr_await
    return code
