"""Time: the timestamps files record, and the clock and sleep a component may be given."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import re
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Final

#: ``2025-11-25T16:18:00Z``: ISO 8601 UTC to the second, as the lockfile records instants.
TIMESTAMP_FORMAT: Final = "%Y-%m-%dT%H:%M:%SZ"

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

MONOTONIC: Final[Clock] = time.monotonic
WALL: Final[Clock] = time.time
SLEEP: Final[Sleep] = asyncio.sleep


def utc_timestamp(at: float | None = None) -> str:
    """The instant ``at`` (seconds since the epoch; now when None) as a lockfile timestamp."""
    return _stamp_of_second(_whole_second(time.time() if at is None else at))


def _whole_second(at: float) -> int:
    """The second ``datetime.fromtimestamp(at)`` falls in: it rounds to the microsecond first."""
    fraction, whole = math.modf(at)
    micros = round(fraction * 1e6)
    return int(whole) + (1 if micros >= 1_000_000 else -1 if micros < 0 else 0)


@functools.lru_cache(maxsize=4)
def _stamp_of_second(second: int) -> str:
    """A run stamps many records within one second: each second is formatted once."""
    return datetime.fromtimestamp(second, timezone.utc).strftime(TIMESTAMP_FORMAT)


#: The one shape :data:`TIMESTAMP_FORMAT` writes; anything else goes through ``strptime``.
_TIMESTAMP = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)Z")


def parse_timestamp(timestamp: str) -> float:
    """A lockfile timestamp as seconds since the epoch (``ValueError`` when unreadable)."""
    shape = _TIMESTAMP.fullmatch(timestamp)
    if shape is not None:
        with contextlib.suppress(ValueError):  # out of range: strptime says why
            year, month, day, hour, minute, second = map(int, shape.groups())
            moment = datetime(year, month, day, hour, minute, second, tzinfo=timezone.utc)
            return moment.timestamp()
    moment = datetime.strptime(timestamp, TIMESTAMP_FORMAT).replace(tzinfo=timezone.utc)
    return moment.timestamp()


def seconds_since(timestamp: str | None, now: float | None = None) -> float:
    """Seconds from a lockfile timestamp to ``now`` (wall clock); 0 when absent or unreadable."""
    if not timestamp:
        return 0.0
    try:
        then = parse_timestamp(timestamp)
    except ValueError:
        return 0.0
    current = time.time() if now is None else now
    return max(0.0, current - then)
