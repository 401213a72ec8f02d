"""A pure function of some bytes computed in a forked child while this process goes on.

``plan`` must parse a 100,000-job lockfile (80 MB, every byte, so that no duplicate key goes
unseen), and even with orjson that parse costs half as much as the plan itself. It needs the
lockfile's states only after it has expanded the manifest, so the parse runs in a child process
meanwhile, on the other CPU. :func:`start` forks when that can help (``fork`` exists, no other
thread runs, two CPUs, enough bytes) and returns a :class:`Pending` whose :meth:`Pending.result`
waits for the child's answer; otherwise the function runs here, at once. The child only
computes and answers (its result, or the error it raised, pickled); it leaves with
``os._exit``, running no cleanup.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import threading
from collections.abc import Callable
from typing import Final, Generic, TypeVar, cast

__all__ = ["MIN_SIZE", "Pending", "start"]

#: Below this, computing at once is quicker than a fork.
MIN_SIZE: Final = 4 << 20

T = TypeVar("T")


class Pending(Generic[T]):
    """A result that is ready, or being computed by a child process."""

    def __init__(self, function: Callable[[bytes], T], data: bytes) -> None:
        self._function = function
        self._data: bytes | None = data
        self._done = False
        self._value: T | None = None
        self._error: BaseException | None = None
        self._pid = 0
        self._fd = -1

    def result(self) -> T:
        """The function's value, or the exception it raised (raised here)."""
        if not self._done:
            self._finish()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]

    def _fork(self) -> bool:
        read_end, write_end = os.pipe()
        try:
            pid = os.fork()
        except OSError:
            os.close(read_end)
            os.close(write_end)
            return False
        if pid == 0:  # the child: compute, answer, and leave without running any cleanup
            status = 1
            try:
                os.close(read_end)
                _answer(write_end, self._function, self._data or b"")
                status = 0
            finally:
                os._exit(status)
        os.close(write_end)
        self._pid, self._fd, self._data = pid, read_end, None
        return True

    def _finish(self) -> None:
        answer = self._collect() if self._pid else None
        if answer is None:  # no child, or it died: compute it here
            answer = _outcome(self._function, self._data or b"")
        self._data = None
        self._done = True
        kind, payload = answer
        if kind == "value":
            self._value = cast(T, payload)
        elif isinstance(payload, BaseException):
            self._error = payload
        else:  # pragma: no cover - _outcome answers only these two
            self._error = RuntimeError(f"unexpected answer {kind!r}")

    def _collect(self) -> tuple[str, object] | None:
        chunks = []
        try:
            while chunk := os.read(self._fd, 1 << 20):
                chunks.append(chunk)
        except OSError:
            chunks = []
        finally:
            os.close(self._fd)
        _, status = os.waitpid(self._pid, 0)
        self._pid = 0
        if status != 0 or not chunks:
            return None
        with contextlib.suppress(Exception):
            answer = pickle.loads(b"".join(chunks))
            if isinstance(answer, tuple) and len(answer) == 2:
                return answer
        return None


def start(function: Callable[[bytes], T], data: bytes) -> Pending[T]:
    """``function(data)``, in a child process when that can overlap with this one's work."""
    pending = Pending(function, data)
    if len(data) >= MIN_SIZE and _may_fork():
        pending._fork()
    return pending


def _may_fork() -> bool:
    if not hasattr(os, "fork") or threading.active_count() != 1:
        return False
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return cpus > 1


def _outcome(function: Callable[[bytes], T], data: bytes) -> tuple[str, object]:
    try:
        return "value", function(data)
    except Exception as exc:
        return "error", exc


def _answer(fd: int, function: Callable[[bytes], T], data: bytes) -> None:
    payload = memoryview(pickle.dumps(_outcome(function, data), pickle.HIGHEST_PROTOCOL))
    while payload:
        payload = payload[os.write(fd, payload) :]
