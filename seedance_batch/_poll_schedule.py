"""When to poll a task: near the time tasks of its model and resolution were seen to take.

A poll costs a request against the key's rate (contract, section 7), so polls go where a task
is likely to have ended. :class:`TaskDurations` learns how long tasks take, per (model,
resolution), from those that ended in this run (between the last poll that saw the task
running and the one that saw it ended) and from the lockfile's ``submitted_at`` and
``finished_at`` of a resumed campaign. :meth:`TaskDurations.schedule` gives one task's
waits:

- nothing learned yet for its kind: the first poll ``poll_interval`` after the create, then
  waits growing by ``POLL_GROWTH`` up to ``poll_max`` (as before any learning);
- once learned: the first poll at the low quantile (``EARLY``) of the durations seen, then
  each poll ``NOTICE`` of the task's age after the one before, so that an end is seen within
  about that share of its duration; past the longest duration seen, waits grow again by
  ``POLL_GROWTH`` up to ``poll_max``, from the latest such step (never from the first wait,
  which would put a task a little slower than all seen a whole first wait late).

Waits are spread by up to ``POLL_JITTER`` beyond their schedule, never before it.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterator

__all__ = ["EARLY", "NOTICE", "POLL_GROWTH", "POLL_JITTER", "TaskDurations"]

#: Polls are spread by up to this fraction beyond their schedule, never before it.
POLL_JITTER = 0.05
#: Each wait between two polls is this much longer than the one before, up to ``poll_max``.
POLL_GROWTH = 1.5
#: The quantile of the durations seen at which a task's first poll comes.
EARLY = 0.2
#: Once learned, a poll comes this share of the task's age after the one before.
NOTICE = 0.12
#: Durations kept per kind of task (the latest).
KEPT = 64
#: What a task that no poll saw running counts as, a share of when it was seen ended.
CENSORED = 0.9
#: A duration is precise when the polls around the end are at most this share of it apart;
#: once a kind has ``ENOUGH`` precise ones, the coarse ones (the first wave's) are left out.
PRECISE = 0.3
ENOUGH = 4
#: The shortest wait between two polls, in seconds.
MIN_WAIT = 0.02

Kind = tuple[str, str]


class _Seen:
    """The durations of one kind of task: the latest ``KEPT``, precise and coarse apart."""

    __slots__ = ("coarse", "precise")

    def __init__(self) -> None:
        self.precise: deque[float] = deque(maxlen=KEPT)
        self.coarse: deque[float] = deque(maxlen=KEPT)

    def sorted(self) -> list[float]:
        if len(self.precise) >= ENOUGH:
            return sorted(self.precise)
        return sorted([*self.precise, *self.coarse])


class TaskDurations:
    """How long tasks of each (model, resolution) took, and the poll schedule that follows.

    ``rng`` spreads the waits (jitter); one per run, seeded by the run's options.
    """

    def __init__(self, poll_interval: float, poll_max: float, rng: random.Random) -> None:
        self.poll_interval = poll_interval
        self.poll_max = max(poll_max, poll_interval)
        self._rng = rng
        self._seen: dict[Kind, _Seen] = {}

    def learn(self, kind: Kind, running: float | None, ended: float) -> None:
        """A task of ``kind`` was last seen running ``running`` seconds after its create
        (None: no poll saw it running) and seen ended ``ended`` seconds after it.

        It took about the middle of the two; that is precise when the two polls were close
        (``PRECISE``). One that ended before its first poll is counted precise at
        ``CENSORED`` of that poll's time, so that the first poll moves earlier while many
        tasks end before it.
        """
        if not ended >= 0:
            return
        seen = self._seen.setdefault(kind, _Seen())
        if running is None:
            seen.precise.append(ended * CENSORED)
        elif 0 <= running <= ended:
            middle = (running + ended) / 2
            kept = seen.precise if ended - running <= PRECISE * ended else seen.coarse
            kept.append(middle)

    def count(self, kind: Kind) -> int:
        """Durations learned for ``kind``."""
        seen = self._seen.get(kind)
        return 0 if seen is None else len(seen.precise) + len(seen.coarse)

    def schedule(self, kind: Kind, age: float = 0.0, *, resumed: bool = False) -> Iterator[float]:
        """The waits before each poll of a task of ``kind`` created ``age`` seconds ago
        (endless: the caller stops at the task's end or its timeout), jitter included.

        With nothing learned, a task an earlier run made (``resumed``) is polled at once, a
        fresh one after ``poll_interval``; then the waits grow from ``poll_interval``."""
        seen = self._seen.get(kind)
        durations = seen.sorted() if seen is not None else []
        waits = self._learned(durations, age) if durations else self._fixed(resumed)
        for wait in waits:
            yield wait * (1 + self._rng.uniform(0, POLL_JITTER))

    def _fixed(self, resumed: bool) -> Iterator[float]:
        yield 0.0 if resumed else self.poll_interval
        wait = self.poll_interval
        while True:
            yield wait
            wait = min(wait * POLL_GROWTH, self.poll_max)

    def _learned(self, durations: list[float], age: float) -> Iterator[float]:
        early = durations[int(EARLY * len(durations))]
        longest = durations[-1]
        at = max(age, early)
        wait = at - age
        step = 0.0  # the latest wait between two polls (the first wait is not one)
        while True:
            yield wait
            if at < longest or step == 0.0:
                step = min(max(at * NOTICE, MIN_WAIT), self.poll_max)
            else:
                step = min(step * POLL_GROWTH, self.poll_max)
            wait = step
            at += wait
