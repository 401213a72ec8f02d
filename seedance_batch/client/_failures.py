"""A failed attempt and the error it becomes: which answers are retried, which may have charged.

- **Statuses.** 400, 422 and other 4xx: :class:`RequestRejectedError`, not retried; 401/403:
  :class:`AuthenticationError`; 402: :class:`CreditsExhaustedError`; 408, 409, 425, 429 and
  5xx: retried, then :class:`TransientApiError`; 404 on a create (a wrong base URL) and any
  3xx: :class:`ApiProtocolError`; 404 on a poll: retried ``not_found_retries`` times (a task
  just created may not be visible yet), then :class:`TaskNotFoundError`.
- **Possible double charges.** A create is resent with the same ``Idempotency-Key``. A resend
  counts as a possible double charge when an earlier attempt may have reached the server: a
  transport failure after the request may have left (read/write errors, read/write timeouts,
  a reset or an early close; not connect errors, a proxy that could not be reached or refused
  the tunnel, or pool timeouts, where nothing was sent), or a 502 or 504 answer (a gateway that
  lost or timed out on the origin, which may have taken the request). Any other error answer
  (429, 408, 409, 425, 500, 503, ...) is a refusal: nothing was created.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import httpx

from seedance_batch._errors import (
    ApiError,
    ApiProtocolError,
    AuthenticationError,
    CreditsExhaustedError,
    RequestRejectedError,
    SeedanceBatchError,
    TransientApiError,
)

__all__ = [
    "MAYBE_REACHED",
    "Failure",
    "attempts_text",
    "describe",
    "error_for_status",
    "retryable",
    "sent_nothing",
]

#: Statuses retried with backoff besides 5xx.
_RETRYABLE_4XX = frozenset({408, 409, 425, 429})
#: Error answers to a create that may come after the origin took the request (see above).
MAYBE_REACHED = frozenset({502, 504})


@dataclass
class Failure:
    """One failed attempt: what to raise if it is the last, and how to retry it."""

    error: Callable[[str], SeedanceBatchError]  # builds the final error from a suffix
    reason: str
    retryable: bool = True
    limited: bool = False  # retried only ``not_found_retries`` times
    status: int | None = None
    retry_after: float | None = None
    reached_server: bool = False  # a create that may have been taken (and charged)
    connect_failed: bool = False  # no connection: the host may be unreachable
    cause: BaseException | None = None


def error_for_status(status: int, message: str) -> ApiError:
    """The error of a final (not retried, or retried out) error answer."""
    if status in (401, 403):
        return AuthenticationError(message, status=status)
    if status == 402:
        return CreditsExhaustedError(message, status=status)
    if status in _RETRYABLE_4XX or status >= 500:
        return TransientApiError(message, status=status)
    if 300 <= status < 400 or status == 404:
        return ApiProtocolError(message, status=status)
    return RequestRejectedError(message, status=status)


def retryable(status: int) -> bool:
    """Whether an error answer with this status is worth another try (408, 409, 425, 429, 5xx)."""
    return status in _RETRYABLE_4XX or 500 <= status <= 599


def describe(exc: BaseException) -> str:
    """``Type: text`` of an exception, for a reason or a message."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def sent_nothing(exc: httpx.TransportError) -> bool:
    """True for transport failures that happen before a request leaves: no connection, a proxy
    that could not be reached or refused the tunnel, no free connection in time."""
    return isinstance(
        exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ProxyError)
    )


def attempts_text(attempts: int) -> str:
    """`` (after N attempts)``, the suffix of a final error's message."""
    return f" (after {attempts} attempt{'s' if attempts != 1 else ''})"
