"""The run lock: an OS lock on the journal, released when its process dies, and who holds it.

The lock is ``flock`` through :mod:`filelock`'s ``lock_descriptor`` on a descriptor this module
opens; never its ``FileLock``, which in some versions truncates the file it locks (here, the
journal). The journal's first line is a fixed-size header naming the holder (pid, host,
command, since), rewritten in place by each new holder as soon as it has the lock; a second run
reads it to say who holds the lock. Stale holder information never blocks anything: only the
OS lock decides.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from seedance_batch._clock import utc_timestamp
from seedance_batch._errors import LockfileError, LockHeldError, OutputError
from seedance_batch._key import key_values
from seedance_batch._redact import redact
from seedance_batch.lockfile._journal import (
    HEADER_SIZE,
    header_bytes,
    journal_path,
    parse_header,
)
from seedance_batch.lockfile._records import Holder

__all__ = ["NOFOLLOW", "RunLock", "lock_holder"]

NOFOLLOW: Final = getattr(os, "O_NOFOLLOW", 0)


def _command() -> str:
    """This process's command line for the journal header, without the API key (from the
    environment) or URL user-info."""
    argv = [os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "python"]
    argv += sys.argv[1:]
    return redact(" ".join(argv), key_values())


def _describe_holder(holder: Mapping[str, Any] | None) -> str:
    if not holder:
        return "holder unknown"
    text = f"pid {holder.get('pid')} on {holder.get('host')}"
    if holder.get("host") == socket.gethostname() and not _pid_alive(holder.get("pid")):
        text += " (no longer running: a process it started may hold the lock)"
    if holder.get("since"):
        text += f" since {holder['since']}"
    if holder.get("command"):
        text += f": {holder['command']}"
    return text


def _pid_alive(pid: object) -> bool:
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists
        return True
    return True


def _read_holder(journal: Path) -> dict[str, Any] | None:
    """The holder header of a journal, once it names a live process (a new holder writes it
    right after taking the lock), or whatever is there after a short wait."""
    holder: dict[str, Any] | None = None
    deadline = time.monotonic() + 0.5
    while True:
        try:
            with open(journal, "rb") as file:
                line = file.read(HEADER_SIZE)
        except OSError:
            line = b""
        header = parse_header(line.split(b"\n", 1)[0]) if b"\n" in line else None
        found = header.get("holder") if header else None
        holder = found if isinstance(found, dict) else holder
        local = holder is not None and holder.get("host") == socket.gethostname()
        if holder is not None and (not local or _pid_alive(holder.get("pid"))):
            return holder
        if time.monotonic() >= deadline:
            return holder
        time.sleep(0.02)


def lock_holder(lockfile_path: str | os.PathLike[str]) -> Holder | None:
    """Who holds the run lock of ``lockfile_path`` now; None when nobody does.

    Asks the OS, not the header: a non-blocking ``flock`` on a descriptor of its own, released
    at once. (``flock`` locks belong to an open file description, so this works in the holder's
    own process too, and closing the probe never drops a lock held elsewhere.) The header then
    says who it is; pid 0 and empty strings when it cannot be read.
    """
    from filelock import lock_descriptor, unlock_descriptor

    journal = journal_path(lockfile_path)
    try:
        fd = os.open(journal, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise LockfileError(f"{journal}: cannot read the journal: {exc.strerror or exc}") from exc
    try:
        if lock_descriptor(fd, blocking=False):
            unlock_descriptor(fd)
            return None
    except OSError as exc:
        raise LockfileError(f"{journal}: cannot check the lock: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)
    return _holder(_read_holder(journal))


def _holder(header: Mapping[str, Any] | None) -> Holder:
    found = header or {}
    pid = found.get("pid")
    return Holder(
        pid=pid if isinstance(pid, int) and not isinstance(pid, bool) else 0,
        host=str(found.get("host") or ""),
        since=str(found.get("since") or ""),
        command=str(found.get("command") or ""),
    )


class RunLock:
    """The OS lock on the journal, held through a descriptor this object owns and closes."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    @classmethod
    def take(cls, lockfile_path: Path) -> RunLock:
        """Lock the journal of ``lockfile_path`` (creating it) and write this process's header.

        Raises :class:`LockHeldError` at once when another process holds it, naming it, and
        :class:`OutputError` when the journal cannot be created, locked or written (as in a
        read-only folder).
        """
        from filelock import lock_descriptor

        journal = journal_path(lockfile_path)
        holder = {"pid": os.getpid(), "host": socket.gethostname(), "command": _command()}
        holder["since"] = utc_timestamp()
        # The lock is taken on a descriptor of our own, never through filelock's FileLock: some
        # of its versions truncate the file they lock, and this file is the journal.
        doing = "cannot create the journal (the run lock)"
        try:
            fd = os.open(journal, os.O_RDWR | os.O_CREAT | NOFOLLOW, 0o644)
        except OSError as exc:
            raise OutputError.from_os_error(journal, exc, doing) from exc
        try:
            held = lock_descriptor(fd, blocking=False)
        except OSError as exc:
            os.close(fd)
            raise OutputError.from_os_error(journal, exc, "cannot lock the journal") from exc
        if not held:
            os.close(fd)
            raise LockHeldError(str(lockfile_path), _describe_holder(_read_holder(journal)))
        lock = cls(fd)
        try:
            _write_header(fd, header_bytes(holder))
        except OSError as exc:
            lock.release()
            raise OutputError.from_os_error(journal, exc, "cannot write the journal") from exc
        except BaseException:
            lock.release()
            raise
        return lock

    def release(self) -> None:
        """Unlock and close the descriptor."""
        from filelock import unlock_descriptor

        try:
            unlock_descriptor(self._fd)
        finally:
            os.close(self._fd)


def _write_header(fd: int, header: bytes) -> None:
    """Overwrite the previous holder's header in place (or a header cut short by a crash, or
    fill an empty file); leave any other content alone, for the caller's load to report."""
    current = os.pread(fd, HEADER_SIZE, 0)
    first = current.split(b"\n", 1)[0]
    whole = len(first) == HEADER_SIZE - 1 and parse_header(first) is not None
    if current and not whole and b"\n" in current:
        return
    os.pwrite(fd, header, 0)
    os.fsync(fd)
