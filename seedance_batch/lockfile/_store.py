"""The store: a lockfile opened for a run, its changes journalled at once and folded in at the end.

During a run every state change is one line appended to the journal beside the lockfile, with a
single ``os.write`` on an ``O_APPEND`` descriptor: once :meth:`Lockfile.put` returns, a
``kill -9`` loses nothing, and a background thread ``fdatasync``\\ s the journal within
``durable_within`` seconds (1 s) of a change. A change costs one record, never O(jobs). The
journal is folded into the lockfile (an atomic replace, then the journal is cut back) when the
run ends and when the next one starts. Folding is idempotent (each line is a whole record), so a
crash between the replace and the cut is harmless.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType, TracebackType

from seedance_batch import _files
from seedance_batch._errors import LockfileError, LockfileWriteError, OutputError
from seedance_batch.lockfile._check import record_problem
from seedance_batch.lockfile._journal import (
    HEADER_SIZE,
    Content,
    fold,
    journal_path,
    read_journal,
)
from seedance_batch.lockfile._read import LockfileSnapshot, load_content, mismatch
from seedance_batch.lockfile._records import JobRecord, PlannedJob, Spent
from seedance_batch.lockfile._render import compact, put_line, render_lockfile
from seedance_batch.lockfile._runlock import NOFOLLOW, RunLock

__all__ = ["Lockfile"]


class _Syncer:
    """A thread that fdatasyncs the journal at most ``interval`` seconds after a change."""

    def __init__(self, fd: int, interval: float) -> None:
        self._fd = fd
        self._batch = max(0.0, min(interval / 4, 0.25))
        self._wake = threading.Condition()
        self._dirty = False
        self._stopping = False
        self.error: OSError | None = None
        self.syncs = 0
        self._thread = threading.Thread(target=self._run, name="lockfile-fsync", daemon=True)
        self._thread.start()

    def mark(self) -> None:
        """A change was written: sync it within the interval. Only the first change after a
        sync wakes the thread; while it is dirty, the sync it has yet to start covers this one
        too (it clears the flag before it syncs), and no put pays a wake-up."""
        if self._dirty:
            return
        with self._wake:
            self._dirty = True
            self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._dirty and not self._stopping:
                    self._wake.wait()
                if not self._dirty:
                    return
                deadline = time.monotonic() + self._batch
                while not self._stopping:  # gather a few more changes into this sync
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._wake.wait(remaining)
                self._dirty = False
            self.sync()

    def sync(self) -> None:
        try:
            _datasync(self._fd)
            self.syncs += 1
        except OSError as exc:
            self.error = exc

    def stop(self) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify()
        self._thread.join()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()


_datasync: Callable[[int], None] = getattr(os, "fdatasync", os.fsync)
#: States after which a job seldom changes again: its plan fields' JSON is not kept.
_ENDED = frozenset({"succeeded", "failed"})


def _relative_output(out: Path, folder: Path) -> str:
    try:
        relative = os.path.relpath(out, folder)
    except ValueError:  # another drive: no relative path leads there
        return Path(os.path.abspath(out)).as_posix()
    return Path(relative).as_posix()


class Lockfile:
    """A lockfile opened for a run: holds the run lock until :meth:`close`. A context manager.

    Open with :meth:`Lockfile.open`. ``jobs`` is a live read-only view, in file order (take a
    :meth:`snapshot` to iterate while other threads put). Every method is thread-safe. A change
    that cannot be written raises :class:`LockfileWriteError` and leaves memory as it was.
    """

    def __init__(
        self,
        path: Path,
        *,
        manifest_name: str,
        manifest_sha256: str,
        durable_within: float,
        lock: RunLock,
        adopt: bool = False,
    ) -> None:
        self.path = path
        self.journal_path = journal_path(path)
        self.manifest_name = manifest_name
        self.manifest_sha256 = manifest_sha256
        self._lock = lock
        self._mutex = threading.RLock()
        self._closed = False
        self._jobs: dict[str, JobRecord] = {}
        self._nonce = ""
        self._spent = Spent()
        self._output: str | None = None
        self._fd = -1
        self._syncer: _Syncer | None = None
        self._dirty = False  # the lockfile on disk lacks changes that the journal has
        self._journal_size = HEADER_SIZE
        #: each job in progress: a record and its plan fields as JSON, ``{"job":..."request":{..}``
        self._plans: dict[str, tuple[JobRecord, str]] = {}
        #: bytes written to the lockfile and the journal by this object (for benchmarks)
        self.bytes_written = 0
        self._load(durable_within, adopt)

    # -- opening -------------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        manifest_name: str,
        manifest_sha256: str,
        adopt: bool = False,
        durable_within: float = 1.0,
    ) -> Lockfile:
        """Take the run lock, load the lockfile, fold a leftover journal and save the result.

        Raises :class:`LockHeldError` at once (exit 4) when another process holds the lock,
        naming it; :class:`LockfileMismatchError` when the lockfile is another campaign's
        (another manifest name) unless ``adopt``, which takes it over under the new name;
        :class:`LockfileError` when the lockfile or journal is unreadable; and
        :class:`OutputError` (exit 1) when the journal (the lock) cannot be created or locked,
        as in a read-only folder.
        """
        if not durable_within > 0:
            raise ValueError("durable_within must be > 0")
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError.from_os_error(path.parent, exc, "cannot create the folder") from exc
        lock = RunLock.take(path)
        try:
            return cls(
                path,
                manifest_name=manifest_name,
                manifest_sha256=manifest_sha256,
                durable_within=durable_within,
                lock=lock,
                adopt=adopt,
            )
        except BaseException:
            lock.release()
            raise

    def _load(self, durable_within: float, adopt: bool) -> None:
        loaded = load_content(self.path)
        if loaded is not None and loaded.name != self.manifest_name and not adopt:
            raise mismatch(self.path, str(loaded.name), self.manifest_name)
        parsed = read_journal(self.journal_path)
        if parsed.header is None:  # the header writer wrote one unless the file is foreign
            raise LockfileError(f"{self.journal_path}:1: not a seedance-batch journal header")
        state = loaded or Content.empty()
        fold(state, parsed.ops)
        self._jobs = state.jobs
        self._spent = state.spent
        self._output = state.output
        self._nonce = state.nonce or secrets.token_hex(8)
        self._remove_stale_temporaries()
        self._fd = self._open_journal()
        try:
            changed = (
                loaded is None
                or bool(parsed.ops)
                or parsed.torn
                or (loaded.name, loaded.sha256) != (self.manifest_name, self.manifest_sha256)
                or loaded.nonce is None
            )
            if changed:
                self._save()
            elif os.fstat(self._fd).st_size != HEADER_SIZE:
                self._cut_journal()
            self._syncer = _Syncer(self._fd, durable_within)
        except BaseException:
            os.close(self._fd)
            raise

    def _open_journal(self) -> int:
        try:
            return os.open(self.journal_path, os.O_WRONLY | os.O_APPEND | NOFOLLOW)
        except OSError as exc:
            raise OutputError.from_os_error(
                self.journal_path, exc, "cannot open the journal"
            ) from exc

    def _remove_stale_temporaries(self) -> None:
        """Leftover temporaries of this lockfile's saves: ``.<name>.tmp-*`` (made by
        :func:`_files.atomic_write`) and ``<name>.tmp-*`` (the older naming)."""
        name = self.path.name
        prefixes = (f".{name}{_files.TEMPORARY_MARK}", f"{name}{_files.TEMPORARY_MARK}")
        with contextlib.suppress(OSError):
            for entry in os.scandir(self.path.parent):
                if entry.name.startswith(prefixes) and (
                    _files.is_temporary(entry.name) or entry.name.startswith(prefixes[1])
                ):
                    with contextlib.suppress(OSError):
                        os.unlink(entry.path)

    # -- reading -------------------------------------------------------------------------------

    @property
    def jobs(self) -> Mapping[str, JobRecord]:
        """Every record, in file order: a live, read-only view."""
        return MappingProxyType(self._jobs)

    @property
    def nonce(self) -> str:
        """The campaign's random nonce (16 hex digits), made with the lockfile and kept."""
        return self._nonce

    @property
    def spent(self) -> Spent:
        """Everything this lockfile has recorded as charged; only grows."""
        return self._spent

    @property
    def output(self) -> str | None:
        """The output folder of its runs, relative to the lockfile's folder, ``/``-separated
        (absolute when it cannot be made relative); None before a run recorded one."""
        return self._output

    def idempotency_key(self, record: JobRecord) -> str:
        """The ``Idempotency-Key`` of ``record``'s current create: ``<nonce>-<job id>-<attempt>``
        for its first take, ``<nonce>-<job id>-t<take>-<attempt>`` for a reroll (a new task);
        the nonce is the record's own when it has one (a create another lockfile sent)."""
        nonce = record.nonce or self._nonce
        if record.takes:
            return f"{nonce}-{record.id}-t{record.take}-{record.attempts}"
        return f"{nonce}-{record.id}-{record.attempts}"

    def get(self, job_id: str) -> JobRecord | None:
        """The record of ``job_id``, or None."""
        return self._jobs.get(job_id)

    def snapshot(self) -> LockfileSnapshot:
        """A frozen copy of the current state."""
        with self._mutex:
            jobs = MappingProxyType(dict(self._jobs))
            return LockfileSnapshot(
                path=self.path,
                manifest_name=self.manifest_name,
                manifest_sha256=self.manifest_sha256,
                jobs=jobs,
                journal_entries=0,
                nonce=self._nonce,
                output=self._output,
                spent=self._spent,
            )

    # -- changing ------------------------------------------------------------------------------

    def put(self, record: JobRecord, *, sync: bool = False) -> None:
        """Record one job's new state: one journal line, on disk within ``durable_within`` s.

        When this returns, the change survives a ``kill -9`` of this process; ``sync=True``
        also waits for the disk (``fdatasync``). A record equal to the current one writes
        nothing. A rise of its ``credits_charged`` or ``possible_double_charges`` adds to
        :attr:`spent`. Raises ``ValueError`` for a record the schema would refuse, and
        :class:`LockfileWriteError` when the journal cannot be written (memory unchanged).
        """
        known = self._jobs.get(record.id)
        if known is not None and record.same_plan(known):  # only its progress to check
            progress = record.progress_json()
            problem = record_problem(record, progress, progress_only=True)
            head = self._plan_line(record)
            body = f"{head},{compact(progress)[1:]}"
        else:
            entry = record.to_json()
            problem = record_problem(record, entry)
            body = compact(entry)
        if problem is not None:
            raise ValueError(f"invalid lockfile record {record.id!r}: {problem}")
        with self._mutex:
            self._check_open()
            previous = self._jobs.get(record.id)
            if previous == record:
                return
            spent_before = self._spent
            spent = spent_before.plus_rise(previous, record)
            line = put_line(record.id, body, spent)
            self._jobs[record.id] = record  # first: an interrupt after the write keeps it
            self._spent = spent
            try:
                self._append((line + "\n").encode("utf-8"))
            except BaseException:
                if previous is None:
                    self._jobs.pop(record.id, None)
                else:
                    self._jobs[record.id] = previous
                self._spent = spent_before
                raise
        self._after_change(sync)

    def _plan_line(self, record: JobRecord) -> str:
        """The start of ``record``'s entry as JSON, its plan fields, encoded once a job (kept
        while the job is in progress: a job that ended seldom changes again)."""
        cached = self._plans.get(record.id)
        if cached is not None and record.same_plan(cached[0]):
            head = cached[1]
        else:
            head = compact(record.plan_json())[:-1]
        if record.state in _ENDED:
            self._plans.pop(record.id, None)
        else:
            self._plans[record.id] = (record, head)
        return head

    def remove(self, ids: Iterable[str], *, sync: bool = False) -> None:
        """Drop the entries of ``ids`` (for ``prune``); unknown ids are ignored. What they
        cost stays in :attr:`spent`."""
        with self._mutex:
            self._check_open()
            present = [job_id for job_id in dict.fromkeys(ids) if job_id in self._jobs]
            if not present:
                return
            self._append((compact({"remove": present}) + "\n").encode("utf-8"))
            for job_id in present:
                del self._jobs[job_id]
        self._after_change(sync)

    def set_output(self, out: Path, *, sync: bool = False) -> None:
        """Record the output folder of this run (relative to the lockfile's folder, with
        ``/``; absolute when no relative path leads there), written like any change."""
        output = _relative_output(Path(out), self.path.parent)
        with self._mutex:
            self._check_open()
            if output == self._output:
                return
            self._append((compact({"output": output}) + "\n").encode("utf-8"))
            self._output = output
        self._after_change(sync)

    def adopt_plan(self, planned: Iterable[PlannedJob]) -> None:
        """Make the lockfile follow the plan: a ``new`` entry for each planned job it lacks,
        ``job`` and ``variant`` labels refreshed, planned jobs first in plan order, orphans
        after in their previous order. Rewrites the lockfile only when something changed.
        """
        with self._mutex:
            self._check_open()
            order: list[str] = []
            changed = False
            for job in planned:
                order.append(job.id)
                current = self._jobs.get(job.id)
                if current is None:
                    record = JobRecord(
                        id=job.id,
                        job=job.job,
                        variant=dict(job.variant),
                        repeat=job.repeat,
                        request=dict(job.request),
                    )
                    if (problem := record_problem(record, record.to_json())) is not None:
                        raise ValueError(f"invalid planned job {job.id!r}: {problem}")
                    self._jobs[job.id] = record
                    changed = True
                elif current.job != job.job or dict(current.variant) != dict(job.variant):
                    self._jobs[job.id] = current.replace(job=job.job, variant=dict(job.variant))
                    changed = True
            if changed or self._reordered(order) != list(self._jobs):
                self.compact(order)

    def compact(self, order: Sequence[str] | None = None) -> None:
        """Rewrite the lockfile atomically with every change folded in, then cut the journal.

        With ``order``: those ids first, in that order (unknown ones skipped), then every other
        entry in its previous order.
        """
        with self._mutex:
            self._check_open()
            if order is not None:
                reordered = {job_id: self._jobs[job_id] for job_id in self._reordered(order)}
                self._jobs.clear()  # in place: views handed out by `jobs` stay live
                self._jobs.update(reordered)
            self._save()

    def sync(self) -> None:
        """Wait until every change so far is on disk."""
        with self._mutex:
            self._check_open()
            try:
                _datasync(self._fd)
            except OSError as exc:
                raise self._write_error(self.journal_path, exc, "cannot sync the journal") from exc

    def close(self) -> None:
        """Fold the journal into the lockfile (if anything changed) and release the lock."""
        with self._mutex:
            if self._closed:
                return
            self._closed = True
            try:
                if self._syncer is not None:
                    self._syncer.stop()
                if self._dirty:
                    self._save()
            finally:
                try:
                    if self._dirty:  # the save failed: the journal must hold everything
                        with contextlib.suppress(OSError):
                            _datasync(self._fd)
                    os.close(self._fd)
                finally:
                    self._lock.release()

    def __enter__(self) -> Lockfile:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` ran (the lock is released)."""
        return self._closed

    # -- internals -----------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise LockfileError(f"{self.path}: the lockfile is closed")
        if self._syncer is not None and self._syncer.error is not None:
            error = self._syncer.error
            raise self._write_error(self.journal_path, error, "cannot sync the journal")

    @staticmethod
    def _write_error(path: Path, exc: OSError, doing: str) -> LockfileWriteError:
        reason = exc.strerror or str(exc) or type(exc).__name__
        return LockfileWriteError(str(path), f"{doing}: {reason}")

    def _reordered(self, order: Iterable[str]) -> list[str]:
        jobs = self._jobs
        first = [job_id for job_id in dict.fromkeys(order) if job_id in jobs]
        chosen = set(first)
        return first + [job_id for job_id in jobs if job_id not in chosen]

    def _append(self, data: bytes) -> None:
        # One write, normally; a short one (a disk filling up) is completed or, when the rest
        # fails too, cut off again so that no torn line stays in the middle of the journal.
        size = self._journal_size
        view = memoryview(data)
        try:
            while view:
                written = os.write(self._fd, view)
                if written == 0:
                    raise OSError(28, os.strerror(28))  # ENOSPC, as a write of 0 bytes means
                view = view[written:]
        except OSError as exc:
            self._repair(size)
            raise self._write_error(self.journal_path, exc, "cannot write the journal") from exc
        self._journal_size = size + len(data)
        self.bytes_written += len(data)
        self._dirty = True

    def _repair(self, size: int) -> None:
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, size)

    def _after_change(self, sync: bool) -> None:
        if sync:
            self.sync()
        elif self._syncer is not None:
            self._syncer.mark()

    def _save(self) -> None:
        data = render_lockfile(
            self.manifest_name,
            self.manifest_sha256,
            self._jobs.values(),
            nonce=self._nonce,
            output=self._output,
            spent=self._spent,
        )
        try:
            _files.atomic_write(self.path, data, what="the lockfile")
        except OutputError as exc:
            raise LockfileWriteError(exc.path, exc.reason) from exc
        self.bytes_written += len(data)
        self._cut_journal()
        self._dirty = False

    def _cut_journal(self) -> None:
        # After the lockfile holds every change. A crash before this line is harmless: folding
        # the journal again over the new lockfile gives the same state.
        try:
            os.ftruncate(self._fd, HEADER_SIZE)
            _datasync(self._fd)
        except OSError as exc:
            raise self._write_error(self.journal_path, exc, "cannot cut the journal") from exc
        self._journal_size = HEADER_SIZE
