"""A client-side rate limit over all API requests together.

A spacing limiter: request slots are handed out ``1 / rate`` seconds apart, first come first
served, with no burst. It is a token bucket of capacity one: the strictest reading of
"``requests_per_second``, all requests to the API together", so a server that counts requests
in any one-second window never sees more than ``rate`` of them (rounded up).
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable

__all__ = ["RateLimiter"]


class RateLimiter:
    """Hands out request slots ``1 / rate`` seconds apart; ``rate`` may be a fraction.

    ``clock`` (monotonic seconds) and ``sleep`` are injected so that tests run schedules without
    waiting. A slot is reserved before sleeping, so callers are served in the order they asked
    and a cancelled waiter only wastes its own slot. ``math.inf`` turns the limit off.
    """

    __slots__ = ("_clock", "_interval", "_next", "_sleep")

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]],
    ) -> None:
        if not rate > 0:  # also refuses NaN
            raise ValueError(f"requests per second must be > 0, not {rate!r}")
        self._interval = 0.0 if math.isinf(rate) else 1.0 / rate
        self._clock = clock
        self._sleep = sleep
        self._next = -math.inf

    @property
    def interval(self) -> float:
        """Seconds between two slots."""
        return self._interval

    def reserve(self) -> float:
        """Reserve the next slot and return how long to wait for it (0 when it is now)."""
        now = self._clock()
        slot = max(now, self._next)
        self._next = slot + self._interval
        return slot - now

    async def acquire(self) -> None:
        """Wait for the next slot."""
        wait = self.reserve()
        if wait > 0:
            await self._sleep(wait)
