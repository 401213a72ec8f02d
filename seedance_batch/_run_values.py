"""What a run is given and what it gives back: its options, its summary and each job's problem."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from seedance_batch._clock import MONOTONIC, SLEEP, WALL, Clock, Sleep
from seedance_batch._manifest import Manifest
from seedance_batch._planner import Job
from seedance_batch.client import RetryPolicy
from seedance_batch.lockfile import JobRecord

__all__ = ["DEFAULT_OPTIONS", "FinishedRun", "JobProblem", "RunOptions", "RunSummary"]


@dataclass(frozen=True)
class RunOptions:
    """How to run: the manifest's ``execution`` values unless set here (command-line flags).

    ``handle_signals``: Ctrl-C, SIGTERM, SIGHUP and SIGQUIT stop the run (stop submitting,
    save the lockfile; the summary says ``stopped="interrupted"``); a second one calls
    ``on_interrupt_again``, or raises :class:`KeyboardInterrupt` when it is None.

    ``clock`` (monotonic seconds), ``wall_clock`` (seconds since the epoch) and ``sleep`` are
    the run's time, the real one unless a test gives its own: the polling schedule, the task
    timeout, the grace of a resumed task, the rate limiter, retry waits and the elapsed time
    all follow them.
    """

    base_url: str | None = None
    out: Path | None = None
    lockfile: Path | None = None
    concurrency: int | None = None
    requests_per_second: float | None = None
    poll_interval: float | None = None
    poll_max: float | None = None
    task_timeout: float | None = None
    max_attempts: int | None = None
    max_credits: int | None = None
    retry_failed: bool = False
    #: Give a new take to every selected job whose images are all rejected (``_rerolls``).
    reroll_rejected: bool = False
    only: tuple[str, ...] = ()
    limit: int | None = None
    #: ``(K, N)``: only the jobs of shard K of N, with their own lockfile and budget share.
    shard: tuple[int, int] | None = None
    handle_signals: bool = False
    seed: int | None = None
    retry: RetryPolicy | None = None
    adopt: bool = False
    on_interrupt_again: Callable[[], None] | None = None
    clock: Clock = MONOTONIC
    wall_clock: Clock = WALL
    sleep: Sleep = SLEEP


#: The options of a run that sets none: the manifest's ``execution`` values throughout.
DEFAULT_OPTIONS = RunOptions()


@dataclass(frozen=True)
class JobProblem:
    """A job that did not succeed in this run, or succeeded with a warning, and why."""

    job: str
    job_id: str
    outcome: str
    message: str

    def __str__(self) -> str:
        return f"{self.job} {self.job_id}: {self.message}"


@dataclass(frozen=True)
class RunSummary:
    """How a run ended: states of the selected jobs, credits, images and what stopped it.

    ``stopped`` is None when the run went to its end, else what stopped it: ``interrupted``
    (Ctrl-C, SIGTERM), ``auth`` (a refused key), ``credits`` (no credits left: no more
    submissions), ``budget``, ``unreachable``, ``journal`` (the lockfile cannot be written) or
    ``output`` (an image folder or output file cannot be written). The command line turns it
    into an exit code. ``messages`` are the jobs' problems as lines (``problems`` the same,
    as values);
    ``reason`` is the one line that says why the run stopped early, when it did (a refused
    key or credits, the budget, an unreachable host, a journal that cannot be written); it is
    also reported as a :class:`Notice` when it happens, once. ``unrecorded`` are the tasks
    (job id, task id) this run was given but could not write to the lockfile. ``retries``
    counts the requests the client sent again (each reported as a ``RequestRetried`` event).
    ``settled_rate`` is the rate (requests per second) the run's limiter held over its latest
    requests, under the ``requests_per_second`` ceiling (None: nothing was sent, or no
    ceiling); ``rate_limited`` counts the API's answers that said to slow down (429, or a 503
    naming a wait), each one retried.
    """

    by_state: Mapping[str, int]
    succeeded: int
    failed: int
    timed_out: int
    unfinished: int
    credits_charged: int
    credits_charged_total: int
    possible_double_charges: int
    images_asked: int
    images_delivered: int
    images_saved: int
    elapsed: float
    lockfile: Path
    results: Path
    gallery: Path
    stopped: str | None = None
    messages: tuple[str, ...] = field(default_factory=tuple)
    lockfile_bytes_written: int = 0
    credits_first_attempts: int = 0
    credits_resubmissions: int = 0
    credits_spent_total: int = 0
    max_credits: int | None = None
    retry_failed_credits: int = 0
    unreachable: str | None = None
    unrecorded: tuple[tuple[str, str], ...] = ()
    reason: str | None = None
    problems: tuple[JobProblem, ...] = ()
    outputs_written: bool = True
    retries: int = 0
    settled_rate: float | None = None
    rate_limited: int = 0


@dataclass(frozen=True)
class FinishedRun:
    """A run as the executor ends it, for the outputs stage: its summary, the whole plan's jobs
    and their records, and what decides whether ``results.jsonl`` and ``index.html`` are
    rewritten.

    ``changed``: the lockfile was rewritten at the start or a job's state changed;
    ``made_anything``: a task was made, an image saved or a job reached an outcome;
    ``journal_failed``: the journal could not be written during the run.
    """

    summary: RunSummary
    manifest: Manifest
    jobs: tuple[Job, ...]
    records: Mapping[str, JobRecord]
    out: Path
    changed: bool
    made_anything: bool
    journal_failed: bool
