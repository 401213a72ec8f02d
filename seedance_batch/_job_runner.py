"""One job's way through the API: submit, poll, download, record (contract, sections 5 and 7).

A job moves ``new -> submitting`` (written before the create leaves) ``-> submitted`` (written
as soon as the API gives a task id) ``-> succeeded | failed``; every change is in the lockfile
before it matters. A stop of the whole run (a refused key, an unreachable host, a journal that
cannot be written) is said through :class:`RunState` and raised as :class:`StopRun`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
from pathlib import Path

from seedance_batch import _run_files as run_files
from seedance_batch._clock import seconds_since, utc_timestamp
from seedance_batch._errors import (
    ApiError,
    AuthenticationError,
    CreditsExhaustedError,
    DownloadError,
    LockfileWriteError,
    NetworkError,
    RequestRejectedError,
    SeedanceBatchError,
    TaskNotFoundError,
    UnreachableError,
)
from seedance_batch._events import ImageSaved, JobSubmitted, Notice
from seedance_batch._layout import image_relpath
from seedance_batch._manifest import Execution
from seedance_batch._planner import Job
from seedance_batch._poll_schedule import KEPT, TaskDurations
from seedance_batch._run_state import RunState, StopRun
from seedance_batch._run_values import RunOptions
from seedance_batch.client import SeedanceClient, Task
from seedance_batch.lockfile import ImageRecord, JobRecord, Lockfile

__all__ = ["Ended", "JobRunner", "has_task"]

#: In how many runs a task must answer 404 before its job is marked failed.
MISSING_RUNS = 2
#: Dropped image URLs named in the warning, at most (the rest are counted).
DROPPED_NAMED = 5

#: A job whose task has ended well: its images are to be downloaded.
Ended = tuple[JobRecord, Task]


def has_task(record: JobRecord) -> bool:
    """The job has a task to poll: ``submitted``, or ``submitting`` with a task id (never
    submitted again)."""
    return record.state == "submitted" or (record.state == "submitting" and bool(record.task_id))


def _may_exist(exc: SeedanceBatchError) -> bool:
    """True when a create that raised ``exc`` may have made a task (and a charge)."""
    return isinstance(exc, (ApiError, NetworkError)) and exc.task_may_exist


def _dropped_urls(urls: tuple[str, ...]) -> str:
    named = ", ".join(urls[:DROPPED_NAMED])
    more = len(urls) - DROPPED_NAMED
    return named + (f" and {more} more" if more > 0 else "")


class JobRunner:
    """Takes one job at a time from its lockfile state to its end in this run.

    The options' ``clock`` (monotonic) times the polling schedule and the task timeout, their
    ``wall_clock`` stamps the lockfile and measures how long ago a resumed task was submitted,
    their ``sleep`` waits between polls: a test runs a schedule without waiting.
    """

    def __init__(
        self,
        lock: Lockfile,
        state: RunState,
        out: Path,
        options: RunOptions,
        execution: Execution,
    ) -> None:
        self.lock = lock
        self.state = state
        self.out = out
        self.poll_interval = options.poll_interval or execution.poll_interval
        self.poll_max = max(options.poll_max or execution.poll_max, self.poll_interval)
        self.task_timeout = options.task_timeout or execution.task_timeout
        self.max_attempts = options.max_attempts or execution.max_attempts
        self.rng = random.Random(options.seed)
        self.durations = TaskDurations(self.poll_interval, self.poll_max, self.rng)
        self.clock = options.clock
        self.wall_clock = options.wall_clock
        self.sleep = options.sleep
        self._parents: dict[str, Path] = {}
        #: fsyncs the images written on the event loop, a group at a time
        self.syncer = run_files.GroupSync()

    def close(self) -> None:
        """Stop the images' syncer (every download has ended)."""
        self.syncer.close()

    def learn_from_lockfile(self, jobs: tuple[Job, ...]) -> None:
        """Learn task durations from the lockfile's succeeded jobs (a resumed campaign): the
        seconds from ``submitted_at`` to ``finished_at``, a whole second at most late."""
        durations = self.durations
        for job in jobs:
            record = self.lock.jobs.get(job.id)
            if record is None or record.state != "succeeded" or not record.finished_at:
                continue
            kind = (job.model, job.resolution)
            if durations.count(kind) >= KEPT:
                continue
            now = self.wall_clock()
            took = seconds_since(record.submitted_at, now) - seconds_since(record.finished_at, now)
            if record.submitted_at and took > 0:
                durations.learn(kind, max(0.0, took - 1.0), took)

    def _now(self) -> str:
        return utc_timestamp(self.wall_clock())

    # -- the lockfile ----------------------------------------------------------------------

    def put(self, record: JobRecord) -> JobRecord:
        """Record a state change; a journal that cannot be written stops the run at once."""
        try:
            self.lock.put(record)
        except LockfileWriteError as exc:
            self._journal_failed(record, exc)
            raise StopRun(cancel_others=True) from exc
        self.state.changed = True
        return record

    def _journal_failed(self, record: JobRecord, exc: LockfileWriteError) -> None:
        """Keep the task id the lockfile could not take, for the summary, and stop."""
        kept = self.lock.jobs.get(record.id)
        lost = (record.id, record.task_id) if record.task_id else None
        unrecorded = self.state.unrecorded
        if lost and (kept is None or kept.task_id != record.task_id) and lost not in unrecorded:
            unrecorded.append(lost)
        self.state.stop("journal", f"the lockfile cannot be written, the run stops: {exc}")

    # -- from the lockfile's state to an ended task ------------------------------------------

    async def run(self, client: SeedanceClient, job: Job) -> Ended | None:
        """Submit (again, up to ``max_attempts``) and poll the job until its task ends; the
        ended task when its images are to be downloaded (:meth:`collect`), else None (the
        job's outcome is set, or it is left for the next run)."""
        record = self.lock.jobs[job.id]
        if record.state == "succeeded":  # images went missing: fetch them again, at no charge
            await self._fetch_again(client, job, record)
            return None
        attempts_here = 0
        task: Task | None = None
        announce: str | None = None
        while True:
            if not has_task(record):
                submitted = await self._submit(client, job, record, announce)
                if submitted is None:
                    self._not_submitted(job)
                    return None
                record, task = submitted
                attempts_here += 1
                if self.state.stopped == "interrupted":  # a create that had left came back
                    return None
            task = await self._poll(client, job, record, task)
            if task is None:
                return None
            if task.status != "failed":
                return record, task
            error = task.error or f"the task ended as {task.status_word or 'failed'}"
            record = self.put(
                record.replace(
                    state="failed", error=error, finished_at=self._now(), task_id=record.task_id
                )
            )
            if task.policy_rejection:
                final = f"{error} (a content-policy rejection is final: not submitted again)"
                self.state.finished(job, "failed", message=final)
                return None
            if attempts_here >= self.max_attempts:
                self.state.finished(job, "failed", message=error)
                return None
            announce = (
                f"{job.job} {job.id}: task failed ({error}); submitting again: attempt "
                f"{attempts_here + 1} of {self.max_attempts}, {job.credits} credits"
            )
            task = None

    def _not_submitted(self, job: Job) -> None:
        """A job this run did not (or no longer) submit: a failed one is counted failed, with
        why it was not submitted again; a new one is left for the next run."""
        if job.id in self.state.outcomes:
            return
        record = self.lock.jobs[job.id]
        if record.state == "failed":
            why = {"budget": "the budget is reached", "credits": "the API refused for credits"}
            reason = why.get(self.state.stop_submitting or "", "the run stopped")
            message = f"{record.error}; not submitted again: {reason}"
            self.state.finished(job, "failed", message=message)

    async def _fetch_again(self, client: SeedanceClient, job: Job, record: JobRecord) -> None:
        self.state.emit(Notice("info", f"{job.job} {job.id}: images missing; downloading again"))
        task = await self._poll(client, job, record, None)
        if task is not None and task.status == "succeeded":
            await self.collect(client, job, record, task)
        elif task is not None:
            self.state.finished(job, "unfinished", message="images missing; the task is gone")

    # -- submitting ------------------------------------------------------------------------

    async def _submit(
        self, client: SeedanceClient, job: Job, record: JobRecord, announce: str | None = None
    ) -> Ended | None:
        """Send the job's create; None when it was not sent or gave no task (then the job's
        outcome is set, or it is left for the next run)."""
        state = self.state
        if state.stop_submitting is not None:
            return None
        resend = record.state == "submitting"  # a crash left a create without its answer
        # a resend may be charged on top of the create it repeats: reserve both
        if not state.reserve(job.credits * (2 if resend else 1)):
            return None
        if announce:
            state.emit(Notice("info", announce))
        before = record
        if resend:
            state.emit(
                Notice(
                    "warning",
                    f"{job.job} {job.id}: a create from an earlier run got no answer; sending it "
                    "again with the same Idempotency-Key (possible double charge)",
                )
            )
        else:
            record = self.put(
                record.replace(
                    state="submitting",
                    attempts=record.attempts + 1,
                    task_id=None,
                    error=None,
                    images=(),
                    submitted_at=None,
                    finished_at=None,
                    task_missing=0,
                    nonce=None,  # a new create: this lockfile's key
                )
            )
        sent = False
        worker = asyncio.current_task()

        def on_send() -> None:
            nonlocal sent
            sent = True
            if worker is not None:
                state.sent.add(worker)

        def may_retry() -> bool:  # not after an interrupt: the answer is waited for, once
            return state.stopped != "interrupted"

        def may_resend() -> bool:  # a resend that could be charged twice counts first
            return state.reserve(job.credits)

        if worker is not None:
            state.creating.add(worker)
        try:
            outcome = await client.create(
                job.request,
                self.lock.idempotency_key(record),
                may_retry=may_retry,
                may_resend=may_resend,
                on_send=on_send,
            )
        except asyncio.CancelledError:
            if not sent and not resend:  # it never left: nothing to charge, no alarm
                state.reserved -= job.credits
                self.put(before)
            raise
        except SeedanceBatchError as exc:
            self._create_failed(job, record, before, exc, resend)
            return None
        finally:
            state.creating.discard(worker)
            state.sent.discard(worker)
        return self._submitted(job, record, outcome.task, outcome.ambiguous_attempts, resend)

    def _submitted(
        self, job: Job, record: JobRecord, task: Task, doubles: int, resend: bool
    ) -> Ended:
        state = self.state
        doubles += 1 if resend else 0
        credits = job.credits * (1 + doubles)
        state.double_charges += doubles
        state.charged += credits
        if record.attempts <= 1:
            state.charged_first += credits
        else:
            state.charged_again += credits
        state.tasks_made += 1
        record = self.put(
            record.replace(
                state="submitted",
                task_id=task.id,
                submitted_at=self._now(),
                credits_charged=record.credits_charged + credits,
                possible_double_charges=record.possible_double_charges + doubles,
            )
        )
        state.emit(JobSubmitted(job.id, task.id, credits, bool(doubles), record.attempts > 1))
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
        state = self.state
        if not (_may_exist(exc) or resend):
            state.reserved -= job.credits
        if isinstance(exc, AuthenticationError):
            self._revert(record, before, exc, keep_key=True)
            state.stop("auth", f"the API refused the key: {exc}")
            raise StopRun from exc
        if isinstance(exc, UnreachableError):
            self._revert(record, before, exc, keep_key=True)
            state.unreachable = str(exc)
            state.stop("unreachable", f"{exc}; the run stops (a rerun resumes)")
            raise StopRun from exc
        if isinstance(exc, CreditsExhaustedError):
            self._revert(record, before, exc, keep_key=True)
            if state.stop_submitting is None:
                state.stop_submitting = "credits"
                state.reason = f"the API refused for credits: {exc}"
                state.emit(Notice("error", f"no credits left ({exc}): polling what is in flight"))
            return
        if isinstance(exc, RequestRejectedError):
            message = exc.api_message
            self.put(record.replace(state="failed", error=message, finished_at=self._now()))
            state.finished(job, "failed", message=message)
            return
        conflict = isinstance(exc, ApiError) and exc.status == 409
        self._revert(record, before, exc, keep_key=conflict or isinstance(exc, NetworkError))
        message = str(exc)
        if conflict:
            message += " (the next run sends the same Idempotency-Key)"
        state.finished(job, "unfinished", message=message)

    def _revert(
        self, record: JobRecord, before: JobRecord, exc: SeedanceBatchError, *, keep_key: bool
    ) -> None:
        """A create that got no task: back to ``new`` unless it may have reached the API.

        ``keep_key``: nothing under this attempt's key was taken by the API (it was never
        sent, or a 409 says the key is still in use): the next create is the same attempt,
        with the same Idempotency-Key.
        """
        if record is before or (record.state == "submitting" and _may_exist(exc)):
            self.put(record.replace(error=str(exc)))  # it may have reached the API
        elif keep_key:
            self.put(before.replace(error=str(exc)) if before.state == "new" else before)
        else:
            self.put(record.replace(state="new", error=str(exc)))

    # -- polling ---------------------------------------------------------------------------

    async def _poll(
        self, client: SeedanceClient, job: Job, record: JobRecord, task: Task | None
    ) -> Task | None:
        """Poll the job's task until it ends, as :class:`TaskDurations` schedules it (at once
        for a task an earlier run made); a task that ends here teaches its kind's duration.
        A task still running past ``task_timeout`` (a resumed one gets ``poll_max`` at least)
        is left ``submitted`` for the next run: None."""
        if task is not None and task.status != "running":
            return task
        assert record.task_id is not None
        resumed = task is None
        age = seconds_since(record.submitted_at, self.wall_clock())
        deadline = self.clock() + max(self.task_timeout - age, self.poll_max if resumed else 0.0)
        kind = (job.model, job.resolution)
        started = self.clock()
        running: float | None = None
        seen = started  # when the latest poll left: what its answer tells of, however it queued

        def on_slot() -> None:
            nonlocal seen
            seen = self.clock()

        for delay in self.durations.schedule(kind, age if resumed else 0.0, resumed=resumed):
            if delay:
                await self.sleep(delay)
            try:
                task = await client.get_task(record.task_id, on_slot=on_slot)
            except (ApiError, NetworkError) as exc:
                self._poll_failed(job, record, exc)
                return None
            if task.status != "running":
                if not resumed:
                    self.durations.learn(kind, running, seen - started)
                return task
            if self.clock() >= deadline:
                message = f"still {task.status_word!r} after the task timeout"
                self.state.finished(job, "timed_out", message=message)
                return None
            running = seen - started
        raise AssertionError("a poll schedule never ends")  # pragma: no cover

    def _poll_failed(self, job: Job, record: JobRecord, exc: SeedanceBatchError) -> None:
        if isinstance(exc, AuthenticationError):
            self.state.stop("auth", f"the API refused the key: {exc}")
            raise StopRun from exc
        if isinstance(exc, UnreachableError):
            self.state.unreachable = str(exc)
            self.state.stop("unreachable", f"{exc}; the run stops (a rerun resumes)")
            raise StopRun from exc
        if isinstance(exc, TaskNotFoundError) and has_task(record):
            self._task_missing(job, record)
            return
        self.state.finished(job, "unfinished", message=f"polling: {exc}")

    def _task_missing(self, job: Job, record: JobRecord) -> None:
        """The API answers 404 for the job's task: counted once per run; after
        :data:`MISSING_RUNS` runs the job is failed, for ``--retry-failed`` to submit again."""
        missing = record.task_missing + 1
        if missing >= MISSING_RUNS:
            message = (
                f"the API no longer knows task {record.task_id} (404 in {missing} runs); "
                "`--retry-failed` submits the job again"
            )
            self.put(
                record.replace(
                    state="failed", error=message, finished_at=self._now(), task_missing=missing
                )
            )
            self.state.finished(job, "failed", message=message)
            return
        message = (
            f"the API does not know task {record.task_id} (404); the next run asks again, "
            f"and marks the job failed if it still does not"
        )
        self.put(record.replace(task_missing=missing, error=message))
        self.state.finished(job, "unfinished", message=message)

    # -- downloading -----------------------------------------------------------------------

    def images_on_disk(self, job: Job, record: JobRecord) -> bool:
        """Every recorded image is in place: a regular file (no link) of its recorded size (a
        stat, not a hash). Images left at an old path (the job renamed) are moved first."""
        folder = job.output + "/"
        if not run_files.in_planned_place(job, record):
            record = self.put(run_files.move_renamed(self.out, job, record))
        # os.path, not pathlib: a rerun stats every image there is
        return run_files.images_in_place(os.fspath(self.out), record, folder)

    async def collect(
        self, client: SeedanceClient, job: Job, record: JobRecord, task: Task
    ) -> None:
        """Download the ended task's images (at most ``n``) into the job's folder, checked and
        renamed into place, and record the job ``succeeded`` (or why it did not)."""
        state = self.state
        urls = task.image_urls[: job.images]
        dropped = task.image_urls[job.images :]
        if not urls:
            message = "the task succeeded without any image URL"
            self.put(record.replace(state="failed", error=message, finished_at=self._now()))
            state.finished(job, "failed", message=message)
            return
        state.images_asked += job.images
        state.images_delivered += len(urls)
        # ``<out>/<job>/<slug>-<id8>``, never out of ``<out>`` (OutputError), made in the
        # thread that writes its first image
        folder = run_files.FolderOnce(
            run_files.job_folder_path(self.out, job.output, self._parents)
        )
        images: list[ImageRecord] = []
        for index, url in enumerate(urls, start=1):
            try:
                image = await self._download(client, folder, job, index, url, take=record.take)
            except DownloadError as exc:
                if getattr(exc, "status", None) in (403, 404, 410):
                    self.put(
                        record.replace(state="failed", error=str(exc), finished_at=self._now())
                    )
                    state.finished(job, "failed", message=str(exc))
                else:
                    state.finished(job, "unfinished", message=str(exc))
                return
            images.append(image)
            state.images_saved += 1
            state.emit(ImageSaved(job.id, image.path, image.bytes, image.sha256))
        warning = self._delivery_warning(job, len(urls), dropped)
        self.put(
            record.replace(
                state="succeeded", images=tuple(images), error=warning, finished_at=self._now()
            )
        )
        state.finished(job, "succeeded", delivered=len(urls), message=warning)

    async def _download(
        self,
        client: SeedanceClient,
        folder: run_files.FolderOnce,
        job: Job,
        index: int,
        url: str,
        *,
        take: int,
    ) -> ImageRecord:
        """The one place an image is downloaded: to a temporary in ``folder`` (made with the
        file), checked, then renamed to its name in the layout (image ``index`` of ``take``)."""
        partial = run_files.download_temporary(folder.path, index)
        sink = run_files.ImageFile(partial, self.syncer, folder)
        try:
            download = await client.download(url, sink)
        except DownloadError:
            with contextlib.suppress(OSError):
                partial.unlink()
            raise
        relpath = image_relpath(job.output, index, download.ext, take)
        run_files.install_image(partial, folder.path / relpath.rpartition("/")[2])
        return ImageRecord(url, relpath, download.sha256, download.bytes)

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
        self.state.emit(Notice("warning", f"{job.job} {job.id}: {warning}"))
        return warning
