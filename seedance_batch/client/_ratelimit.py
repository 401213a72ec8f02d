"""A client-side rate over all API requests together that finds the key's limit under a ceiling.

A spacing limiter: request slots are handed out ``1 / rate`` seconds apart, first come first
served, with no burst, and ``rate`` never above the ceiling (``requests_per_second``). Under it
the rate adapts, AIMD as TCP does, to a limit the API does not document:

- it starts at ``min(ceiling, START_RATE)`` and, until the first 429, grows by an eighth with
  each answer that had waited for its slot ("slow start": the limiter was what held it back);
- a 429 (or a 503 that names a wait) cuts it to ``BACKOFF`` times the lower of the rate and
  the answers that came back well in the last second (never below an eighth of the rate, nor
  half of it when none came back well, nor the floor). One cut per window: a 429 for a
  request sent before the last cut, or before an answer came back well after it, is the same
  overshoot and counts once; after the cut that ends the slow start, whose overshoot fills
  the server's window for a while, so does a 429 for a request sent less than ``HOLD``
  seconds after it;
- then each answer that waited for its slot adds ``a / rate`` plus ``(1 - BACKOFF) * rate /
  CYCLE``: the cut is won back over about ``CYCLE`` requests, so that one 429 comes in about
  ``CYCLE`` requests whatever the limit is and however many processes share the key (the
  additive part lets a rate that fell to the floor climb back, and shares converge); after
  ``PROBE`` seconds without a cut that growth doubles, and again every ``PROBE`` seconds (at
  most ``PROBE_MOST`` times over), so a share freed by a process that finished is taken back.

``BACKOFF`` is 0.9, not TCP's 0.5: against a sliding window the answers of the last second
measure the limit itself, so a shallow cut below it loses little (about half of ``1 -
BACKOFF`` of the limit on average) while still ending the overshoot.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Awaitable, Callable

from seedance_batch.client._answers import Answer
from seedance_batch.client._retry import parse_body_wait

__all__ = ["BACKOFF", "CYCLE", "FLOOR", "START_RATE", "RateLimiter", "Ticket", "slows_down"]

#: What :meth:`RateLimiter.acquire` gives: the slot's time, and whether it had to be waited for.
Ticket = tuple[float, bool]

#: The rate a run starts at when its ceiling is higher (requests per second).
START_RATE = 10.0
#: The lowest rate the limiter backs off to (requests per second).
FLOOR = 0.2
#: A 429 multiplies the rate by this.
BACKOFF = 0.9
#: Seconds after the cut that ends the slow start in which a 429 is still that overshoot's.
HOLD = 1.0
#: Requests over which the rate wins back a cut: about one 429 in this many requests.
CYCLE = 50
#: Growth per answer while none has been refused yet (slow start).
SLOW_START = 1 / 8
#: Rate added per second of requests that waited, on top of the proportional growth.
ADDITIVE = 0.1
#: Seconds without a cut after which the growth doubles (then again each as long), so that a
#: rate freed by a neighbour that finished (another process on the key) is taken back soon.
#: Shorter than the ~2.5 s a cycle of ``CYCLE`` requests takes at 20/s; a virtual-clock
#: simulation of four shards measured it against 3 s and 1 s (docs/benchmarks.md).
PROBE = 1.5
#: The growth is doubled at most this many times over.
PROBE_MOST = 16.0
#: A cut takes the rate at most this many times lower at once.
MAX_CUT = 8.0
#: ... and at most this many times when nothing came back well in the last second: such a 429
#: (a first request, or a process arriving on a key others already fill) says little.
BLIND_CUT = 2.0
#: The weight of each request's rate in the settled rate (an exponential average).
SETTLE_WEIGHT = 1 / 64


class RateLimiter:
    """Hands out request slots ``1 / rate`` seconds apart; ``rate`` adapts under ``ceiling``.

    ``clock`` (monotonic seconds) and ``sleep`` are injected so that tests run schedules without
    waiting. Waiters take their turn in order (an :class:`asyncio.Lock` is fair), so a change
    of rate applies from the next slot on, and a cancelled waiter leaves its slot to the next.
    :meth:`acquire` returns the slot's time, the ticket to give back with the answer
    (:meth:`answered`). ``math.inf`` as the ceiling turns the limit off.
    """

    __slots__ = (
        "_calm_from",
        "_clock",
        "_cut",
        "_cut_at",
        "_good",
        "_hold",
        "_next",
        "_sleep",
        "_turn",
        "ceiling",
        "floor",
        "limited",
        "rate",
        "settled",
        "slow_start",
    )

    def __init__(
        self,
        ceiling: float,
        *,
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]],
        start: float = START_RATE,
        floor: float = FLOOR,
    ) -> None:
        if not ceiling > 0:  # also refuses NaN
            raise ValueError(f"requests per second must be > 0, not {ceiling!r}")
        self.ceiling = ceiling
        self.floor = min(floor, ceiling)
        self.rate = min(ceiling, start)
        self.settled = self.rate
        """The rate over the latest requests (an exponential average), for summaries."""
        self.slow_start = True
        self.limited = 0
        """Answers that said to slow down (429, or a 503 with a wait)."""
        self._clock = clock
        self._sleep = sleep
        self._next = -math.inf
        self._turn = asyncio.Lock()
        self._calm_from = -math.inf  # a refusal of a request sent before this is counted
        self._cut = False  # a cut came, and no answer came back well after it yet
        self._cut_at = clock()  # the latest cut (or the start)
        self._good: deque[float] = deque()  # when well-answered requests came back, 1 s
        self._hold = 0.0  # after the slow start's cut: how long its overshoot counts once
        if math.isinf(ceiling):
            self.rate = self.settled = math.inf

    @property
    def interval(self) -> float:
        """Seconds between two slots at the current rate."""
        return 0.0 if math.isinf(self.rate) else 1.0 / self.rate

    async def acquire(self) -> Ticket:
        """Wait for the next slot; the ticket to give back with its answer (:meth:`answered`)."""
        if math.isinf(self.rate):
            return (self._clock(), False)
        async with self._turn:
            now = self._clock()
            slot = max(now, self._next)
            waited = slot > now
            if waited:
                await self._sleep(slot - now)
            self._next = slot + self.interval
        self.settled += (self.rate - self.settled) * SETTLE_WEIGHT
        return (slot, waited)

    def answered(self, ticket: Ticket, *, slow_down: bool) -> None:
        """The answer to the request of ``ticket``: ``slow_down`` for a 429 (or a 503 with a
        wait); the rate is cut or grown as the module says."""
        sent, waited = ticket
        if slow_down:
            self.limited += 1
        if math.isinf(self.ceiling):
            return
        now = self._clock()
        if slow_down:
            if sent >= self._calm_from + self._hold and not self._cut:
                self._decrease(now)
            return
        good = self._good
        good.append(now)
        while good[0] < now - 1.0:
            good.popleft()
        if sent >= self._calm_from:
            self._cut = False
        if waited:
            self._increase(now)

    def _decrease(self, now: float) -> None:
        good = self._good
        while good and good[0] < now - 1.0:
            good.popleft()
        most = MAX_CUT if good else BLIND_CUT
        base = min(self.rate, max(float(len(good)), self.rate / most))
        self.rate = max(self.floor, BACKOFF * base)
        self._hold = HOLD if self.slow_start else 0.0
        self.slow_start = False
        self._calm_from = self._cut_at = now
        self._cut = True

    def _increase(self, now: float) -> None:
        rate = self.rate
        if self.slow_start:
            rate *= 1 + SLOW_START
        else:
            calm = (now - self._cut_at) / PROBE - 1.0
            probe = min(PROBE_MOST, 2.0**calm) if calm > 0 else 1.0
            rate += (ADDITIVE / rate + (1 - BACKOFF) * rate / CYCLE) * probe
        self.rate = min(self.ceiling, rate)


def slows_down(answer: Answer) -> bool:
    """The answer asks the client to slow down: a 429, or a 503 that names a wait (in a
    ``Retry-After`` header or only in its body)."""
    code = answer.status_code
    if code == 429:
        return True
    return code == 503 and (
        "retry-after" in answer.headers or parse_body_wait(answer.body) is not None
    )
