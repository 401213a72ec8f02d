"""What a run has counted and decided so far, shared by its scheduler and the jobs it runs."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable

from seedance_batch._events import Event, JobFinished, Notice, RequestRetried, deliver
from seedance_batch._planner import Job
from seedance_batch._run_values import JobProblem
from seedance_batch.client import RetryEvent

__all__ = ["RunState", "StopRun"]


class StopRun(Exception):
    """The run must stop at once (a refused key, an unreachable host, an unwritable journal);
    ``cancel_others``: every other worker and download is cancelled too (creates in flight
    excepted, so that the task ids they bring are not lost)."""

    def __init__(self, *, cancel_others: bool = False) -> None:
        super().__init__()
        self.cancel_others = cancel_others


class RunState:
    """The run's tallies (credits, charges, images, outcomes) and its stops.

    ``stop_submitting`` says why no more creates are sent (the budget, the credits, a stop);
    ``stopped`` why the run stops altogether. ``creating`` are the workers waiting on a create,
    ``sent`` those of them whose create has left (its headers written): an interrupt lets those
    come back with their task ids rather than leave them unanswered.
    """

    def __init__(
        self,
        *,
        spent_before: int,
        max_credits: int | None,
        on_event: Callable[[Event], None] | None,
    ) -> None:
        self._on_event = on_event
        self.spent_before = spent_before  # the campaign's charges before this run
        self.max_credits = max_credits
        self.reserved = 0  # credits this run has sent creates for (possible doubles included)
        self.charged = self.charged_first = self.charged_again = 0
        self.double_charges = 0
        self.tasks_made = 0
        self.images_asked = self.images_delivered = self.images_saved = 0
        self.stop_submitting: str | None = None
        self.stopped: str | None = None
        self.reason: str | None = None
        self.unreachable: str | None = None
        self.unrecorded: list[tuple[str, str]] = []
        self.outcomes: dict[str, str] = {}
        self.problems: list[JobProblem] = []
        self.changed = False  # a state changed in the lockfile
        self.creating: set[asyncio.Task[object]] = set()
        self.sent: set[asyncio.Task[object]] = set()
        self.retries: Counter[tuple[str, str]] = Counter()  # by operation and reason

    def emit(self, event: Event) -> None:
        """Report ``event``; a callback that raises (a broken pipe, anything) is dropped: the
        run goes on without it, since printing must never change a run."""
        self._on_event = deliver(self._on_event, event)

    def retried(self, retry: RetryEvent) -> None:
        """The client retries a request: count it by its kind and report it."""
        kind = (retry.operation, retry.reason)
        self.retries[kind] += 1
        self.emit(
            RequestRetried(
                retry.operation,
                retry.reason,
                retry.attempt,
                retry.delay,
                self.retries[kind],
                retry.possible_double_charge,
            )
        )

    def stop(self, stopped: str, reason: str) -> None:
        """Stop the run (once): say why in one line, now, and send nothing more."""
        if self.stopped is None:
            self.stopped = stopped
            self.reason = reason
            self.emit(Notice("error", reason))
        if self.stop_submitting is None or self.stop_submitting == "budget":
            self.stop_submitting = stopped

    def reserve(self, credits: int) -> bool:
        """Count ``credits`` against the campaign's budget before a create that may be
        charged: what the lockfile has spent and this run has sent stay within it."""
        if self.max_credits is not None and (
            self.spent_before + self.reserved + credits > self.max_credits
        ):
            if self.stop_submitting is None:
                self.stop_submitting = "budget"
                self.emit(Notice("warning", "budget reached: no more tasks are submitted"))
            return False
        self.reserved += credits
        return True

    def finished(
        self, job: Job, outcome: str, *, delivered: int = 0, message: str | None = None
    ) -> None:
        """The job reached an end in this run (``succeeded``, ``failed``, ``timed_out`` or
        ``unfinished``): count it, keep its problem, report it."""
        self.outcomes[job.id] = outcome
        if message and outcome != "succeeded":
            self.problems.append(JobProblem(job.job, job.id, outcome, message))
        self.emit(JobFinished(job.id, outcome, job.images, delivered, message))
