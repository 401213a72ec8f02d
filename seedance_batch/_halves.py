"""A big pretty-printed JSON document parsed in two processes at once, or not at all.

``plan`` reads a 100,000-job lockfile (80 MB) and needs only a few fields of each entry, yet
every byte must be parsed so that no duplicate key goes unseen; that parse is most of its cost.
:func:`parse_in_halves` cuts the document's big member (``"jobs": {...}``, two-space indented)
at an entry boundary near its middle, makes each half a whole document, and parses one half in
a forked child while this process parses the other. The caller's ``parse_half`` does the strict
work on each half and returns a small result; the two are joined only when both halves parsed
and share no key. Anything else (a layout it cannot cut, an error in either half, no ``fork``,
threads running, one CPU) returns None, and the caller parses the whole document as usual,
which then words any error.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import threading
from collections.abc import Callable
from typing import Any, Final

__all__ = ["parse_in_halves"]

#: Below this, one parse is quicker than a fork.
MIN_SIZE: Final = 4 << 20
_ENTRY_END: Final = b"\n    },\n    "
_CLOSE_HALF: Final = b"\n  }\n}\n"

Half = dict[str, Any]


def parse_in_halves(data: bytes, member: str, parse_half: Callable[[bytes], Half]) -> Half | None:
    """``parse_half`` of the whole document, computed as two halves in parallel and joined.

    ``parse_half(text)`` parses a whole document and returns its top level, with ``member``'s
    value reduced to a mapping of picklable values; it raises on anything it refuses. The
    join keeps the file's key order. None whenever the fast way does not apply or fails.
    """
    if len(data) < MIN_SIZE or not _may_fork():
        return None
    halves = _cut(data, member)
    if halves is None:
        return None
    head, tail = halves
    child = _Child.start(parse_half, tail)
    if child is None:
        return None
    try:
        mine: Half | None = parse_half(head)
    except Exception:
        mine = None
    theirs = child.result()
    if mine is None or theirs is None:
        return None
    return _join(mine, theirs, member)


def _may_fork() -> bool:
    if not hasattr(os, "fork") or threading.active_count() != 1:
        return False
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return cpus > 1


def _cut(data: bytes, member: str) -> tuple[bytes, bytes] | None:
    """Two whole documents: the top level up to an entry of ``member`` near the middle (its
    closing braces added), and ``{"member": {`` + the rest of the entries and the top level."""
    opening = f'\n  "{member}": {{\n'.encode()
    start = data.find(opening)
    if start < 0:
        return None
    cut = data.find(_ENTRY_END, start + (len(data) - start) // 2)
    if cut < 0:
        return None
    entry_end = cut + len(b"\n    }")
    view = memoryview(data)
    head = b"".join((view[:entry_end], _CLOSE_HALF))  # one copy each
    tail = b"".join((b'{"', member.encode(), b'": {', view[entry_end + 1 :]))
    return head, tail


def _join(head: Half, tail: Half, member: str) -> Half | None:
    """The whole document's result, or None when the halves overlap (a key twice) or were
    not cut inside ``member`` (then the head's last key is another one)."""
    if not head or list(head)[-1] != member or next(iter(tail), None) != member:
        return None
    if set(head) & set(tail) != {member}:
        return None
    first, second = head[member], tail[member]
    if not isinstance(first, dict) or not isinstance(second, dict):
        return None
    if not first.keys().isdisjoint(second):
        return None
    joined = dict(head)
    joined[member] = {**first, **second}
    for key, value in tail.items():
        if key != member:
            joined[key] = value
    return joined


class _Child:
    """A forked process computing ``parse_half(tail)``; its result comes back pickled."""

    def __init__(self, pid: int, fd: int) -> None:
        self._pid = pid
        self._fd = fd

    @classmethod
    def start(cls, parse_half: Callable[[bytes], Half], tail: bytes) -> _Child | None:
        read_end, write_end = os.pipe()
        try:
            pid = os.fork()
        except OSError:
            os.close(read_end)
            os.close(write_end)
            return None
        if pid == 0:  # the child: compute, send, and leave without running any cleanup
            status = 1
            try:
                os.close(read_end)
                payload = memoryview(pickle.dumps(parse_half(tail), pickle.HIGHEST_PROTOCOL))
                while payload:
                    payload = payload[os.write(write_end, payload) :]
                status = 0
            finally:
                os._exit(status)
        os.close(write_end)
        return cls(pid, read_end)

    def result(self) -> Half | None:
        """What the child computed, or None when it failed."""
        chunks = []
        try:
            while chunk := os.read(self._fd, 1 << 20):
                chunks.append(chunk)
        except OSError:
            chunks = []
        finally:
            os.close(self._fd)
        _, status = os.waitpid(self._pid, 0)
        if status != 0 or not chunks:
            return None
        with contextlib.suppress(Exception):
            result = pickle.loads(b"".join(chunks))
            if isinstance(result, dict):
                return result
        return None
