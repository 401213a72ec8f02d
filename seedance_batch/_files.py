"""Files written safely inside a folder we own: exclusive temporaries, atomic replaces, no links.

Every file seedance-batch writes (the lockfile, images, ``results.jsonl``, ``index.html``) goes
through here. A temporary is created with ``O_CREAT | O_EXCL | O_NOFOLLOW`` under a random name
in the target's own folder, so nothing planted there (a symlink at a predictable name) can make
a write land outside it; it is then renamed over the target, which ``rename(2)`` never follows.
Every ``OSError`` becomes an :class:`OutputError` naming the path and the reason.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path

from seedance_batch._errors import OutputError

__all__ = [
    "EXCLUSIVE_FLAGS",
    "TEMPORARY_MARK",
    "atomic_write",
    "create_temporary",
    "fsync_directory",
    "is_temporary",
    "regular_file_size",
    "temporary_path",
]

#: Every temporary's name holds this, so that a later run can recognise and remove leftovers.
TEMPORARY_MARK = ".tmp-"
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
EXCLUSIVE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


def is_temporary(name: str) -> bool:
    """Whether ``name`` is one of our temporaries (``.<target>.tmp-<random>``)."""
    return name.startswith(".") and TEMPORARY_MARK in name


def temporary_path(target: Path) -> Path:
    """A fresh, unguessable temporary name beside ``target`` (not created: open it with
    ``O_CREAT | O_EXCL | O_NOFOLLOW``, or use :func:`create_temporary`)."""
    return target.with_name(f".{target.name}{TEMPORARY_MARK}{secrets.token_hex(6)}")


def create_temporary(target: Path, mode: int = 0o644) -> tuple[int, Path]:
    """A new, empty temporary beside ``target``, opened for writing: ``(fd, path)``.

    Created exclusively and without following links, under a name nobody could have planted.
    Raises ``OSError`` (the caller translates it with the path it was writing).
    """
    for _ in range(100):
        candidate = temporary_path(target)
        try:
            return os.open(candidate, EXCLUSIVE_FLAGS, mode), candidate
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {target}")  # pragma: no cover


def fsync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable, where the platform allows it."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory descriptors
        return
    try:
        with contextlib.suppress(OSError):  # some filesystems refuse; the rename still holds
            os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, *, durable: bool = True, what: str = "") -> None:
    """Write ``data`` to ``path`` so that a crash leaves the old file or the new one, whole.

    The file keeps its permission bits when it existed. Raises :class:`OutputError` naming
    ``path`` (``what`` says what it is, as in "cannot write the lockfile").
    """
    tmp: Path | None = None
    try:
        try:
            mode: int | None = os.stat(path).st_mode & 0o7777
        except FileNotFoundError:
            mode = None
        fd, tmp = create_temporary(path)
        try:
            if mode is not None:
                with contextlib.suppress(OSError):
                    os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        doing = f"cannot write {what}" if what else "cannot write"
        raise OutputError.from_os_error(path, exc, doing) from exc
    if durable:
        fsync_directory(path.parent)


def regular_file_size(path: str | os.PathLike[str]) -> int | None:
    """The size of ``path`` when it is a regular file and not a link; None otherwise.

    A recorded image that is now a symlink, a folder or a device counts as missing.
    """
    try:
        info = os.lstat(path)
    except OSError:
        return None
    return info.st_size if stat.S_ISREG(info.st_mode) else None
