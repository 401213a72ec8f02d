"""The retry policy of the contract's section 7: exponential backoff with full jitter.

Pure functions and values only: no I/O, no sleeping. The client decides *whether* to retry; this
module says *how long* to wait, from the policy, the attempt number and a ``Retry-After`` header.
"""

from __future__ import annotations

import email.utils
import json
import math
import random
import re
from dataclasses import dataclass
from datetime import timezone
from typing import Literal

__all__ = ["Operation", "RetryEvent", "RetryPolicy", "parse_body_wait", "parse_retry_after"]

Operation = Literal["create", "get_task", "download"]


@dataclass(frozen=True)
class RetryPolicy:
    """How failed requests are retried.

    - ``base`` and ``cap``: the n-th retry (n = 0, 1, ...) waits a uniform random time in
      ``[0, min(cap, base * 2**n)]`` ("full jitter").
    - ``max_retries``: retries after the first attempt for transient failures (429, 5xx,
      connection failures, timeouts, truncated images); the call fails after ``max_retries + 1``
      attempts.
    - ``retry_after_cap``: a ``Retry-After`` header is honoured as given (seconds or HTTP date),
      but never beyond this many seconds, so a broken header cannot stall a run for hours.
    - ``not_found_retries``: retries for answers that are most likely final but may be a moment's
      inconsistency: 403/404/410 on an image URL, 404 on a task, a 2xx poll answer that cannot be
      understood.
    """

    base: float = 1.0
    cap: float = 60.0
    max_retries: int = 8
    retry_after_cap: float = 300.0
    not_found_retries: int = 2

    def __post_init__(self) -> None:
        if not (self.base > 0 and math.isfinite(self.base)):
            raise ValueError(f"base must be a finite number > 0, not {self.base!r}")
        if not (self.cap >= self.base and math.isfinite(self.cap)):
            raise ValueError(f"cap must be finite and >= base, not {self.cap!r}")
        if self.max_retries < 0 or self.not_found_retries < 0:
            raise ValueError("max_retries and not_found_retries must be >= 0")
        if not self.retry_after_cap >= 0:
            raise ValueError(f"retry_after_cap must be >= 0, not {self.retry_after_cap!r}")

    def ceiling(self, retry: int) -> float:
        """The longest wait before retry ``retry`` (0-based): ``min(cap, base * 2**retry)``."""
        # 2**64 already exceeds any sane cap; clamping keeps the float finite.
        return min(self.cap, self.base * 2.0 ** min(max(retry, 0), 64))

    def backoff(self, retry: int, rng: random.Random) -> float:
        """A full-jitter wait before retry number ``retry`` (0-based)."""
        return rng.uniform(0.0, self.ceiling(retry))

    def delay(self, retry: int, rng: random.Random, retry_after: float | None) -> float:
        """The wait before retry ``retry``: the server's ``Retry-After`` if any, else backoff."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.retry_after_cap)
        return self.backoff(retry, rng)


@dataclass(frozen=True)
class RetryEvent:
    """One retry about to happen, for logs and run summaries (never carries the API key).

    ``attempt`` is the 1-based number of the attempt that failed; ``target`` is the method and
    URL for API requests, or the URL without its query for downloads; ``reason`` is what went
    wrong (``HTTP 503``, ``ReadTimeout``, ``truncated body``, ...). ``possible_double_charge``
    is True when the failed attempt was a create that may have reached the server, so that the
    retry (sent with the same ``Idempotency-Key``) may be charged a second time. ``delay`` is the
    wait in seconds before the retry. ``target`` and ``reason`` are redacted by the client that
    made the event, and :attr:`message` says it all in one line.
    """

    operation: Operation
    target: str
    attempt: int
    delay: float
    reason: str
    status: int | None = None
    possible_double_charge: bool = False

    @property
    def message(self) -> str:
        """One line for a notice: what is retried, which attempt failed and why, and the wait."""
        charge = "; it may be charged twice" if self.possible_double_charge else ""
        return (
            f"retrying {_DOING[self.operation]} {self.target}: attempt {self.attempt} failed "
            f"({self.reason}), next in {self.delay:.1f} s{charge}"
        )


_DOING: dict[Operation, str] = {"create": "create", "get_task": "poll", "download": "download"}


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta seconds or an HTTP date.

    ``now`` is the wall-clock time (``time.time()``) to measure an HTTP date against. A date in
    the past or a negative number gives 0. A header that is neither gives None (the caller falls
    back to its backoff).
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(seconds, 0.0) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; a zone-less date is read as UTC
        when = when.replace(tzinfo=timezone.utc)
    return max(when.timestamp() - now, 0.0)


#: A wait said in words: "resets in ~30s", "retry after 20 seconds", "try again in 1.5 min".
_WAIT_WORDS = re.compile(
    r"(?i)(?:reset|retry|try again|wait|available)\w*(?:\s+(?:in|after|for))?\s*[:=~≈]?\s*~?\s*"
    r"(\d{1,6}(?:\.\d+)?)\s*(ms|milliseconds?|s|secs?|seconds?|m|mins?|minutes?)?\b"
)
_WAIT_KEYS = ("retry_after", "retryAfter", "retry_after_seconds", "retryAfterSeconds", "wait")
_UNIT = {"ms": 0.001, "m": 60.0, "min": 60.0}


def parse_body_wait(body: bytes) -> float | None:
    """Seconds to wait that a 429 or 503 gives only in its body, or None.

    A JSON field (``retry_after: 20``, at the top or under ``error``) wins; else the first
    phrase such as ``"resets in ~30s"`` or ``"retry after 20 seconds"`` in the text. Units:
    seconds unless ``ms`` or minutes are named.
    """
    text = body[:65536].decode("utf-8", "replace")
    try:
        payload = json.loads(text)
    except ValueError:
        payload = None
    if isinstance(payload, dict):
        for place in (payload, payload.get("error")):
            if isinstance(place, dict):
                for key in _WAIT_KEYS:
                    seconds = _number(place.get(key))
                    if seconds is not None:
                        return seconds
    match = _WAIT_WORDS.search(text)
    if match is None:
        return None
    unit = (match.group(2) or "s").lower()
    scale = _UNIT.get("ms" if unit.startswith("ms") or unit.startswith("milli") else unit[:3])
    seconds = float(match.group(1)) * (scale if scale is not None else 1.0)
    return seconds if math.isfinite(seconds) else None


def _number(value: object) -> float | None:
    if isinstance(value, str):
        value = value.strip().rstrip("s")
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return max(float(value), 0.0)
    return None
