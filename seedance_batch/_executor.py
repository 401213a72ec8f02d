"""The run: submit, poll and download, resumable through the lockfile (contract, sections 5-7).

``run(manifest, options)`` keeps ``concurrency`` tasks in flight, writes every state change to
the lockfile before it matters (``submitting`` before the create leaves, ``submitted`` as soon
as a task id comes back), downloads images into the layout of section 6, and reports events to
a callback; it never prints. It returns a :class:`RunSummary` whose ``exit_code`` follows the
contract's table.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import random
import signal
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from seedance_batch import _run_files as run_files
from seedance_batch._errors import (
    ApiError,
    AuthenticationError,
    BudgetExceededError,
    ConfigurationError,
    CreditsExhaustedError,
    DownloadError,
    LockfileError,
    LockfileWriteError,
    NetworkError,
    OutputError,
    RequestRejectedError,
    SeedanceBatchError,
    TaskNotFoundError,
    UnreachableError,
)
from seedance_batch._events import Event, ImageSaved, JobFinished, JobSubmitted, Notice, RunStarted
from seedance_batch._gallery import GALLERY_NAME, write_gallery
from seedance_batch._layout import image_relpath
from seedance_batch._manifest import Manifest
from seedance_batch._planner import Job, Plan, plan
from seedance_batch._results import RESULTS_NAME, result_lines, write_results
from seedance_batch.client import RetryPolicy, SeedanceClient, Task
from seedance_batch.lockfile import ImageRecord, JobRecord, Lockfile, default_lockfile_path

__all__ = [
    "API_KEY_VARIABLE",
    "BASE_URL_VARIABLE",
    "DEFAULT_BASE_URL",
    "JobProblem",
    "RunOptions",
    "RunSummary",
    "api_key_from_environment",
    "run",
    "run_async",
]

DEFAULT_BASE_URL = "https://sseedance.com"
API_KEY_VARIABLE = "SEEDANCE_API_KEY"
BASE_URL_VARIABLE = "SEEDANCE_BASE_URL"
#: Connections in each pool (API, images): sized for requests, not tasks. A hundred tasks in
#: flight keep eight connections busy; more gain nothing while the client's CPU is the limit.
CONNECTIONS = 8
#: Polls are spread by up to this fraction beyond their schedule, never before it.
POLL_JITTER = 0.05
#: In how many runs a task must answer 404 before its job is marked failed.
MISSING_RUNS = 2
#: Dropped image URLs named in the warning, at most (the rest are counted).
DROPPED_NAMED = 5
#: Signals that stop a run like Ctrl-C: save, print the resume command, exit 130.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)

EXIT_OK, EXIT_FAILED, EXIT_REFUSED, EXIT_INTERRUPTED = 0, 1, 3, 130


@dataclass(frozen=True)
class RunOptions:
    """How to run: the manifest's ``execution`` values unless set here (command-line flags)."""

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
    only: tuple[str, ...] = ()
    limit: int | None = None
    handle_signals: bool = False
    seed: int | None = None
    retry: RetryPolicy | None = None
    adopt: bool = False


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

    ``messages`` are the jobs' problems as lines (``problems`` the same, as values);
    ``reason`` is the one line that says why the run stopped early, when it did (a refused
    key or credits, the budget, an unreachable host, a journal that cannot be written); it is
    also reported as a :class:`Notice` when it happens, once. ``unrecorded`` are the tasks
    (job id, task id) this run was given but could not write to the lockfile.
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

    @property
    def exit_code(self) -> int:
        """0 all selected jobs succeeded; 1 some failed or wait, the API cannot be reached or
        a file cannot be written; 3 refused (key, credits, or the budget reached by retries);
        130 interrupted."""
        if self.stopped == "interrupted":
            return EXIT_INTERRUPTED
        if self.stopped in ("credits", "auth", "budget"):
            return EXIT_REFUSED
        if self.stopped in ("unreachable", "journal", "output"):
            return EXIT_FAILED
        if set(self.by_state) - {"succeeded"}:
            return EXIT_FAILED
        return EXIT_OK


def api_key_from_environment() -> str:
    """``SEEDANCE_API_KEY``, or :class:`ConfigurationError` (exit 2) when it is not set."""
    key = os.environ.get(API_KEY_VARIABLE, "").strip()
    if not key:
        raise ConfigurationError(f"{API_KEY_VARIABLE} is not set: nothing was sent")
    return key


def run(
    manifest: Manifest,
    options: RunOptions = RunOptions(),
    *,
    api_key: str | None = None,
    on_event: Callable[[Event], None] | None = None,
) -> RunSummary:
    """Run a manifest to the end (see :func:`run_async`), in a new event loop."""
    return asyncio.run(run_async(manifest, options, api_key=api_key, on_event=on_event))


async def run_async(
    manifest: Manifest,
    options: RunOptions = RunOptions(),
    *,
    api_key: str | None = None,
    on_event: Callable[[Event], None] | None = None,
) -> RunSummary:
    """Submit, poll and download every selected job that needs it; resume what a run left.

    Before any request: the lockfile is locked and loaded, the campaign's budget checked
    (:class:`BudgetExceededError`), the key found (:class:`ConfigurationError`). A lockfile
    that cannot be written mid-run stops the run; the summary lists what it could not record.
    """
    key = api_key if api_key is not None else api_key_from_environment()
    base_url = options.base_url or os.environ.get(BASE_URL_VARIABLE) or DEFAULT_BASE_URL
    lock_path = options.lockfile or default_lockfile_path(manifest.path)
    before = _modified(lock_path)
    summary: RunSummary | None = None
    try:
        with Lockfile.open(
            lock_path,
            manifest_name=manifest.name,
            manifest_sha256=manifest.sha256,
            adopt=options.adopt,
        ) as lock:
            summary = await _run_locked(manifest, options, lock, key, base_url, before, on_event)
    except LockfileError as exc:  # closing could not fold the journal: it is still valid
        if summary is None:
            raise
        reason = summary.reason or f"the lockfile could not be saved: {exc}"
        stopped = summary.stopped if summary.stopped == "journal" else "journal"
        return dataclasses.replace(summary, stopped=stopped, reason=reason)
    # closing folded the journal into the lockfile: count those bytes too
    return dataclasses.replace(summary, lockfile_bytes_written=lock.bytes_written)


async def _run_locked(
    manifest: Manifest,
    options: RunOptions,
    lock: Lockfile,
    key: str,
    base_url: str,
    before: int | None,
    on_event: Callable[[Event], None] | None,
) -> RunSummary:
    full = plan(manifest, lock)
    selected = full.select(options.only, options.limit, retry_failed=options.retry_failed)
    budget = selected.budget_for(retry_failed=options.retry_failed, max_credits=options.max_credits)
    max_credits = budget.max_credits
    if max_credits is not None and not budget.within:
        raise BudgetExceededError(budget.to_spend, max_credits, spent=budget.spent)
    lock.adopt_plan(full.jobs)
    out = run_files.output_folder(manifest, lock.path, lock, options.out)
    lock.set_output(out)
    runner = _Runner(manifest, full, selected, lock, options, max_credits, on_event, out)
    runner.lockfile_untouched = before is not None and _modified(lock.path) == before
    if not runner.work:  # nothing to send: no connection pools (nor aiohttp) to set up
        SeedanceClient.check_settings(base_url, key)
        return await runner.run(None)
    run_files.probe_output(runner.out)  # before anything is spent
    async with SeedanceClient(
        base_url,
        key,
        requests_per_second=options.requests_per_second or manifest.execution.requests_per_second,
        # sized for requests, not tasks: a few connections keep up with hundreds of tasks
        max_connections=min(CONNECTIONS, max(2, runner.concurrency)),
        max_image_connections=min(CONNECTIONS, max(2, runner.concurrency)),
        rng=random.Random(options.seed),
        retry=options.retry,
    ) as client:
        return await runner.run(client)


def _modified(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _seconds_since(timestamp: str | None) -> float:
    if not timestamp:
        return 0.0
    try:
        then = datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        return 0.0
    return max(0.0, (datetime.now(timezone.utc) - then).total_seconds())


def _dropped_urls(urls: tuple[str, ...]) -> str:
    named = ", ".join(urls[:DROPPED_NAMED])
    more = len(urls) - DROPPED_NAMED
    return named + (f" and {more} more" if more > 0 else "")


def _exit_interrupted(signum: int, frame: object) -> None:
    os._exit(EXIT_INTERRUPTED)


def _has_task(record: JobRecord) -> bool:
    """The job has a task to poll: ``submitted``, or ``submitting`` with a task id (never
    submitted again)."""
    return record.state == "submitted" or (record.state == "submitting" and bool(record.task_id))


def _may_exist(exc: SeedanceBatchError) -> bool:
    """True when a create that raised ``exc`` may have made a task (and a charge)."""
    return isinstance(exc, (ApiError, NetworkError)) and exc.task_may_exist


class _Stop(Exception):
    """The run must stop at once (a refused key, an unreachable host, an unwritable journal)."""


class _Runner:
    def __init__(
        self,
        manifest: Manifest,
        full: Plan,
        selected: Plan,
        lock: Lockfile,
        options: RunOptions,
        max_credits: int | None,
        on_event: Callable[[Event], None] | None,
        out: Path,
    ) -> None:
        execution = manifest.execution
        self.manifest = manifest
        self.full = full
        self.selected = selected
        self.lock = lock
        self.options = options
        self.out = out
        self.max_credits = max_credits
        self._on_event = on_event
        self.concurrency = options.concurrency or execution.concurrency
        self.poll_interval = options.poll_interval or execution.poll_interval
        self.poll_max = max(options.poll_max or execution.poll_max, self.poll_interval)
        self.task_timeout = options.task_timeout or execution.task_timeout
        self.max_attempts = options.max_attempts or execution.max_attempts
        self.rng = random.Random(options.seed)
        self.spent_before = lock.spent.credits  # the campaign's charges before this run
        self.reserved = 0  # credits this run has sent creates for (possible doubles included)
        self.charged = self.charged_first = self.charged_again = 0
        self.double_charges = 0
        self.tasks_made = 0
        self.stop_submitting: str | None = None
        self.stopped: str | None = None
        self.reason: str | None = None
        self.unreachable: str | None = None
        self.unrecorded: list[tuple[str, str]] = []
        self.outcomes: dict[str, str] = {}
        self.images_asked = self.images_delivered = self.images_saved = 0
        self.problems: list[JobProblem] = []
        self.changed = False
        self.lockfile_untouched = False
        self._parents: dict[str, Path] = {}
        # jobs whose task has ended and whose images are downloading, off the task slots
        self._downloading: set[asyncio.Task[None]] = set()
        self._download_slots = asyncio.Semaphore(self.concurrency)
        self._workers: list[asyncio.Task[None]] = []
        self._creating: set[asyncio.Task[object]] = set()  # workers waiting on a create
        self._crashes: list[BaseException] = []
        self.work = self._work()

    def emit(self, event: Event) -> None:
        """Report ``event``; a callback that raises (a broken pipe, anything) is dropped: the
        run goes on without it, since printing must never change a run."""
        if self._on_event is None:
            return
        try:
            self._on_event(event)
        except Exception:
            self._on_event = None

    # -- the whole run ---------------------------------------------------------------------

    def _work(self) -> list[Job]:
        """Jobs to submit or poll, and succeeded jobs whose images are no longer on disk."""
        wanted = {"new", "submitting", "submitted"}
        if self.options.retry_failed:
            wanted.add("failed")
        work = []
        for job in self.selected.jobs:
            record = self.lock.jobs[job.id]
            if record.state in wanted or (
                record.state == "succeeded" and not self._images_on_disk(job, record)
            ):
                work.append(job)
        return work

    def _images_on_disk(self, job: Job, record: JobRecord) -> bool:
        """Every recorded image is in place: a regular file (no link) of its recorded size (a
        stat, not a hash). Images left at an old path (the job renamed) are moved first."""
        folder = job.output + "/"
        if any(not image.path.startswith(folder) for image in record.images):
            record = self._put(run_files.move_renamed(self.out, job, record))
        # os.path, not pathlib: a rerun stats every image there is
        return run_files.images_in_place(os.fspath(self.out), record, folder)

    async def run(self, client: SeedanceClient | None) -> RunSummary:
        """Work through :attr:`work`; ``client`` may be None only when there is none."""
        started = time.monotonic()
        work = self.work
        states = [self.lock.jobs[job.id].state for job in work]
        to_submit = sum(1 for s in states if s != "submitted")
        self.emit(
            RunStarted(
                jobs=len(self.selected.jobs),
                to_submit=to_submit,
                to_poll=len(work) - to_submit,
                images=sum(job.images for job in work),
                credits_to_spend=sum(
                    job.credits for job, s in zip(work, states, strict=True) if s != "submitted"
                ),
            )
        )
        queue = deque(work)
        if queue:
            assert client is not None
            self._workers = [
                asyncio.create_task(self._worker(client, queue))
                for _ in range(min(self.concurrency, len(queue)))
            ]
        remove_handlers = self._install_signal_handlers()
        try:
            results = await asyncio.gather(*self._workers, return_exceptions=True)
            await asyncio.gather(*self._downloading, return_exceptions=True)
            results.extend(self._crashes)
            for result in results:
                if isinstance(result, (_Stop, asyncio.CancelledError)):
                    continue
                if isinstance(result, BaseException):
                    raise result
        finally:
            remove_handlers()
        return self._finish(time.monotonic() - started)

    def _cancel_all(self, *, but_creates: bool = False) -> None:
        """Cancel every worker and download; ``but_creates``: let creates already in flight
        come back, so that the task ids they bring are not lost."""
        for task in [*self._workers, *self._downloading]:
            if not (but_creates and task in self._creating):
                task.cancel()

    def _install_signal_handlers(self) -> Callable[[], None]:
        if not self.options.handle_signals:
            return lambda: None
        loop = asyncio.get_running_loop()

        def interrupt() -> None:
            if self.stopped == "interrupted":
                os._exit(EXIT_INTERRUPTED)  # a second Ctrl-C: at once; the journal is valid
            self.stopped = "interrupted"
            self.stop_submitting = "interrupted"
            self.emit(Notice("warning", "interrupted: saving the lockfile (again to quit now)"))
            self._cancel_all()

        for signum in STOP_SIGNALS:
            loop.add_signal_handler(signum, interrupt)

        def remove() -> None:
            for signum in STOP_SIGNALS:
                loop.remove_signal_handler(signum)
                if self.stopped == "interrupted":  # from now on, another one quits at once
                    signal.signal(signum, _exit_interrupted)

        return remove

    async def _worker(self, client: SeedanceClient, queue: deque[Job]) -> None:
        while queue and self.stopped is None:
            job = queue.popleft()
            try:
                await self._process(client, job)
            except _Stop:
                raise
            except SeedanceBatchError as exc:
                self._finished(job, "unfinished", message=str(exc))

    def _stop(self, stopped: str, reason: str, *, cancel: bool = False) -> None:
        """Stop the run (once): say why in one line, now, and send nothing more."""
        if self.stopped is None:
            self.stopped = stopped
            self.reason = reason
            self.emit(Notice("error", reason))
        if self.stop_submitting is None or self.stop_submitting == "budget":
            self.stop_submitting = stopped
        if cancel:
            self._cancel_all(but_creates=True)

    def _outputs_current(self, results: Path, gallery: Path) -> bool:
        """True when results.jsonl and index.html are as the last run left them and nothing
        changed since: the lockfile was not rewritten at the start and no state changed."""
        return (
            self.lockfile_untouched and not self.changed and results.is_file() and gallery.is_file()
        )

    def _outputs_unchanged(self, results: Path, gallery: Path) -> bool:
        """True when the outputs need no rewrite: they are current, the journal cannot be
        written, or the run was stopped (refused, unreachable) before any task or image."""
        if self.stopped == "journal" or self._outputs_current(results, gallery):
            return True
        nothing_made = not self.tasks_made and not self.images_saved and not self.outcomes
        return self.stopped in ("auth", "unreachable", "credits") and nothing_made

    def _write_outputs(self, records: Mapping[str, JobRecord]) -> bool:
        results = self.out / RESULTS_NAME
        gallery = self.out / GALLERY_NAME
        if self._outputs_unchanged(results, gallery):
            return False
        try:
            write_results(self.out, result_lines(self.full.jobs, records))
            write_gallery(self.out, self.manifest, self.full.jobs, records)
        except OutputError as exc:
            self._stop("output", str(exc))
            return False
        return True

    def _finish(self, elapsed: float) -> RunSummary:
        records = self.lock.jobs  # in plan order since adopt_plan; close() folds the journal
        written = self._write_outputs(records)
        by_state: dict[str, int] = {}
        retry_failed_credits = 0
        for job in self.selected.jobs:
            state = records[job.id].state
            by_state[state] = by_state.get(state, 0) + 1
            if state in ("new", "submitting", "failed"):
                retry_failed_credits += job.credits
        outcomes = list(self.outcomes.values())
        return RunSummary(
            by_state=by_state,
            succeeded=outcomes.count("succeeded"),
            failed=outcomes.count("failed"),
            timed_out=outcomes.count("timed_out"),
            unfinished=outcomes.count("unfinished") + self._untouched(),
            credits_charged=self.charged,
            credits_charged_total=sum(r.credits_charged for r in records.values()),
            possible_double_charges=self.double_charges,
            images_asked=self.images_asked,
            images_delivered=self.images_delivered,
            images_saved=self.images_saved,
            elapsed=elapsed,
            lockfile=self.lock.path,
            results=self.out / RESULTS_NAME,
            gallery=self.out / GALLERY_NAME,
            stopped=self.stopped or self.stop_submitting,
            messages=tuple(str(problem) for problem in self.problems),
            lockfile_bytes_written=self.lock.bytes_written,
            credits_first_attempts=self.charged_first,
            credits_resubmissions=self.charged_again,
            credits_spent_total=self.lock.spent.credits,
            max_credits=self.max_credits,
            retry_failed_credits=retry_failed_credits if by_state.get("failed") else 0,
            unreachable=self.unreachable,
            unrecorded=tuple(self.unrecorded),
            reason=self.reason,
            problems=tuple(self.problems),
            outputs_written=written,
        )

    def _untouched(self) -> int:
        """Selected jobs that still need work and got no outcome (a stop came first)."""
        return sum(
            1
            for job in self.selected.jobs
            if job.id not in self.outcomes
            and self.lock.jobs[job.id].state in ("new", "submitting", "submitted")
        )

    # -- one job ---------------------------------------------------------------------------

    def _finished(
        self, job: Job, outcome: str, *, delivered: int = 0, message: str | None = None
    ) -> None:
        self.outcomes[job.id] = outcome
        if message and outcome != "succeeded":
            self.problems.append(JobProblem(job.job, job.id, outcome, message))
        self.emit(JobFinished(job.id, outcome, job.images, delivered, message))

    def _job_folder(self, job: Job) -> Path:
        """``<out>/<job>/<slug>-<id8>``, made if missing, never out of ``<out>`` (OutputError)."""
        return run_files.job_folder(self.out, job.output, self._parents)

    def _put(self, record: JobRecord) -> JobRecord:
        """Record a state change; a journal that cannot be written stops the run at once."""
        try:
            self.lock.put(record)
        except LockfileWriteError as exc:
            self._journal_failed(record, exc)
            raise _Stop from exc
        self.changed = True
        return record

    def _journal_failed(self, record: JobRecord, exc: LockfileWriteError) -> None:
        """Keep the task id the lockfile could not take, for the summary, and stop."""
        kept = self.lock.jobs.get(record.id)
        lost = (record.id, record.task_id) if record.task_id else None
        if (
            lost
            and (kept is None or kept.task_id != record.task_id)
            and lost not in self.unrecorded
        ):
            self.unrecorded.append(lost)
        self._stop("journal", f"the lockfile cannot be written, the run stops: {exc}", cancel=True)

    def _reserve(self, credits: int) -> bool:
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

    async def _process(self, client: SeedanceClient, job: Job) -> None:
        record = self.lock.jobs[job.id]
        if record.state == "succeeded":  # images went missing: fetch them again, at no charge
            await self._fetch_again(client, job, record)
            return
        attempts_here = 0
        task: Task | None = None
        announce: str | None = None
        while True:
            if not _has_task(record):
                submitted = await self._submit(client, job, record, announce)
                if submitted is None:
                    self._not_submitted(job)
                    return
                record, task = submitted
                attempts_here += 1
            task = await self._poll(client, job, record, task)
            if task is None:
                return
            if task.status != "failed":
                await self._hand_off(client, job, record, task)
                return
            error = task.error or f"the task ended as {task.status_word or 'failed'}"
            record = self._put(
                record.replace(
                    state="failed", error=error, finished_at=_now(), task_id=record.task_id
                )
            )
            if task.policy_rejection:
                final = f"{error} (a content-policy rejection is final: not submitted again)"
                self._finished(job, "failed", message=final)
                return
            if attempts_here >= self.max_attempts:
                self._finished(job, "failed", message=error)
                return
            announce = (
                f"{job.job} {job.id}: task failed ({error}); submitting again: attempt "
                f"{attempts_here + 1} of {self.max_attempts}, {job.credits} credits"
            )
            task = None

    def _not_submitted(self, job: Job) -> None:
        """A job this run did not (or no longer) submit: a failed one is counted failed, with
        why it was not submitted again; a new one is left for the next run."""
        if job.id in self.outcomes:
            return
        record = self.lock.jobs[job.id]
        if record.state == "failed":
            why = {"budget": "the budget is reached", "credits": "the API refused for credits"}
            reason = why.get(self.stop_submitting or "", "the run stopped")
            self._finished(job, "failed", message=f"{record.error}; not submitted again: {reason}")

    async def _fetch_again(self, client: SeedanceClient, job: Job, record: JobRecord) -> None:
        self.emit(Notice("info", f"{job.job} {job.id}: images missing; downloading again"))
        task = await self._poll(client, job, record, None)
        if task is not None and task.status == "succeeded":
            await self._collect(client, job, record, task)
        elif task is not None:
            self._finished(job, "unfinished", message="images missing; the task is gone")

    async def _hand_off(
        self, client: SeedanceClient, job: Job, record: JobRecord, task: Task
    ) -> None:
        """The job's task has ended: download its images in the background, so that its slot
        goes to the next job now (``concurrency`` counts tasks in flight, not downloads).

        At most ``concurrency`` jobs download at once; past that, the worker waits here.
        """
        await self._download_slots.acquire()
        download = asyncio.create_task(self._collect_and_release(client, job, record, task))
        self._downloading.add(download)
        download.add_done_callback(self._downloading.discard)

    async def _collect_and_release(
        self, client: SeedanceClient, job: Job, record: JobRecord, task: Task
    ) -> None:
        try:
            await self._collect(client, job, record, task)
        except _Stop:
            pass
        except SeedanceBatchError as exc:
            self._finished(job, "unfinished", message=str(exc))
        except Exception as exc:  # raised by run() once every worker has stopped
            self._crashes.append(exc)
        finally:
            self._download_slots.release()

    async def _submit(
        self, client: SeedanceClient, job: Job, record: JobRecord, announce: str | None = None
    ) -> tuple[JobRecord, Task] | None:
        """Send the job's create; None when it was not sent or gave no task (then the job's
        outcome is set, or it is left for the next run)."""
        if self.stop_submitting is not None:
            return None
        resend = record.state == "submitting"  # a crash left a create without its answer
        # a resend may be charged on top of the create it repeats: reserve both
        if not self._reserve(job.credits * (2 if resend else 1)):
            return None
        if announce:
            self.emit(Notice("info", announce))
        before = record
        if resend:
            self.emit(
                Notice(
                    "warning",
                    f"{job.job} {job.id}: a create from an earlier run got no answer; sending it "
                    "again with the same Idempotency-Key (possible double charge)",
                )
            )
        else:
            record = self._put(
                record.replace(
                    state="submitting",
                    attempts=record.attempts + 1,
                    task_id=None,
                    error=None,
                    images=(),
                    submitted_at=None,
                    finished_at=None,
                    task_missing=0,
                )
            )
        sent = False

        def on_send() -> None:
            nonlocal sent
            sent = True

        worker = asyncio.current_task()
        if worker is not None:
            self._creating.add(worker)
        try:
            outcome = await client.create(
                job.request,
                self.lock.idempotency_key(record),
                may_resend=lambda: self._reserve(job.credits),
                on_send=on_send,
            )
        except asyncio.CancelledError:
            if not sent and not resend:  # it never left: nothing to charge, no alarm
                self.reserved -= job.credits
                self._put(before)
            raise
        except SeedanceBatchError as exc:
            self._create_failed(job, record, before, exc, resend)
            return None
        finally:
            self._creating.discard(worker)
        return self._submitted(job, record, outcome.task, outcome.ambiguous_attempts, resend)

    def _submitted(
        self, job: Job, record: JobRecord, task: Task, doubles: int, resend: bool
    ) -> tuple[JobRecord, Task]:
        credits = job.credits * (1 + doubles + (1 if resend else 0))
        self.double_charges += doubles + (1 if resend else 0)
        self.charged += credits
        if record.attempts <= 1:
            self.charged_first += credits
        else:
            self.charged_again += credits
        self.tasks_made += 1
        record = self._put(
            record.replace(
                state="submitted",
                task_id=task.id,
                submitted_at=_now(),
                credits_charged=record.credits_charged + credits,
                possible_double_charges=record.possible_double_charges
                + doubles
                + (1 if resend else 0),
            )
        )
        self.emit(
            JobSubmitted(job.id, task.id, credits, bool(doubles) or resend, record.attempts > 1)
        )
        return record, task

    def _create_failed(
        self,
        job: Job,
        record: JobRecord,
        before: JobRecord,
        exc: SeedanceBatchError,
        resend: bool,
    ) -> None:
        """A create that gave no task: say so once, and leave the record as honest as it can."""
        may_exist = _may_exist(exc) or resend
        if not may_exist:
            self.reserved -= job.credits
        if isinstance(exc, AuthenticationError):
            self._revert(record, before, exc, keep_key=True)
            self._stop("auth", f"the API refused the key: {exc}")
            raise _Stop from exc
        if isinstance(exc, UnreachableError):
            self._revert(record, before, exc, keep_key=True)
            self.unreachable = str(exc)
            self._stop("unreachable", f"{exc}; the run stops (a rerun resumes)")
            raise _Stop from exc
        if isinstance(exc, CreditsExhaustedError):
            self._revert(record, before, exc, keep_key=True)
            if self.stop_submitting is None:
                self.stop_submitting = "credits"
                self.reason = f"the API refused for credits: {exc}"
                self.emit(Notice("error", f"no credits left ({exc}): polling what is in flight"))
            return
        if isinstance(exc, RequestRejectedError):
            message = exc.api_message
            self._put(record.replace(state="failed", error=message, finished_at=_now()))
            self._finished(job, "failed", message=message)
            return
        conflict = isinstance(exc, ApiError) and exc.status == 409
        self._revert(record, before, exc, keep_key=conflict or isinstance(exc, NetworkError))
        message = str(exc)
        if conflict:
            message += " (the next run sends the same Idempotency-Key)"
        self._finished(job, "unfinished", message=message)

    def _revert(
        self, record: JobRecord, before: JobRecord, exc: SeedanceBatchError, *, keep_key: bool
    ) -> None:
        """A create that got no task: back to ``new`` unless it may have reached the API.

        ``keep_key``: nothing under this attempt's key was taken by the API (it was never
        sent, or a 409 says the key is still in use): the next create is the same attempt,
        with the same Idempotency-Key.
        """
        if record is before or (record.state == "submitting" and _may_exist(exc)):
            self._put(record.replace(error=str(exc)))  # it may have reached the API
        elif keep_key:
            self._put(before.replace(error=str(exc)) if before.state == "new" else before)
        else:
            self._put(record.replace(state="new", error=str(exc)))

    async def _poll(
        self, client: SeedanceClient, job: Job, record: JobRecord, task: Task | None
    ) -> Task | None:
        if task is not None and task.status != "running":
            return task
        assert record.task_id is not None
        resumed = task is None
        left = self.task_timeout - _seconds_since(record.submitted_at)
        deadline = time.monotonic() + max(left, self.poll_max if resumed else 0.0)
        delay = 0.0 if resumed else self.poll_interval
        next_delay = self.poll_interval
        while True:
            if delay:
                await asyncio.sleep(delay * (1 + self.rng.uniform(0, POLL_JITTER)))
            try:
                task = await client.get_task(record.task_id)
            except (ApiError, NetworkError) as exc:
                self._poll_failed(job, record, exc)
                return None
            if task.status != "running":
                return task
            if time.monotonic() >= deadline:
                self._finished(
                    job, "timed_out", message=f"still {task.status_word!r} after the task timeout"
                )
                return None
            delay = next_delay
            next_delay = min(next_delay * 1.5, self.poll_max)

    def _poll_failed(self, job: Job, record: JobRecord, exc: SeedanceBatchError) -> None:
        if isinstance(exc, AuthenticationError):
            self._stop("auth", f"the API refused the key: {exc}")
            raise _Stop from exc
        if isinstance(exc, UnreachableError):
            self.unreachable = str(exc)
            self._stop("unreachable", f"{exc}; the run stops (a rerun resumes)")
            raise _Stop from exc
        if isinstance(exc, TaskNotFoundError) and _has_task(record):
            self._task_missing(job, record)
            return
        self._finished(job, "unfinished", message=f"polling: {exc}")

    def _task_missing(self, job: Job, record: JobRecord) -> None:
        """The API answers 404 for the job's task: counted once per run; after
        :data:`MISSING_RUNS` runs the job is failed, for ``--retry-failed`` to submit again."""
        missing = record.task_missing + 1
        if missing >= MISSING_RUNS:
            message = (
                f"the API no longer knows task {record.task_id} (404 in {missing} runs); "
                "`--retry-failed` submits the job again"
            )
            self._put(
                record.replace(
                    state="failed", error=message, finished_at=_now(), task_missing=missing
                )
            )
            self._finished(job, "failed", message=message)
            return
        message = (
            f"the API does not know task {record.task_id} (404); the next run asks again, "
            f"and marks the job failed if it still does not"
        )
        self._put(record.replace(task_missing=missing, error=message))
        self._finished(job, "unfinished", message=message)

    async def _collect(
        self, client: SeedanceClient, job: Job, record: JobRecord, task: Task
    ) -> None:
        urls = task.image_urls[: job.images]
        dropped = task.image_urls[job.images :]
        if not urls:
            message = "the task succeeded without any image URL"
            self._put(record.replace(state="failed", error=message, finished_at=_now()))
            self._finished(job, "failed", message=message)
            return
        self.images_asked += job.images
        self.images_delivered += len(urls)
        folder = self._job_folder(job)
        images: list[ImageRecord] = []
        for index, url in enumerate(urls, start=1):
            partial = run_files.download_temporary(folder, index)
            try:
                download = await client.download(url, run_files.ImageFile(partial))
            except DownloadError as exc:
                with contextlib.suppress(OSError):
                    partial.unlink()
                if getattr(exc, "status", None) in (403, 404, 410):
                    self._put(record.replace(state="failed", error=str(exc), finished_at=_now()))
                    self._finished(job, "failed", message=str(exc))
                else:
                    self._finished(job, "unfinished", message=str(exc))
                return
            relpath = image_relpath(job.output, index, download.ext)
            run_files.install_image(partial, folder / relpath.rpartition("/")[2])
            images.append(ImageRecord(url, relpath, download.sha256, download.bytes))
            self.images_saved += 1
            self.emit(ImageSaved(job.id, relpath, download.bytes))
        warning = self._delivery_warning(job, len(urls), dropped)
        self._put(
            record.replace(
                state="succeeded", images=tuple(images), error=warning, finished_at=_now()
            )
        )
        self._finished(job, "succeeded", delivered=len(urls), message=warning)

    def _delivery_warning(self, job: Job, taken: int, dropped: tuple[str, ...]) -> str | None:
        """Fewer images than asked, or more URLs than ``n`` (the rest are not downloaded)."""
        if dropped:
            warning = (
                f"asked for {job.images} images, the API gave {taken + len(dropped)} URLs; "
                f"took the first {taken}, dropped {_dropped_urls(dropped)}"
            )
        elif taken < job.images:
            warning = f"asked for {job.images} images, the API delivered {taken}"
        else:
            return None
        self.emit(Notice("warning", f"{job.job} {job.id}: {warning}"))
        return warning
