"""The run's side of the file system: the output folder, job folders, downloads and moves.

Every ``OSError`` met here becomes an :class:`OutputError` naming the path and the reason (exit
1: the input was fine, the lockfile stays valid). Nothing is written outside ``<out>``: folders
are resolved inside it and never followed through a link, temporaries are created exclusively
under random names, and renames never follow a link at their target.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import stat
import threading
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, TypeVar

from seedance_batch._errors import OutputError
from seedance_batch._files import (
    EXCLUSIVE_FLAGS,
    create_temporary,
    is_temporary,
    regular_file_size,
)
from seedance_batch._files import temporary_path as _temporary_path
from seedance_batch._layout import MAX_RELATIVE_PATH, image_relpath
from seedance_batch._manifest import Manifest
from seedance_batch._planner import Job
from seedance_batch.lockfile import ImageRecord, JobRecord, Lockfile, LockfileSnapshot

__all__ = [
    "PROBE_NAME",
    "FolderOnce",
    "GroupSync",
    "ImageFile",
    "download_temporary",
    "ensure_folder",
    "images_in_place",
    "in_planned_place",
    "install_image",
    "is_plain_relpath",
    "job_folder",
    "job_folder_path",
    "make_job_folder",
    "move_renamed",
    "output_folder",
    "probe_output",
    "recorded_size",
]

#: The probe file's name starts so (a random part follows): a leftover is recognisable.
PROBE_NAME = ".seedance-probe"
_PATH_MAX = 4096


def output_folder(
    manifest: Manifest,
    lockfile: Path,
    snapshot: LockfileSnapshot | Lockfile | None,
    explicit: Path | None = None,
) -> Path:
    """The output folder: ``explicit`` (``--out``), else the one the lockfile recorded (its
    ``output``, relative to the lockfile's folder), else the manifest's."""
    if explicit is not None:
        return explicit
    output = snapshot.output if snapshot is not None else None
    if output:
        return lockfile.parent / Path(output)  # "/" separates on every platform
    return manifest.output_dir


def ensure_folder(folder: Path) -> None:
    """Make ``folder`` (and its parents) or :class:`OutputError` saying why it cannot be."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputError(str(folder), "cannot make the folder: a file is there") from None
    except OSError as exc:
        raise OutputError.from_os_error(folder, exc, "cannot make the folder") from exc
    if not folder.is_dir():
        raise OutputError(str(folder), "cannot make the folder: a file is there")


def probe_output(out: Path) -> None:
    """Make ``<out>`` and write and remove a probe file in it, before anything is spent.

    Raises :class:`OutputError` (path and reason) for a read-only folder, a file where the
    folder must be, a full disk or a path too long for the images to fit under it.
    """
    longest = len(os.fsencode(os.path.abspath(out))) + 1 + MAX_RELATIVE_PATH
    if longest >= _PATH_MAX:
        raise OutputError(str(out), "the path is too long for the images to fit under it")
    ensure_folder(out)
    if longest >= _path_max(out):
        raise OutputError(str(out), "the path is too long for the images to fit under it")
    try:
        fd, probe = create_temporary(out / PROBE_NAME, 0o600)
    except OSError as exc:
        raise OutputError.from_os_error(out, exc, "cannot write in the output folder") from exc
    try:
        try:
            os.write(fd, b"probe\n")
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise OutputError.from_os_error(out, exc, "cannot write in the output folder") from exc
    finally:
        with contextlib.suppress(OSError):
            os.unlink(probe)


def _path_max(folder: Path) -> int:
    try:
        return int(os.pathconf(folder, "PC_PATH_MAX"))
    except (OSError, ValueError, AttributeError):
        return _PATH_MAX


def job_folder(out: Path, relative: str, parents: dict[str, Path]) -> Path:
    """``<out>/<job>/<slug>-<id8>``, made if missing, refusing any path out of ``<out>``
    (:func:`job_folder_path`, then :func:`make_job_folder`)."""
    folder = job_folder_path(out, relative, parents)
    make_job_folder(folder)
    return folder


def job_folder_path(out: Path, relative: str, parents: dict[str, Path]) -> Path:
    """Where ``<out>/<job>/<slug>-<id8>`` is; only the job's own folder is made here.

    The job's own folder is resolved once (``parents`` caches it, symlinks included); the
    variant folder below it is a plain name, made by :func:`make_job_folder`. Raises
    :class:`OutputError` for a path out of ``<out>``, or a job folder that cannot be made.
    """
    parent_name, _, leaf = relative.rpartition("/")
    parent = parents.get(parent_name)
    if parent is None:
        parent = _inside(out, parent_name)
        ensure_folder(parent)
        parents[parent_name] = parent
    return parent / leaf


def make_job_folder(folder: Path) -> None:
    """Make a job's variant folder, or clear the temporaries a killed run left in it. Raises
    :class:`OutputError` for a link (never followed), a file there, or any OSError."""
    try:
        folder.mkdir()
    except FileExistsError:
        if folder.is_symlink():
            raise OutputError(
                str(folder), "is a link: refusing to write outside the output folder"
            ) from None
        if not folder.is_dir():
            raise OutputError(str(folder), "cannot make the folder: a file is there") from None
        _sweep_temporaries(folder)
    except OSError as exc:
        raise OutputError.from_os_error(folder, exc, "cannot make the folder") from exc


def _sweep_temporaries(folder: Path) -> None:
    """Remove the temporaries a killed run left in a job's folder (only that job writes there,
    and one run at a time holds the lockfile)."""
    with os.scandir(folder) as entries:
        leftovers = [
            e.path for e in entries if is_temporary(e.name) and e.is_file(follow_symlinks=False)
        ]
    for leftover in leftovers:
        with contextlib.suppress(OSError):
            os.unlink(leftover)


def _inside(out: Path, relative: str) -> Path:
    root = Path(os.path.realpath(out))
    target = Path(os.path.realpath(root / relative))
    if target != root and root not in target.parents:
        raise OutputError(str(out / relative), "refusing to write outside the output folder")
    return target


def download_temporary(folder: Path, index: int) -> Path:
    """A fresh, unguessable name in ``folder`` for image ``index`` to download into (not
    created: the download opens it exclusively, without following links)."""
    return _temporary_path(folder / f"{index}.part")


#: An image up to this size is held in memory and written to its file in one go.
IN_MEMORY = 8 * 1024 * 1024
R = TypeVar("R")
#: A finished call's future, its value and the exception it raised (None: none).
_Answer = tuple["asyncio.Future[Any]", Any, "Exception | None"]


class GroupSync:
    """One thread that writes and fsyncs the small files of a run, a group per thread hop.

    :meth:`call` hands it a function (create, write, fsync, close one file) and returns a
    future of its value. The thread runs whatever came while it was busy as one group and
    answers the whole group with one wake-up of each event loop, so that a run's images cost
    no thread hop of their own (a thread pool answers each call with a wake-up, and the loop
    pays a futex or two per call to hand it over). It starts with the first call and stops
    at :meth:`close`, after running what it was handed.
    """

    def __init__(self) -> None:
        self._wake = threading.Condition()
        self._pending: list[tuple[Callable[..., Any], tuple[Any, ...], asyncio.Future[Any]]] = []
        self._closing = False
        self._thread: threading.Thread | None = None
        #: how many groups the thread ran (for tests and benchmarks)
        self.groups = 0

    def call(self, function: Callable[..., R], *args: Any) -> asyncio.Future[R]:
        """A future of ``function(*args)``, run in this object's thread."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        with self._wake:
            if self._closing:
                raise RuntimeError("the file thread is closed")
            self._pending.append((function, args, future))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="image-files", daemon=True)
                self._thread.start()
            elif len(self._pending) == 1:
                self._wake.notify()
        return future

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._pending and not self._closing:
                    self._wake.wait()
                group, self._pending = self._pending, []
            if not group:
                return
            answers: dict[asyncio.AbstractEventLoop, list[_Answer]] = {}
            for function, args, future in group:
                value: Any = None
                error: Exception | None = None
                try:
                    value = function(*args)
                except Exception as exc:
                    error = exc
                answers.setdefault(future.get_loop(), []).append((future, value, error))
            self.groups += 1
            for loop, answered in answers.items():
                with contextlib.suppress(RuntimeError):  # a loop closed meanwhile: nobody waits
                    loop.call_soon_threadsafe(_answer, answered)

    def close(self) -> None:
        """Run what was handed, then stop the thread."""
        with self._wake:
            self._closing = True
            thread = self._thread
            self._wake.notify()
        if thread is not None:
            thread.join()


def _answer(answered: list[_Answer]) -> None:
    for future, value, error in answered:
        if future.done():  # cancelled: the caller went away
            continue
        if error is None:
            future.set_result(value)
        else:
            future.set_exception(error)


class ImageFile:
    """A download's file at ``dest`` (an :class:`~seedance_batch.client.ImageSink`): memory up
    to :data:`IN_MEMORY` bytes, the file past that.

    The file is created with ``EXCLUSIVE_FLAGS`` (``O_CREAT | O_EXCL | O_NOFOLLOW``): a file or
    a link already at ``dest`` is an :class:`OutputError`, never followed, overwritten or
    removed. A file this sink created is removed again by :meth:`discard`; :meth:`commit` makes
    it durable (fsync) for the caller to rename into place. Any ``OSError`` is an
    :class:`OutputError` naming ``dest``. The file system's work (open, write, fsync, close)
    happens in threads, so that neither a slow disk nor the cost of creating files stalls the
    event loop: with a ``syncer``, an image held whole in memory is written and synced by its
    :class:`GroupSync` with the others of its moment (no thread hop of its own); without one,
    in a hop of the loop's thread pool. ``folder`` (a :class:`FolderOnce`), when given, makes
    the file's folder in that same thread before the file is created, so that a job's
    ``mkdir`` costs the event loop nothing either.
    """

    def __init__(
        self, dest: Path, syncer: GroupSync | None = None, folder: FolderOnce | None = None
    ) -> None:
        self._dest = dest
        self._syncer = syncer
        self._folder = folder
        self._held: list[bytes] = []
        self._size = 0
        self._file: BinaryIO | None = None
        self._created = False

    async def write(self, chunk: bytes) -> None:
        """Hold ``chunk``; past :data:`IN_MEMORY` bytes held, append them to the file."""
        self._held.append(chunk)
        self._size += len(chunk)
        if self._size < IN_MEMORY:
            return
        data = self._take_held()
        try:
            await _in_thread((await self._opened()).write, data)
        except OSError as exc:
            raise self._error(exc) from exc

    async def commit(self) -> None:
        """Every byte in the file and on the disk (fsync), and the file closed."""
        data = self._take_held()
        try:
            if self._file is None:  # all of it held: create, write and sync in one hop
                await _in_thread(self._create_write_and_sync, data, group=self._syncer)
            else:
                file, self._file = self._file, None
                await _in_thread(_write_and_sync, file, data)
        except OSError as exc:
            raise self._error(exc) from exc
        self._created = False  # kept: the caller renames it into place

    def _take_held(self) -> bytes:
        data = b"".join(self._held)
        self._held.clear()
        self._size = 0
        return data

    def _create_write_and_sync(self, data: bytes) -> None:
        """(In a thread.) Create the file exclusively, write ``data``, fsync and close it."""
        if self._folder is not None:
            self._folder.make()
        fd = os.open(self._dest, EXCLUSIVE_FLAGS, 0o644)
        self._created = True  # ours from here: discard removes it
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)

    async def _opened(self) -> BinaryIO:
        """The file, created (exclusively) at the first bytes that reach it."""
        if self._file is None:
            self._file = await _in_thread(_create, self._dest, self._folder)
            self._created = True
        return self._file

    async def discard(self) -> None:
        """Drop what is held, close the file and remove it if this sink made it; the next write
        starts a new file."""
        self._held.clear()
        self._size = 0
        self._file, file = None, self._file
        created, self._created = self._created, False
        if file is not None or created:  # else nothing to close or remove: no thread hop
            await _in_thread(_discard, self._dest, file, created)

    def _error(self, exc: OSError) -> OutputError:
        return OutputError.from_os_error(self._dest, exc, "cannot write the image")


class FolderOnce:
    """A job's variant folder, made (:func:`make_job_folder`) by the first of its images' file
    threads that needs it: the images of a job are written one after another."""

    __slots__ = ("_made", "path")

    def __init__(self, path: Path) -> None:
        self.path = path
        self._made = False

    def make(self) -> None:
        """Make the folder unless it was made already (raises :class:`OutputError`)."""
        if not self._made:
            make_job_folder(self.path)
            self._made = True


def _create(dest: Path, folder: FolderOnce | None = None) -> BinaryIO:
    if folder is not None:
        folder.make()
    return os.fdopen(os.open(dest, EXCLUSIVE_FLAGS, 0o644), "wb")


def _write_and_sync(file: BinaryIO, data: bytes) -> None:
    with file as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())


def _discard(dest: Path, file: BinaryIO | None, created: bool) -> None:
    with contextlib.suppress(OSError):
        if file is not None:
            file.close()
        if created:
            dest.unlink()


async def _in_thread(
    function: Callable[..., R], *args: object, group: GroupSync | None = None
) -> R:
    """``function(*args)`` in a thread (``group``'s, else the loop's pool). When cancelled, it
    still waits for the thread, so that the caller's clean-up (removing the temporary file)
    comes after any file it creates."""
    if group is not None:
        future = group.call(function, *args)
    else:
        future = asyncio.get_running_loop().run_in_executor(None, function, *args)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await future
        raise


def install_image(temporary: Path, final: Path) -> None:
    """Rename a checked download into place (``rename(2)`` never follows a link at ``final``)."""
    try:
        os.replace(temporary, final)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise OutputError.from_os_error(final, exc, "cannot move the image into place") from exc


def is_plain_relpath(path: str) -> bool:
    """True when ``path`` is a plain relative ``/``-path that stays inside ``<out>``."""
    if not path or "\\" in path or "\0" in path:
        return False
    pure = PurePosixPath(path)
    return not pure.is_absolute() and ".." not in pure.parts


def recorded_size(out: Path, path: str, folders: dict[str, bool] | None = None) -> int | None:
    """The size of a recorded image when it is a regular file inside ``<out>``, reached through
    no link below ``<out>``; None (missing) otherwise. ``folders`` caches each folder's check."""
    if not is_plain_relpath(path):
        return None
    cache = folders if folders is not None else {}
    if not _plain_folders(os.fspath(out), path.rpartition("/")[0], cache):
        return None
    return regular_file_size(os.path.join(out, path))


def _plain_folders(out: str, folder: str, cache: dict[str, bool]) -> bool:
    """Every folder from ``<out>`` down to ``folder`` is a real folder, not a link (one lstat
    per folder, cached: a campaign's jobs share their parents)."""
    if not folder:
        return True
    known = cache.get(folder)
    if known is None:
        parent = folder.rpartition("/")[0]
        try:
            mode = os.lstat(os.path.join(out, folder)).st_mode
        except OSError:
            mode = 0
        known = stat.S_ISDIR(mode) and _plain_folders(out, parent, cache)
        cache[folder] = known
    return known


def images_in_place(out: str, record: JobRecord, folder: str = "") -> bool:
    """Every recorded image is a regular file (not a link) of its recorded size, under
    ``folder`` (the job's planned folder and a ``/``) when given."""
    for image in record.images:
        if not image.path.startswith(folder):
            return False
        if regular_file_size(os.path.join(out, image.path)) != image.bytes:
            return False
    return bool(record.images)


def move_renamed(out: Path, job: Job, record: JobRecord) -> JobRecord:
    """The record with every take's images moved to ``job``'s planned folder, when they are
    elsewhere (the job or a value was renamed, its id unchanged): no download, no charge.

    An image that is missing, not a regular file of its recorded size, outside ``<out>``, or
    whose new place is taken stays recorded where it was (and counts as missing).
    """
    old_folders: set[str] = set()
    parents: dict[str, Path] = {}

    def moved(images: tuple[ImageRecord, ...], take: int) -> tuple[ImageRecord, ...]:
        kept: list[ImageRecord] = []
        for index, image in enumerate(images, start=1):
            target = _new_relpath(job, index, image, take)
            if target is None or target == image.path:
                kept.append(image)
                continue
            if not _movable(out, image) or os.path.lexists(os.path.join(out, target)):
                kept.append(image)
                continue
            folder = job_folder(out, job.output, parents)
            try:
                os.rename(os.path.join(out, image.path), folder / target.rpartition("/")[2])
            except OSError as exc:
                raise OutputError.from_os_error(
                    out / image.path, exc, "cannot move the image"
                ) from exc
            old_folders.add(image.path.rpartition("/")[0])
            kept.append(ImageRecord(image.url, target, image.sha256, image.bytes))
        return tuple(kept)

    takes = tuple(dataclasses.replace(t, images=moved(t.images, t.take)) for t in record.takes)
    images = moved(record.images, record.take)
    for folder_name in sorted(old_folders):
        _remove_empty(out, folder_name)
    return record.replace(images=images, takes=takes)


def in_planned_place(job: Job, record: JobRecord) -> bool:
    """Every recorded image of every take is at the path the plan names for it (no job or
    value renamed, no file named as older runs named them); a stat-free check of strings."""
    return all(
        _new_relpath(job, index, image, take) in (None, image.path)
        for take, images in _takes(record)
        for index, image in enumerate(images, start=1)
    )


def _takes(record: JobRecord) -> list[tuple[int, tuple[ImageRecord, ...]]]:
    """(take number, its images) for every take of ``record``, the current one last."""
    return [*((t.take, t.images) for t in record.takes), (record.take, record.images)]


def _new_relpath(job: Job, index: int, image: ImageRecord, take: int) -> str | None:
    ext = image.path.rpartition(".")[2]
    try:
        return image_relpath(job.output, index, ext, take)
    except ValueError:
        return None


def _movable(out: Path, image: ImageRecord) -> bool:
    return recorded_size(out, image.path) == image.bytes


def _remove_empty(out: Path, folder: str) -> None:
    """Remove ``<out>/<folder>`` and then its parent when they are empty (never ``<out>``)."""
    parts = folder.split("/")
    while parts:
        with contextlib.suppress(OSError):
            os.rmdir(os.path.join(out, *parts))
        parts.pop()
