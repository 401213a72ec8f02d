"""Thumbnails of a campaign's images: one small WebP per image in ``<out>/.thumbs/`` (section 6).

``<out>/.thumbs/<first 32 hex digits of the sha256>.webp``, at most :data:`THUMB_SIDE` pixels on
its longest side (a few tens of KB), keyed by the image's SHA-256 so that a rename or a move of
the image keeps its thumbnail (128 bits of it: no two images of a campaign share them, and the
static gallery, which names every thumbnail, stays 32 bytes an image lighter). Each is made
once: a thumbnail already there and whole (its RIFF header agrees with its size) is kept. The
source is read no further than needed (Pillow's ``draft`` decodes a JPEG at a reduced scale,
``thumbnail`` reduces before it resamples), through no link: every folder from ``<out>`` down
and the file itself are opened with ``O_NOFOLLOW``, and a recorded image that is not a regular
file of its recorded size is skipped. The thumbnail is written through
:func:`seedance_batch._files.atomic_write` (an exclusive temporary renamed into place), into a
``.thumbs`` folder that must be a real folder inside ``<out>``: nothing lands elsewhere.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import stat
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from seedance_batch._errors import OutputError
from seedance_batch._files import atomic_write

__all__ = [
    "QUALITY",
    "THUMBS_DIR",
    "THUMB_SIDE",
    "WEBP_METHOD",
    "Source",
    "ThumbMaker",
    "ThumbStats",
    "is_sha256",
    "make_missing",
    "make_thumbnail",
    "open_recorded",
    "thumb_is_whole",
    "thumb_path",
    "thumb_relpath",
]

THUMBS_DIR: Final = ".thumbs"
#: The longest side of a thumbnail, in pixels: sharp in a grid of 192-pixel cards at 2x.
THUMB_SIDE: Final = 384
QUALITY: Final = 75
#: WebP's encoder effort (0 fastest .. 6 smallest): 2 is within a few per cent of 4's size.
WEBP_METHOD: Final = 2
_SHA256 = re.compile(r"[0-9a-f]{64}")
#: Hex digits of the hash in a thumbnail's name.
_NAME_DIGITS: Final = 32
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)


@dataclass(frozen=True, slots=True)
class Source:
    """One recorded image: its path relative to ``<out>`` (with ``/``), its hash and size."""

    path: str
    sha256: str
    bytes: int


@dataclass(frozen=True, slots=True)
class ThumbStats:
    """What :func:`make_missing` did: thumbnails made, already there, and images skipped
    (missing, a link, another size than recorded, or not an image Pillow reads)."""

    made: int = 0
    present: int = 0
    skipped: int = 0


def is_sha256(text: str) -> bool:
    """True for 64 lowercase hex digits (a recorded image's key)."""
    return _SHA256.fullmatch(text) is not None


def thumb_relpath(sha256: str) -> str:
    """``.thumbs/<first 32 hex digits>.webp``, relative to ``<out>``; ValueError for anything
    but a SHA-256."""
    if not is_sha256(sha256):
        raise ValueError(f"not a SHA-256: {sha256!r}")
    return f"{THUMBS_DIR}/{sha256[:_NAME_DIGITS]}.webp"


def thumb_path(out: Path, sha256: str) -> Path:
    """``<out>/.thumbs/<first 32 hex digits>.webp``; ValueError for anything but a SHA-256."""
    return Path(out) / thumb_relpath(sha256)


def thumb_is_whole(path: str | os.PathLike[str]) -> bool:
    """A regular file (not a link) whose RIFF/WEBP header gives exactly its size."""
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _CLOEXEC | _NONBLOCK)  # a FIFO: no wait
    except OSError:
        return False
    try:
        info = os.fstat(fd)
        head = os.read(fd, 12) if stat.S_ISREG(info.st_mode) else b""
    except OSError:
        return False
    finally:
        os.close(fd)
    return (
        stat.S_ISREG(info.st_mode)
        and len(head) == 12
        and head[:4] == b"RIFF"
        and head[8:12] == b"WEBP"
        and int.from_bytes(head[4:8], "little") + 8 == info.st_size
    )


def open_recorded(out: Path, relpath: str, size: int | None = None) -> int | None:
    """A read-only descriptor of ``<out>/<relpath>``, or None when it is not a regular file
    reached through real folders only (no link, no ``..``, nothing absolute), or not ``size``
    bytes long when ``size`` is given. The caller closes it."""
    parts = relpath.split("/")
    if (
        not relpath
        or "\\" in relpath
        or "\0" in relpath
        or any(p in ("", ".", "..") for p in parts)
    ):
        return None
    try:
        folder = os.open(out, os.O_RDONLY | _DIRECTORY | _CLOEXEC)
    except OSError:
        return None
    try:
        for part in parts[:-1]:
            inner = os.open(part, os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC, dir_fd=folder)
            os.close(folder)
            folder = inner
        # O_NONBLOCK: a FIFO put where an image was opens at once (and is refused below)
        # instead of waiting for a writer; reads of a regular file ignore it
        fd = os.open(parts[-1], os.O_RDONLY | _NOFOLLOW | _CLOEXEC | _NONBLOCK, dir_fd=folder)
    except OSError:
        return None
    finally:
        os.close(folder)
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or (size is not None and info.st_size != size):
        os.close(fd)
        return None
    os.set_blocking(fd, True)
    return fd


def _thumbs_folder(out: Path) -> Path:
    """``<out>/.thumbs``, made when missing; OutputError when it is a link or not a folder."""
    folder = Path(out) / THUMBS_DIR
    try:
        try:  # there already, but for the first thumbnail: one lstat, no mkdir to refuse
            mode = os.lstat(folder).st_mode
        except FileNotFoundError:
            mode = 0
        if not stat.S_ISDIR(mode):  # missing, or something else there: make it, or say why
            folder.mkdir(exist_ok=True)
            mode = os.lstat(folder).st_mode
    except OSError as exc:
        raise OutputError.from_os_error(folder, exc, "cannot make the thumbnails' folder") from exc
    if not stat.S_ISDIR(mode):
        raise OutputError(str(folder), "refusing to write thumbnails: not a real folder")
    return folder


def _encode(handle: io.BufferedReader) -> bytes | None:
    """The WebP thumbnail of the image in ``handle``; None when Pillow cannot read it."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(handle) as image:
            image.draft("RGB", (THUMB_SIDE, THUMB_SIDE))  # a JPEG decodes at 1/2, 1/4 or 1/8
            image.thumbnail((THUMB_SIDE, THUMB_SIDE), Image.Resampling.LANCZOS, reducing_gap=2.0)
            if image.mode not in ("RGB", "RGBA"):
                alpha = "A" in image.getbands() or "transparency" in image.info
                image = image.convert("RGBA" if alpha else "RGB")
            buffer = io.BytesIO()
            image.save(buffer, "WEBP", quality=QUALITY, method=WEBP_METHOD)
    except (OSError, ValueError, UnidentifiedImageError, Image.DecompressionBombError):
        return None
    return buffer.getvalue()


def make_thumbnail(out: Path, source: Source) -> bool | None:
    """Make ``source``'s thumbnail unless it is there and whole: True when made, False when it
    was there, None when the image was skipped (missing, a link, resized, unreadable).

    Raises :class:`OutputError` when the thumbnail cannot be written.
    """
    target = thumb_path(out, source.sha256)
    if thumb_is_whole(target):
        return False
    fd = open_recorded(out, source.path, source.bytes)
    if fd is None:
        return None
    with os.fdopen(fd, "rb") as handle:
        data = _encode(handle)
    if data is None:
        return None
    _thumbs_folder(out)
    atomic_write(target, data, durable=False, what="the thumbnail")  # a cache: remade if lost
    return True


def _workers(workers: int | None) -> int:
    return workers if workers is not None else min(8, os.cpu_count() or 1)


def make_missing(out: Path, sources: Iterable[Source], *, workers: int | None = None) -> ThumbStats:
    """Make every missing thumbnail of ``sources`` (each hash once), ``workers`` at a time
    (Pillow decodes and encodes without the GIL); 1 makes them in this thread, in order."""
    unique = list({s.sha256: s for s in sources if is_sha256(s.sha256)}.values())
    if _workers(workers) <= 1:
        outcomes: Iterable[bool | None] = (make_thumbnail(out, s) for s in unique)
        return _stats(outcomes)
    with ThreadPoolExecutor(_workers(workers), thread_name_prefix="thumbs") as pool:
        return _stats(pool.map(lambda s: make_thumbnail(out, s), unique))


def _stats(outcomes: Iterable[bool | None]) -> ThumbStats:
    made = present = skipped = 0
    for outcome in outcomes:
        if outcome is None:
            skipped += 1
        elif outcome:
            made += 1
        else:
            present += 1
    return ThumbStats(made, present, skipped)


def _yield() -> None:
    """Lower this thread's priority (Linux sets it per thread): the background thumbnails give
    way to the pages and thumbnails being asked for, and to the browser showing them."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)


class ThumbMaker:
    """Thumbnails made on demand for a server, each hash at most once at a time.

    :meth:`prefill` queues every missing one in the background, in the order given (the
    plan's); :meth:`ensure` is for a request waiting on one: a thumbnail only queued is taken
    out of the background queue and made at once on the urgent workers.
    """

    def __init__(self, out: Path, *, workers: int | None = None) -> None:
        self._out = Path(out)
        self._lock = threading.RLock()  # a cancel runs the done callback at once
        self._futures: dict[str, Future[bool | None]] = {}
        self._urgent = ThreadPoolExecutor(2, thread_name_prefix="thumbs-now")
        self._background = ThreadPoolExecutor(
            max(1, _workers(workers) - 1), thread_name_prefix="thumbs-later", initializer=_yield
        )

    def _submit(self, pool: ThreadPoolExecutor, source: Source) -> Future[bool | None]:
        future = pool.submit(make_thumbnail, self._out, source)
        self._futures[source.sha256] = future
        future.add_done_callback(self._forget(source.sha256, future))
        return future

    def _forget(self, sha256: str, future: Future[bool | None]) -> Callable[[object], None]:
        def forget(_: object) -> None:
            with self._lock:
                if self._futures.get(sha256) is future:
                    del self._futures[sha256]

        return forget

    def ensure(self, source: Source) -> Future[bool | None]:
        """A future of :func:`make_thumbnail` for ``source``, started now if only queued."""
        with self._lock:
            known = self._futures.get(source.sha256)
            if known is not None and not known.cancel():
                return known
            return self._submit(self._urgent, source)

    def prefill(self, sources: Sequence[Source]) -> None:
        """Queue every source whose thumbnail is missing, in order, in the background."""
        with self._lock:
            for source in sources:
                if source.sha256 in self._futures or not is_sha256(source.sha256):
                    continue
                if not thumb_is_whole(thumb_path(self._out, source.sha256)):
                    self._submit(self._background, source)

    def close(self) -> None:
        """Drop what is queued and wait for what is being made."""
        self._background.shutdown(wait=True, cancel_futures=True)
        self._urgent.shutdown(wait=True, cancel_futures=True)
