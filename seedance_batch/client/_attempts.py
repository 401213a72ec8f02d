"""The retry loop: an operation's attempts until one succeeds or the policy gives up, failing fast.

Connect failures (DNS, refused) to the API's host are retried for at most ``unreachable_after``
seconds from the first of them, then :class:`UnreachableError` (nothing was sent); from then on
every request of the client raises it at once. Each retry is announced (``on_retry``, with a
:class:`~seedance_batch.client.RetryEvent`) before its wait.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import NoReturn, TypeVar

from seedance_batch._errors import ApiError, NetworkError, UnreachableError
from seedance_batch.client._failures import Failure, attempts_text
from seedance_batch.client._retry import Operation, RetryEvent, RetryPolicy

__all__ = ["RetryLoop"]

T = TypeVar("T")


class RetryLoop:
    """Runs attempts as ``policy`` says, for one client (one API host): counts the retries and
    the possible double charges, and remembers a host found unreachable. Each retry's event
    passes through ``redact`` (the client's key never shows in one)."""

    def __init__(
        self,
        policy: RetryPolicy,
        *,
        host: str,
        unreachable_after: float,
        sleep: Callable[[float], Awaitable[None]],
        clock: Callable[[], float],
        rng: random.Random,
        on_retry: Callable[[RetryEvent], None] | None,
        redact: Callable[[str], str],
    ) -> None:
        self._policy = policy
        self._redact = redact
        self._host = host
        self._unreachable_after = unreachable_after
        self._sleep = sleep
        self._clock = clock
        self._rng = rng
        self._on_retry = on_retry
        self._failing_since: float | None = None  # the first of the latest connect failures
        self._unreachable: UnreachableError | None = None
        self.retries = 0
        """Retries of any operation, downloads included."""
        self.double_charges = 0
        """Creates resent after an attempt that may have reached the server."""

    def check_reachable(self) -> None:
        """Fail at once once the API's host has been found unreachable."""
        if self._unreachable is not None:
            raise UnreachableError(self._unreachable.host, self._unreachable.reason)

    def connected(self) -> None:
        """The host answered (or took a request): a run of connect failures is over."""
        self._failing_since = None

    async def run(
        self,
        operation: Operation,
        target: str,
        attempt: Callable[[], Awaitable[T | Failure]],
        *,
        may_retry: Callable[[], bool] | None = None,
        may_resend: Callable[[], bool] | None = None,
    ) -> tuple[T, int]:
        """Run ``attempt`` until it succeeds, the policy gives up or ``may_retry`` declines.

        ``may_retry``, if given, is asked before every retry (an interrupted run sends nothing
        more): False raises the last failure. ``may_resend``, if given, is asked next, before a
        retry after an attempt that may have reached the server (it could be charged twice).

        Returns the result and the number of failed attempts that may have reached the server.
        Connect failures to the API's host end, at the latest ``unreachable_after`` seconds
        after the first of them, in :class:`UnreachableError`, which every later request of
        this client raises at once.
        """
        policy = self._policy
        retries = 0
        limited = 0
        ambiguous = 0
        while True:
            try:
                result = await attempt()
            except UnreachableError as exc:
                exc.task_may_exist = ambiguous > 0
                raise
            if not isinstance(result, Failure):
                return result, ambiguous
            failure = result
            if failure.reached_server and operation == "create":
                ambiguous += 1
            attempts = retries + 1
            exhausted = retries >= policy.max_retries or (
                failure.limited and limited >= policy.not_found_retries
            )
            unreachable = operation != "download" and failure.connect_failed
            window = self._connect_window() if unreachable else None
            if unreachable and (exhausted or window == 0.0):
                self._give_up_on_host(failure, attempts_text(attempts), ambiguous)
            if not failure.retryable or exhausted:
                suffix = attempts_text(attempts) if attempts > 1 or exhausted else ""
                _raise(failure, suffix, ambiguous)
            if may_retry is not None and not may_retry():
                _raise(failure, " (not retried: the run was interrupted)", ambiguous)
            if failure.reached_server and operation == "create":
                if may_resend is not None and not may_resend():
                    _raise(failure, " (not resent: it could be charged twice)", ambiguous)
                self.double_charges += 1
            delay = policy.delay(retries, self._rng, failure.retry_after)
            if window is not None:
                delay = min(delay, window)
            self.retries += 1
            if self._on_retry is not None:
                self._on_retry(
                    RetryEvent(
                        operation=operation,
                        target=self._redact(target),
                        attempt=attempts,
                        delay=delay,
                        reason=self._redact(failure.reason),
                        status=failure.status,
                        possible_double_charge=failure.reached_server and operation == "create",
                    )
                )
            await self._sleep(delay)
            retries += 1
            if failure.limited:
                limited += 1

    def _connect_window(self) -> float:
        """Seconds left before the latest run of connect failures makes the host unreachable."""
        now = self._clock()
        if self._failing_since is None:
            self._failing_since = now
        return max(0.0, self._failing_since + self._unreachable_after - now)

    def _give_up_on_host(self, failure: Failure, suffix: str, ambiguous: int) -> NoReturn:
        if self._unreachable is None:
            self._unreachable = UnreachableError(self._host, failure.reason + suffix)
        error = UnreachableError(self._host, self._unreachable.reason)
        error.task_may_exist = ambiguous > 0
        raise error from failure.cause


def _raise(failure: Failure, suffix: str, ambiguous: int) -> NoReturn:
    error = failure.error(suffix)
    if ambiguous and isinstance(error, (ApiError, NetworkError)):
        error.task_may_exist = True
    raise error from failure.cause
