"""``<out>/index.html`` and its further pages: a self-contained contact sheet (contract, sections 6
and 10), written after a run and by ``seedance-batch gallery``.

Static pages beside ``results.jsonl`` (:mod:`seedance_batch._gallery_page` renders them): inline
CSS, no script and no network asset (a Content Security Policy forbids both), so they open
offline from the file system. Each image is its thumbnail (``<out>/.thumbs/``, made here for
every image that has none yet, once) inside a link to the full image; the review file's
decisions (read when the gallery is written) order and mark them. Orphaned lockfile entries are
left out, as ``results.jsonl`` leaves them out. The pages hold no timestamp: an unchanged
campaign rewrites them byte for byte (and :func:`write_gallery` then skips the writes); pages
left over from a larger gallery are removed.
"""

from __future__ import annotations

import os
import re
import struct
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import BinaryIO, Final

from seedance_batch._approvals import Variant, variants
from seedance_batch._decisions import Entry, default_review_path, read_review
from seedance_batch._errors import OutputError
from seedance_batch._gallery_page import PAGE_IMAGES, Dimensions, page_name, render_pages
from seedance_batch._layout import GALLERY_NAME
from seedance_batch._manifest import Manifest
from seedance_batch._planner import Job
from seedance_batch._results import write_atomic
from seedance_batch._run_files import ensure_folder, recorded_size
from seedance_batch._thumbs import Source, is_sha256, make_missing, thumb_is_whole, thumb_relpath
from seedance_batch.lockfile import JobRecord

__all__ = [
    "PAGE_IMAGES",
    "image_size",
    "make_thumbnails",
    "probe_images",
    "render_gallery",
    "write_gallery",
]

#: The further pages' names: ``index-2.html`` ...
_FURTHER_PAGE: Final = re.compile(r"index-([1-9][0-9]*)\.html")


# --------------------------------------------------------------------------------------------
# Image headers


def image_size(path: str | os.PathLike[str]) -> Dimensions | None:
    """The pixel size in a PNG, JPEG or WebP file's header; None if unreadable or unknown."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(32)
            if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
                w, h = struct.unpack(">II", head[16:24])
                return (w, h) if w and h else None
            if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
                return _webp_size(head)
            if head[:2] == b"\xff\xd8":
                handle.seek(2)
                return _jpeg_size(handle)
    except (OSError, struct.error):
        return None
    return None


def _webp_size(head: bytes) -> Dimensions | None:
    chunk = head[12:16]
    if chunk == b"VP8 " and len(head) >= 30:
        w, h = struct.unpack("<HH", head[26:30])
        w, h = w & 0x3FFF, h & 0x3FFF
        return (w, h) if w and h else None
    if chunk == b"VP8L" and len(head) >= 25:
        bits = int.from_bytes(head[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(head) >= 30:
        w = int.from_bytes(head[24:27], "little") + 1
        h = int.from_bytes(head[27:30], "little") + 1
        return w, h
    return None


_SOF: Final = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _jpeg_size(handle: BinaryIO) -> Dimensions | None:
    read, seek = handle.read, handle.seek
    for _ in range(256):  # markers before the frame header; give up on a corrupt file
        marker = read(2)
        while len(marker) == 2 and marker[0] == 0xFF and marker[1] == 0xFF:  # fill bytes
            marker = marker[1:] + read(1)
        if len(marker) < 2 or marker[0] != 0xFF:
            return None
        kind = marker[1]
        if kind == 0xD8 or 0xD0 <= kind <= 0xD7 or kind == 0x01:
            continue
        length_bytes = read(2)
        if len(length_bytes) < 2:
            return None
        (length,) = struct.unpack(">H", length_bytes)
        if kind in _SOF:
            frame = read(5)
            if len(frame) < 5:
                return None
            h, w = struct.unpack(">HH", frame[1:5])
            return (w, h) if w and h else None
        if kind in (0xD9, 0xDA) or length < 2:
            return None
        seek(length - 2, os.SEEK_CUR)
    return None


def probe_images(out: Path, found: Sequence[Variant]) -> dict[str, Dimensions | None]:
    """Every image path the gallery shows -> its pixel size, None if missing or unreadable (a
    link or anything but a regular file inside ``<out>`` counts as missing)."""
    sizes: dict[str, Dimensions | None] = {}
    folders: dict[str, bool] = {}
    root = os.fspath(out)
    for variant in found:
        for shot in variant.shots:
            path = shot.image.path
            if path not in sizes:
                present = recorded_size(out, path, folders) is not None
                sizes[path] = image_size(os.path.join(root, path)) if present else None
    return sizes


def make_thumbnails(
    out: Path, found: Sequence[Variant], files: Mapping[str, Dimensions | None]
) -> tuple[frozenset[str], str | None]:
    """Make the missing thumbnail of every image present (``files``), each once; the hashes
    whose thumbnail is there now (an image Pillow cannot read has none), and why thumbnails
    could not be written, if they could not (a cache: the gallery is written without them)."""
    root = os.fspath(out)
    sources = {
        shot.image.sha256: Source(shot.image.path, shot.image.sha256, shot.image.bytes)
        for variant in found
        for shot in variant.shots
        if files.get(shot.image.path) is not None and is_sha256(shot.image.sha256)
    }

    def whole(sha256: str) -> bool:
        return thumb_is_whole(os.path.join(root, thumb_relpath(sha256)))

    there = {sha256 for sha256 in sources if whole(sha256)}
    missing = [source for sha256, source in sources.items() if sha256 not in there]
    problem = None
    if missing:
        try:
            make_missing(out, missing)
        except OutputError as exc:
            problem = str(exc)
        there |= {source.sha256 for source in missing if whole(source.sha256)}
    return frozenset(there), problem


def render_gallery(
    manifest: Manifest,
    jobs: Sequence[Job],
    records: Mapping[str, JobRecord],
    *,
    decisions: Mapping[str, Entry] | None = None,
    files: Mapping[str, Dimensions | None] | None = None,
    thumbs: frozenset[str] | None = None,
    page_size: int = PAGE_IMAGES,
) -> list[str]:
    """The gallery's pages (HTML, ``index.html`` first): pure, deterministic, every text escaped.

    ``jobs`` are the planned jobs in plan order; ``records`` the lockfile's entries by id
    (orphans among them are counted, not shown); ``decisions`` the review file's entries by
    SHA-256 (none: all undecided). ``files`` and ``thumbs``: see
    :func:`seedance_batch._gallery_page.render_pages`.
    """
    found = variants(jobs, records, decisions or {})
    return render_pages(
        manifest, jobs, records, found, files=files, thumbs=thumbs, page_size=page_size
    )


def write_gallery(
    out: Path,
    manifest: Manifest,
    jobs: Sequence[Job],
    records: Mapping[str, JobRecord],
    *,
    decisions: Mapping[str, Entry] | None = None,
    page_size: int = PAGE_IMAGES,
) -> Path:
    """Make the missing thumbnails, write ``<out>/index.html`` and its further pages atomically
    (each skipped when its bytes are unchanged), remove pages left over; the first page's path.

    ``decisions`` default to the review file beside the manifest: a broken one raises
    :class:`~seedance_batch._decisions.ReviewFileError`; a file that cannot be written,
    :class:`OutputError`.
    """
    out = Path(out)
    if decisions is None:
        decisions = read_review(default_review_path(manifest.path))
    found = variants(jobs, records, decisions)
    files = probe_images(out, found)
    ensure_folder(out)
    thumbs, problem = make_thumbnails(out, found, files)
    pages = render_pages(
        manifest,
        jobs,
        records,
        found,
        files=files,
        thumbs=thumbs,
        thumbs_problem=problem,
        page_size=page_size,
    )
    for number, text in enumerate(pages, start=1):
        write_atomic(out / page_name(number), text.encode("utf-8"), what="the gallery")
    _remove_pages_after(out, len(pages))
    return out / GALLERY_NAME


def _remove_pages_after(out: Path, count: int) -> None:
    """Remove ``index-<n>.html`` for every n past ``count``: pages of a larger gallery."""
    try:
        names = os.listdir(out)
    except OSError:
        return
    for name in names:
        match = _FURTHER_PAGE.fullmatch(name)
        if match is not None and int(match.group(1)) > count:
            try:
                os.unlink(out / name)
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise OutputError.from_os_error(
                    out / name, exc, "cannot remove an old gallery page"
                ) from exc
