"""Time: the timestamps files record, and the clock and sleep a component may be given."""

from __future__ import annotations

import asyncio
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
    moment = datetime.now(timezone.utc) if at is None else datetime.fromtimestamp(at, timezone.utc)
    return moment.strftime(TIMESTAMP_FORMAT)


def seconds_since(timestamp: str | None, now: float | None = None) -> float:
    """Seconds from a lockfile timestamp to ``now`` (wall clock); 0 when absent or unreadable."""
    if not timestamp:
        return 0.0
    try:
        then = datetime.strptime(timestamp, TIMESTAMP_FORMAT).replace(tzinfo=timezone.utc)
    except ValueError:
        return 0.0
    current = time.time() if now is None else now
    return max(0.0, current - then.timestamp())
