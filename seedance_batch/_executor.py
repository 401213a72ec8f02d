"""The run's scheduler: workers keep ``concurrency`` jobs in flight, stop together, and sum up.

``execute(manifest, options)`` locks and loads the lockfile, checks the budget and the key,
then hands each job that needs work to a :class:`~seedance_batch._job_runner.JobRunner` (one
job's state machine), downloads ended tasks' images off the task slots, stops on Ctrl-C or
SIGTERM (and a refused key, an unreachable host, a journal that cannot be written), and reports
events to a callback; it never prints. It returns a :class:`FinishedRun`, its summary inside,
for the outputs stage (:mod:`seedance_batch._outputs`) that follows.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import os
import random
import signal
from collections import deque
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from seedance_batch import _run_files as run_files
from seedance_batch._errors import (
    BudgetExceededError,
    LockfileError,
    SeedanceBatchError,
)
from seedance_batch._events import Event, Notice, RunStarted
from seedance_batch._gc import run_collection
from seedance_batch._job_runner import JobRunner
from seedance_batch._key import api_key_from_environment
from seedance_batch._layout import GALLERY_NAME, RESULTS_NAME
from seedance_batch._manifest import Manifest
from seedance_batch._planner import Job, Plan, new_shard_plan, plan
from seedance_batch._rerolls import reroll_notice, rerolls_for_run, start_takes
from seedance_batch._run_state import RunState, StopRun
from seedance_batch._run_values import DEFAULT_OPTIONS, FinishedRun, RunOptions, RunSummary
from seedance_batch._shards import CARRIED, Shard
from seedance_batch._states import NEEDS_WORK, TO_SPEND, needs_work
from seedance_batch.client import SeedanceClient, Task
from seedance_batch.lockfile import JobRecord, Lockfile, default_lockfile_path, read_lockfile

__all__ = [
    "BASE_URL_VARIABLE",
    "DEFAULT_BASE_URL",
    "execute",
]

DEFAULT_BASE_URL = "https://sseedance.com"
BASE_URL_VARIABLE = "SEEDANCE_BASE_URL"
#: Connections in each pool (API, images): sized for requests, not tasks. A hundred tasks in
#: flight keep eight connections busy; more gain nothing while the client's CPU is the limit.
CONNECTIONS = 8
#: Signals that stop a run like Ctrl-C: stop submitting, save; the summary says "interrupted".
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


async def execute(
    manifest: Manifest,
    options: RunOptions = DEFAULT_OPTIONS,
    *,
    api_key: str | None = None,
    on_event: Callable[[Event], None] | None = None,
) -> FinishedRun:
    """Submit, poll and download every selected job that needs it; resume what a run left.

    Before any request: the lockfile is locked and loaded, the campaign's budget checked
    (:class:`BudgetExceededError`), the key found (:class:`ConfigurationError`). A lockfile
    that cannot be written mid-run stops the run; the summary lists what it could not record.
    """
    key = api_key if api_key is not None else api_key_from_environment()
    base_url = options.base_url or os.environ.get(BASE_URL_VARIABLE) or DEFAULT_BASE_URL
    lock_path = options.lockfile or default_lockfile_path(manifest.path, options.shard)
    before = _modified(lock_path)
    signals = _StopSignals(options.on_interrupt_again) if options.handle_signals else None
    finished: FinishedRun | None = None
    try:
        with Lockfile.open(
            lock_path,
            manifest_name=manifest.name,
            manifest_sha256=manifest.sha256,
            adopt=options.adopt,
        ) as lock:
            finished = await _run_locked(
                manifest, options, lock, key, base_url, before, on_event, signals
            )
    except asyncio.CancelledError:
        if signals is not None and signals.quit:
            raise KeyboardInterrupt from None
        raise
    except LockfileError as exc:  # closing could not fold the journal: it is still valid
        if finished is None:
            raise
        summary = finished.summary
        reason = summary.reason or f"the lockfile could not be saved: {exc}"
        stopped = summary.stopped if summary.stopped == "journal" else "journal"
        closed = dataclasses.replace(summary, stopped=stopped, reason=reason)
    else:  # closing folded the journal into the lockfile: count those bytes too
        closed = dataclasses.replace(finished.summary, lockfile_bytes_written=lock.bytes_written)
    finally:
        if signals is not None:
            signals.restore()
    return dataclasses.replace(finished, summary=closed)


async def _run_locked(
    manifest: Manifest,
    options: RunOptions,
    lock: Lockfile,
    key: str,
    base_url: str,
    before: int | None,
    on_event: Callable[[Event], None] | None,
    signals: _StopSignals | None,
) -> FinishedRun:
    reroll = options.reroll_rejected
    if options.shard is not None:
        full = _shard_plan(
            manifest, lock, options.shard, fresh=before is None and not options.lockfile
        )
    else:
        full = plan(manifest, lock)
    if reroll:
        full = full.with_rerolls(rerolls_for_run(manifest, full.jobs, lock.jobs))
    selected = full.select(
        options.only, options.limit, retry_failed=options.retry_failed, reroll_rejected=reroll
    )
    budget = selected.budget_for(
        retry_failed=options.retry_failed, reroll_rejected=reroll, max_credits=options.max_credits
    )
    if budget.max_credits is not None and not budget.within:
        raise BudgetExceededError(budget.to_spend, budget.max_credits, spent=budget.spent)
    lock.adopt_plan(full.jobs)
    out = run_files.output_folder(manifest, lock.path, lock, options.out)
    lock.set_output(out)
    state = RunState(
        spent_before=lock.spent.credits, max_credits=budget.max_credits, on_event=on_event
    )
    if reroll:
        started = start_takes(lock, selected.jobs, full.rerolls, out)
        state.changed = started > 0
        state.emit(Notice("info", reroll_notice(started, selected.totals.credits_to_reroll)))
    scheduler = _Scheduler(manifest, full, selected, lock, options, state, out, signals)
    scheduler.lockfile_untouched = before is not None and _modified(lock.path) == before
    if not scheduler.work:  # nothing to send: no connection pools (nor aiohttp) to set up
        SeedanceClient.check_settings(base_url, key)
        return await scheduler.run(None)
    run_files.probe_output(out)  # before anything is spent
    async with SeedanceClient(
        base_url,
        key,
        requests_per_second=options.requests_per_second or manifest.execution.requests_per_second,
        # sized for requests, not tasks: a few connections keep up with hundreds of tasks
        max_connections=min(CONNECTIONS, max(2, scheduler.concurrency)),
        max_image_connections=min(CONNECTIONS, max(2, scheduler.concurrency)),
        rng=random.Random(options.seed),
        retry=options.retry,
        sleep=options.sleep,
        clock=options.clock,
        wall_clock=options.wall_clock,
        on_retry=state.retried,
    ) as client:
        return await scheduler.run(client)


def _shard_plan(manifest: Manifest, lock: Lockfile, shard: Shard, *, fresh: bool) -> Plan:
    """The shard's jobs: its lockfile holds them alone. A shard lockfile made by this run
    starts from the campaign's lockfile when there is one (a CI job checks out the merged
    lockfile, not its shards'): its records of the shard's tasks in flight, interrupted
    creates and failures are copied in, and the jobs it has as succeeded are left out (see
    :func:`new_shard_plan`), so that nothing done is submitted again."""
    campaign = read_lockfile(default_lockfile_path(manifest.path), manifest.name) if fresh else None
    if campaign is None:
        return plan(manifest, lock).select(shard=shard)
    chosen = new_shard_plan(manifest, shard, campaign)
    for job in chosen.jobs:
        record = campaign.jobs.get(job.id)
        if record is not None and record.state in CARRIED:
            if record.state == "submitting" and record.nonce is None:
                record = record.replace(nonce=campaign.nonce)  # resent under its own key
            lock.put(record)
    if campaign.output is not None:  # beside it: the same relative path means the same folder
        lock.set_output(lock.path.parent / campaign.output)
    full = plan(manifest, lock).select(shard=shard)
    kept = {job.id for job in chosen.jobs}
    return dataclasses.replace(full, jobs=tuple(j for j in full.jobs if j.id in kept))


def _modified(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


class _StopSignals:
    """Ctrl-C, SIGTERM, SIGHUP and SIGQUIT while a run executes (``handle_signals``).

    The first stops the run (in the event loop: stop submitting, cancel, save); any later one,
    until :func:`execute` returns (the lockfile's last save included), calls the options'
    ``on_interrupt_again`` (the command line's leaves at once, exit 130), or without one makes
    :func:`execute` raise :class:`KeyboardInterrupt` (``quit``). Then the handlers from before
    are put back.
    """

    def __init__(self, on_again: Callable[[], None] | None) -> None:
        self.interrupted = False
        self.quit = False
        self._on_again = on_again
        self._previous: dict[int, Any] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._main: asyncio.Task[Any] | None = None

    def install(self, loop: asyncio.AbstractEventLoop, on_first: Callable[[], None]) -> None:
        """Handle the stop signals in ``loop``: the first calls ``on_first``."""

        def signalled() -> None:
            if self.interrupted:
                self._again()
                return
            self.interrupted = True
            on_first()

        for signum in STOP_SIGNALS:
            self._previous.setdefault(signum, signal.getsignal(signum))
            loop.add_signal_handler(signum, signalled)
        self._loop = loop
        self._main = asyncio.current_task()

    def leave_loop(self) -> None:
        """The loop's part is over: once interrupted, a signal is now handled as it comes."""
        loop, self._loop = self._loop, None
        if loop is None:
            return
        for signum in STOP_SIGNALS:
            loop.remove_signal_handler(signum)
            signal.signal(signum, self._handle if self.interrupted else self._before(signum))

    def restore(self) -> None:
        """Put back the handlers from before the run."""
        self.leave_loop()
        for signum in list(self._previous):
            signal.signal(signum, self._before(signum))
        self._previous.clear()

    def _before(self, signum: int) -> Any:
        previous = self._previous.get(signum)
        return signal.SIG_DFL if previous is None else previous

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self._again()

    def _again(self) -> None:
        if self._on_again is not None:
            self._on_again()
        elif self._loop is None:  # in the main thread's own code: raise there
            raise KeyboardInterrupt
        elif self._main is not None:  # in the loop: end the run's task, execute() raises
            self.quit = True
            self._main.cancel()


class _Scheduler:
    """The workers of one run, its downloads, its stop signals and its summary."""

    def __init__(
        self,
        manifest: Manifest,
        full: Plan,
        selected: Plan,
        lock: Lockfile,
        options: RunOptions,
        state: RunState,
        out: Path,
        signals: _StopSignals | None = None,
    ) -> None:
        self.manifest = manifest
        self.full = full
        self.selected = selected
        self.lock = lock
        self.options = options
        self.state = state
        self.out = out
        self.concurrency = options.concurrency or manifest.execution.concurrency
        self.clock = options.clock
        self.jobs = JobRunner(lock, state, out, options, manifest.execution)
        self.lockfile_untouched = False  # not rewritten at the start: the outputs may be current
        self.signals = signals
        # jobs whose task has ended and whose images are downloading, off the task slots
        self._downloading: set[asyncio.Task[None]] = set()
        self._download_slots = asyncio.Semaphore(self.concurrency)
        self._workers: list[asyncio.Task[None]] = []
        self._crashes: list[BaseException] = []
        self._client: SeedanceClient | None = None
        self.work = self._work()

    def _work(self) -> list[Job]:
        """Jobs to submit or poll, and succeeded jobs whose images are no longer on disk."""
        wanted = needs_work(retry_failed=self.options.retry_failed)
        work = []
        for job in self.selected.jobs:
            record = self.lock.jobs[job.id]
            if record.state in wanted or (
                record.state == "succeeded" and not self.jobs.images_on_disk(job, record)
            ):
                work.append(job)
        return work

    async def run(self, client: SeedanceClient | None) -> FinishedRun:
        """Work through :attr:`work`; ``client`` may be None only when there is none."""
        started = self.clock()
        self._client = client
        work = self.work
        records = [self.lock.jobs[job.id] for job in work]
        to_submit = [job for job, r in zip(work, records, strict=True) if r.state != "submitted"]
        self.state.emit(
            RunStarted(
                jobs=len(self.selected.jobs),
                to_submit=len(to_submit),
                to_poll=len(work) - len(to_submit),
                images=sum(job.images for job in work),
                credits_to_spend=sum(job.credits for job in to_submit),
                out=str(self.out),
            )
        )
        queue = deque(work)
        if queue:
            assert client is not None
            self.jobs.learn_from_lockfile(self.full.jobs)
            self._workers = [
                asyncio.create_task(self._worker(client, queue))
                for _ in range(min(self.concurrency, len(queue)))
            ]
        if self.signals is not None:
            self.signals.install(asyncio.get_running_loop(), self._interrupt)
        try:
            with run_collection():
                results = await asyncio.gather(*self._workers, return_exceptions=True)
                await asyncio.gather(*self._downloading, return_exceptions=True)
            results.extend(self._crashes)
            for result in results:
                if isinstance(result, (StopRun, asyncio.CancelledError)):
                    continue
                if isinstance(result, BaseException):
                    raise result
        finally:
            self.jobs.close()
            if self.signals is not None:
                self.signals.leave_loop()
        return self._finish(self.clock() - started)

    def _cancel_all(self, *, but_creates: bool = False) -> None:
        """Cancel every worker and download but those whose create has left (its answer is
        waited for, so that the task id it brings is not lost and its job is no possible
        double charge); ``but_creates``: let every create in flight come back."""
        keep = self.state.creating if but_creates else self.state.sent
        for task in [*self._workers, *self._downloading]:
            if task not in keep:
                task.cancel()

    def _on_stop(self, stop: StopRun) -> None:
        if stop.cancel_others:
            self._cancel_all(but_creates=True)

    def _interrupt(self) -> None:
        """Ctrl-C or SIGTERM: stop submitting, cancel everything but the creates that have left
        (their answers are waited for), save; exit 130 follows."""
        state = self.state
        state.stopped = "interrupted"
        state.stop_submitting = "interrupted"
        state.emit(Notice("warning", "interrupted: saving the lockfile (again to quit now)"))
        self._cancel_all()

    async def _worker(self, client: SeedanceClient, queue: deque[Job]) -> None:
        while queue and self.state.stopped is None:
            job = queue.popleft()
            try:
                ended = await self.jobs.run(client, job)
            except StopRun as stop:
                self._on_stop(stop)
                raise
            except SeedanceBatchError as exc:
                self.state.finished(job, "unfinished", message=str(exc))
                continue
            if ended is not None:
                await self._hand_off(client, job, *ended)

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
            await self.jobs.collect(client, job, record, task)
        except StopRun as stop:
            self._on_stop(stop)
        except SeedanceBatchError as exc:
            self.state.finished(job, "unfinished", message=str(exc))
        except Exception as exc:  # raised by run() once every worker has stopped
            self._crashes.append(exc)
        finally:
            self._download_slots.release()

    # -- the end ---------------------------------------------------------------------------

    def _finish(self, elapsed: float) -> FinishedRun:
        state = self.state
        records = self.lock.jobs  # in plan order since adopt_plan; close() folds the journal
        summary = self._summary(elapsed)
        return FinishedRun(
            summary=summary,
            manifest=self.manifest,
            jobs=self.full.jobs,
            records=records,
            out=self.out,
            changed=state.changed or not self.lockfile_untouched,
            made_anything=bool(state.tasks_made or state.images_saved or state.outcomes),
            journal_failed=state.stopped == "journal",
        )

    def _summary(self, elapsed: float) -> RunSummary:
        """The summary of the selected jobs, from the lockfile's records and the tallies."""
        state = self.state
        records = self.lock.jobs
        by_state: dict[str, int] = {}
        retry_failed_credits = 0
        for job in self.selected.jobs:
            job_state = records[job.id].state
            by_state[job_state] = by_state.get(job_state, 0) + 1
            if job_state in TO_SPEND or job_state == "failed":
                retry_failed_credits += job.credits
        outcomes = list(state.outcomes.values())
        return RunSummary(
            by_state=by_state,
            succeeded=outcomes.count("succeeded"),
            failed=outcomes.count("failed"),
            timed_out=outcomes.count("timed_out"),
            unfinished=outcomes.count("unfinished") + self._untouched(),
            credits_charged=state.charged,
            credits_charged_total=sum(r.credits_charged for r in records.values()),
            possible_double_charges=state.double_charges,
            images_asked=state.images_asked,
            images_delivered=state.images_delivered,
            images_saved=state.images_saved,
            elapsed=elapsed,
            lockfile=self.lock.path,
            results=self.out / RESULTS_NAME,
            gallery=self.out / GALLERY_NAME,
            stopped=state.stopped or state.stop_submitting,
            messages=tuple(str(problem) for problem in state.problems),
            lockfile_bytes_written=self.lock.bytes_written,
            credits_first_attempts=state.charged_first,
            credits_resubmissions=state.charged_again,
            credits_spent_total=self.lock.spent.credits,
            max_credits=state.max_credits,
            retry_failed_credits=retry_failed_credits if by_state.get("failed") else 0,
            unreachable=state.unreachable,
            unrecorded=tuple(state.unrecorded),
            reason=state.reason,
            problems=tuple(state.problems),
            retries=sum(state.retries.values()),
            **self._rate(),
        )

    def _rate(self) -> dict[str, Any]:
        """The rate the client's limiter settled at, and the answers that said to slow down."""
        if self._client is None:
            return {}
        limiter = self._client.limiter
        settled = limiter.settled if math.isfinite(limiter.settled) else None
        return {"settled_rate": settled, "rate_limited": limiter.limited}

    def _untouched(self) -> int:
        """Selected jobs that still need work and got no outcome (a stop came first)."""
        return sum(
            1
            for job in self.selected.jobs
            if job.id not in self.state.outcomes and self.lock.jobs[job.id].state in NEEDS_WORK
        )
