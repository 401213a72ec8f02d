"""Reading the files a manifest is made of (itself, its fragments, its rows): regular files of
bounded size, read whole, decoded as UTF-8 with the position of the first bad byte."""

from __future__ import annotations

import os
import stat
from pathlib import Path

__all__ = ["MAX_SOURCE_BYTES", "SourceError", "read_source_bytes", "read_source_text"]

#: A file is read whole; a larger one is refused before it is read (contract section 2).
MAX_SOURCE_BYTES = 10 * 1024 * 1024


class SourceError(Exception):
    """A file that cannot be read as text: ``line`` and ``col`` are 0 for the whole file."""

    def __init__(self, message: str, line: int = 0, col: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.col = col


def read_source_bytes(path: str | Path, kind: str = "a manifest is a YAML file") -> bytes:
    """The file's bytes: a regular file of at most :data:`MAX_SOURCE_BYTES`, checked before
    reading (a FIFO, a device or a folder is refused at once, never waited on)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise SourceError(f"cannot read: {exc.strerror or exc}") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            what = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file"
            raise SourceError(f"cannot read: {what}; {kind}")
        if info.st_size > MAX_SOURCE_BYTES:
            raise SourceError(_too_big(info.st_size))
        with os.fdopen(fd, "rb", closefd=False) as stream:
            raw = stream.read(MAX_SOURCE_BYTES + 1)
    except OSError as exc:
        raise SourceError(f"cannot read: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)
    if len(raw) > MAX_SOURCE_BYTES:
        raise SourceError(_too_big(len(raw)))
    return raw


def read_source_text(raw: bytes, *, drop_bom: bool = False) -> str:
    """``raw`` as UTF-8 (a leading BOM dropped if asked), or :class:`SourceError` at the first
    bad byte."""
    try:
        return raw.decode("utf-8-sig" if drop_bom else "utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise SourceError("not UTF-8 text", line, col) from exc


def _too_big(size: int) -> str:
    return (
        f"{size:,} bytes is more than a manifest may hold ({MAX_SOURCE_BYTES // 2**20} MB); "
        "split the campaign"
    )
