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
from seedance_batch._client import SeedanceClient, Task
from seedance_batch._errors import (
    ApiError,
    AuthenticationError,
    BudgetExceededError,
    ConfigurationError,
    CreditsExhaustedError,
    DownloadError,
    NetworkError,
    RequestRejectedError,
    SeedanceBatchError,
)
from seedance_batch._events import Event, ImageSaved, JobFinished, JobSubmitted, Notice, RunStarted
from seedance_batch._gallery import GALLERY_NAME, write_gallery
from seedance_batch._layout import image_relpath
from seedance_batch._lockfile import ImageRecord, JobRecord, Lockfile, default_lockfile_path
from seedance_batch._manifest import Manifest
from seedance_batch._planner import Job, Plan, plan
from seedance_batch._results import RESULTS_NAME, result_lines, write_results
from seedance_batch._retry import RetryPolicy

__all__ = [
    "API_KEY_VARIABLE",
    "BASE_URL_VARIABLE",
    "DEFAULT_BASE_URL",
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


@dataclass(frozen=True)
class RunSummary:
    """How a run ended: states of the selected jobs, credits, images and what stopped it."""

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

    @property
    def exit_code(self) -> int:
        """0 all selected jobs succeeded; 1 some failed or wait; 3 refused (key, credits, or the
        budget reached by retries); 130 interrupted."""
        if self.stopped == "interrupted":
            return EXIT_INTERRUPTED
        if self.stopped in ("credits", "auth", "budget"):
            return EXIT_REFUSED
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

    Before any request: the lockfile is locked and loaded, the budget checked
    (:class:`BudgetExceededError`), the key found (:class:`ConfigurationError`).
    """
    key = api_key if api_key is not None else api_key_from_environment()
    base_url = options.base_url or os.environ.get(BASE_URL_VARIABLE) or DEFAULT_BASE_URL
    lock_path = options.lockfile or default_lockfile_path(manifest.path)
    before = _modified(lock_path)
    with Lockfile.open(
        lock_path, manifest_name=manifest.name, manifest_sha256=manifest.sha256
    ) as lock:
        full = plan(manifest, lock)
        selected = full.select(options.only, options.limit, retry_failed=options.retry_failed)
        max_credits = (
            options.max_credits if options.max_credits is not None else manifest.max_credits
        )
        to_spend = selected.totals.credits_to_spend
        if options.retry_failed:
            to_spend += selected.totals.credits_to_retry
        if max_credits is not None and to_spend > max_credits:
            raise BudgetExceededError(to_spend, max_credits)
        lock.adopt_plan(full.jobs)
        runner = _Runner(manifest, full, selected, lock, options, max_credits, on_event)
        runner.lockfile_untouched = before is not None and _modified(lock_path) == before
        if not runner.work:  # nothing to send: no connection pools (nor aiohttp) to set up
            SeedanceClient.check_settings(base_url, key)
            summary = await runner.run(None)
            return dataclasses.replace(summary, lockfile_bytes_written=lock.bytes_written)
        run_files.probe_output(runner.out)  # before anything is spent
        async with SeedanceClient(
            base_url,
            key,
            requests_per_second=options.requests_per_second
            or manifest.execution.requests_per_second,
            # sized for requests, not tasks: a few connections keep up with hundreds of tasks
            max_connections=min(CONNECTIONS, max(2, runner.concurrency)),
            max_image_connections=min(CONNECTIONS, max(2, runner.concurrency)),
            rng=random.Random(options.seed),
            retry=options.retry,
        ) as client:
            summary = await runner.run(client)
    # closing folded the journal into the lockfile: count those bytes too
    return dataclasses.replace(summary, lockfile_bytes_written=lock.bytes_written)


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


class _Stop(Exception):
    """The run must stop at once (the API refused the key)."""


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
    ) -> None:
        execution = manifest.execution
        self.manifest = manifest
        self.full = full
        self.selected = selected
        self.lock = lock
        self.options = options
        self.out = options.out or manifest.output_dir
        self.max_credits = max_credits
        self.emit = on_event or (lambda _event: None)
        self.concurrency = options.concurrency or execution.concurrency
        self.poll_interval = options.poll_interval or execution.poll_interval
        self.poll_max = max(options.poll_max or execution.poll_max, self.poll_interval)
        self.task_timeout = options.task_timeout or execution.task_timeout
        self.max_attempts = options.max_attempts or execution.max_attempts
        self.rng = random.Random(options.seed)
        self.reserved = 0  # credits this run has sent creates for (possible doubles included)
        self.charged = 0
        self.double_charges = 0
        self.stop_submitting: str | None = None
        self.stopped: str | None = None
        self.outcomes: dict[str, str] = {}
        self.images_asked = self.images_delivered = self.images_saved = 0
        self.messages: list[str] = []
        self.changed = False
        self.lockfile_untouched = False
        self._parents: dict[str, Path] = {}
        # jobs whose task has ended and whose images are downloading, off the task slots
        self._downloading: set[asyncio.Task[None]] = set()
        self._download_slots = asyncio.Semaphore(self.concurrency)
        self._crashes: list[BaseException] = []
        self.work = self._work()

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
        workers = []
        if queue:
            assert client is not None
            workers = [
                asyncio.create_task(self._worker(client, queue))
                for _ in range(min(self.concurrency, len(queue)))
            ]
        remove_handlers = self._install_signal_handlers(workers)
        try:
            results = await asyncio.gather(*workers, return_exceptions=True)
            await asyncio.gather(*self._downloading, return_exceptions=True)
            results.extend(self._crashes)
            for result in results:
                if isinstance(result, _Stop):
                    continue
                if isinstance(result, BaseException) and not isinstance(
                    result, asyncio.CancelledError
                ):
                    raise result
        finally:
            remove_handlers()
        return self._finish(time.monotonic() - started)

    def _install_signal_handlers(self, workers: list[asyncio.Task[None]]) -> Callable[[], None]:
        if not self.options.handle_signals:
            return lambda: None
        loop = asyncio.get_running_loop()

        def interrupt() -> None:
            if self.stopped == "interrupted":
                os._exit(EXIT_INTERRUPTED)  # a second Ctrl-C: at once; the journal is valid
            self.stopped = "interrupted"
            self.stop_submitting = "interrupted"
            self.emit(Notice("warning", "interrupted: saving the lockfile (again to quit now)"))
            for task in [*workers, *self._downloading]:
                task.cancel()

        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, interrupt)

        def remove() -> None:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)

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

    def _outputs_current(self, results: Path, gallery: Path) -> bool:
        """True when results.jsonl and index.html are as the last run left them and nothing
        changed since: the lockfile was not rewritten at the start and no state changed."""
        return (
            self.lockfile_untouched and not self.changed and results.is_file() and gallery.is_file()
        )

    def _finish(self, elapsed: float) -> RunSummary:
        records = self.lock.jobs  # in plan order since adopt_plan; close() folds the journal
        results = self.out / RESULTS_NAME
        gallery = self.out / GALLERY_NAME
        if not self._outputs_current(results, gallery):  # a rerun with nothing to do skips them
            results = write_results(self.out, result_lines(self.full.jobs, records))
            gallery = write_gallery(self.out, self.manifest, self.full.jobs, records)
        by_state: dict[str, int] = {}
        for job in self.selected.jobs:
            state = records[job.id].state
            by_state[state] = by_state.get(state, 0) + 1
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
            results=results,
            gallery=gallery,
            stopped=self.stopped or self.stop_submitting,
            messages=tuple(self.messages),
            lockfile_bytes_written=self.lock.bytes_written,
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
            self.messages.append(f"{job.job} {job.id}: {message}")
        self.emit(JobFinished(job.id, outcome, job.images, delivered, message))

    def _job_folder(self, job: Job) -> Path:
        """``<out>/<job>/<slug>-<id8>``, made if missing, never out of ``<out>`` (OutputError)."""
        return run_files.job_folder(self.out, job.output, self._parents)

    def _put(self, record: JobRecord) -> JobRecord:
        self.lock.put(record)
        self.changed = True
        return record

    def _reserve(self, credits: int) -> bool:
        """Count ``credits`` against the budget before a create that may be charged."""
        if self.max_credits is not None and self.reserved + credits > self.max_credits:
            if self.stop_submitting is None:
                self.stop_submitting = "budget"
                self.emit(Notice("warning", "budget reached: no more tasks are submitted"))
            return False
        self.reserved += credits
        return True

    async def _process(self, client: SeedanceClient, job: Job) -> None:
        record = self.lock.jobs[job.id]
        attempts_here = 0
        task: Task | None = None
        if record.state == "succeeded":  # images went missing: fetch them again, at no charge
            self.emit(Notice("info", f"{job.job} {job.id}: images missing; downloading again"))
            task = await self._poll(client, job, record, None)
            if task is not None and task.status == "succeeded":
                await self._collect(client, job, record, task)
            elif task is not None:
                self._finished(job, "unfinished", message="images missing; the task is gone")
            return
        while True:
            if record.state != "submitted":
                if attempts_here >= self.max_attempts:
                    self._finished(job, "failed", message=record.error)
                    return
                submitted = await self._submit(client, job, record)
                if submitted is None:
                    return
                record, task = submitted
                attempts_here += 1
            task = await self._poll(client, job, record, task)
            if task is None:
                return
            if task.status == "failed":
                error = task.error or f"the task ended as {task.status_word or 'failed'}"
                record = self._put(
                    record.replace(
                        state="failed", error=error, finished_at=_now(), task_id=record.task_id
                    )
                )
                if attempts_here >= self.max_attempts or self.stop_submitting:
                    self._finished(job, "failed", message=error)
                    return
                self.emit(
                    Notice("info", f"{job.job} {job.id}: task failed ({error}); submitting again")
                )
                task = None
                continue
            await self._hand_off(client, job, record, task)
            return

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
        except SeedanceBatchError as exc:
            self._finished(job, "unfinished", message=str(exc))
        except Exception as exc:  # raised by run() once every worker has stopped
            self._crashes.append(exc)
        finally:
            self._download_slots.release()

    async def _submit(
        self, client: SeedanceClient, job: Job, record: JobRecord
    ) -> tuple[JobRecord, Task] | None:
        if self.stop_submitting is not None:
            return None
        resend = record.state == "submitting"  # a crash left a create without its answer
        if not self._reserve(job.credits):
            return None
        if resend:
            self.double_charges += 1
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
                )
            )
        try:
            outcome = await client.create(
                job.request,
                self.lock.idempotency_key(record),
                may_resend=lambda: self._reserve(job.credits),
            )
        except AuthenticationError as exc:
            self._revert(record, exc)
            self.stopped = "auth"
            self.stop_submitting = "auth"
            self.messages.append(f"the API refused the key: {exc}")
            raise _Stop from exc
        except CreditsExhaustedError as exc:
            self._revert(record, exc)
            self.reserved -= job.credits
            if self.stop_submitting is None:
                self.stop_submitting = "credits"
                self.messages.append(f"the API refused for credits: {exc}")
                self.emit(Notice("error", f"no credits left ({exc}): polling what is in flight"))
            return None
        except RequestRejectedError as exc:
            self.reserved -= job.credits
            self._put(record.replace(state="failed", error=exc.api_message, finished_at=_now()))
            self._finished(job, "failed", message=exc.api_message)
            return None
        except ApiError as exc:
            if not exc.task_may_exist:
                self.reserved -= job.credits
            self._revert(record, exc)
            self._finished(job, "unfinished", message=str(exc))
            return None
        except NetworkError as exc:
            if not exc.task_may_exist:
                self.reserved -= job.credits
            self._revert(record, exc)
            self._finished(job, "unfinished", message=str(exc))
            return None
        doubles = outcome.ambiguous_attempts
        self.double_charges += doubles
        self.charged += job.credits * (1 + doubles)
        record = self._put(
            record.replace(
                state="submitted",
                task_id=outcome.task.id,
                submitted_at=_now(),
                credits_charged=record.credits_charged + job.credits * (1 + doubles),
                possible_double_charges=record.possible_double_charges
                + doubles
                + (1 if resend else 0),
            )
        )
        self.emit(JobSubmitted(job.id, outcome.task.id, job.credits, bool(doubles) or resend))
        return record, outcome.task

    def _revert(self, record: JobRecord, exc: SeedanceBatchError) -> None:
        """A create that got no task: back to ``new`` unless it may have reached the API."""
        may_exist = bool(getattr(exc, "task_may_exist", False))
        if may_exist:
            self._put(record.replace(error=str(exc)))
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
                if isinstance(exc, AuthenticationError):
                    self.stopped = "auth"
                    raise _Stop from exc
                self._finished(job, "unfinished", message=f"polling: {exc}")
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

    async def _collect(
        self, client: SeedanceClient, job: Job, record: JobRecord, task: Task
    ) -> None:
        urls = task.image_urls
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
                download = await client.download(url, partial)
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
        warning = None
        if len(urls) < job.images:
            warning = f"asked for {job.images} images, the API delivered {len(urls)}"
            self.emit(Notice("warning", f"{job.job} {job.id}: {warning}"))
        self._put(
            record.replace(
                state="succeeded", images=tuple(images), error=warning, finished_at=_now()
            )
        )
        self._finished(job, "succeeded", delivered=len(urls), message=warning)
