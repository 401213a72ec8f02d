"""Reproducible random decisions and the per-key rate limit.

A decision is never drawn from a shared random stream (whose order would depend on how
concurrent requests interleave) but from a hash of the seed, the kind of decision and a stable
key: a task id, or a request's content with the number of times that content was seen. The same
seed and the same requests therefore meet the same faults, whatever the timing.
"""

from __future__ import annotations

import email.utils
import hashlib
import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")

_SCALE = float(1 << 64)


class Dice:
    """Deterministic draws in [0, 1) from ``seed``, a decision kind and a key."""

    __slots__ = ("_prefix",)

    def __init__(self, seed: int) -> None:
        self._prefix = f"{seed}|".encode()

    def draw(self, kind: str, key: str) -> float:
        """A number in [0, 1) that depends only on the seed, ``kind`` and ``key``."""
        digest = hashlib.blake2b(
            self._prefix + kind.encode() + b"|" + key.encode(), digest_size=8
        ).digest()
        return int.from_bytes(digest, "big") / _SCALE

    def chance(self, kind: str, key: str, rate: float) -> bool:
        """True with probability ``rate``."""
        return rate > 0.0 and self.draw(kind, key) < rate

    def uniform(self, kind: str, key: str, low: float, high: float) -> float:
        """A number in [low, high]."""
        return low if high <= low else low + (high - low) * self.draw(kind, key)

    def choice(self, kind: str, key: str, options: Sequence[T]) -> T:
        """One of ``options``."""
        return options[int(self.draw(kind, key) * len(options))]


class RateLimiter:
    """Per key, a sliding window: at most ``rate`` requests of one key answered in any window
    of ``window`` seconds (refused ones do not count); ``rate`` may be a fraction."""

    __slots__ = ("_clock", "_keys", "_most", "_window")

    def __init__(
        self, rate: float, clock: Callable[[], float] = time.monotonic, window: float = 1.0
    ) -> None:
        self._most = max(1, math.floor(rate * window))
        self._window = max(window, 1.0 / rate)
        self._clock = clock
        self._keys: dict[str, deque[float]] = {}

    def acquire(self, key: str) -> float:
        """Count a request of ``key`` and return 0, or return the seconds until its window has
        room (> 0) without counting it."""
        now = self._clock()
        taken = self._keys.setdefault(key, deque())
        while taken and taken[0] <= now - self._window:
            taken.popleft()
        if len(taken) < self._most:
            taken.append(now)
            return 0.0
        return taken[0] + self._window - now


def retry_after_value(wait: float, form: str, now: Callable[[], float] = time.time) -> str:
    """A ``Retry-After`` header for ``wait`` seconds: whole seconds (>= 1) or an HTTP date."""
    seconds = max(1, math.ceil(wait))
    if form == "http-date":
        # An HTTP date has whole-second resolution: add one so it never points before ``wait``.
        return email.utils.formatdate(now() + seconds + 1, usegmt=True)
    return str(seconds)
