"""One image download into a sink: a GET, a redirect to follow, or a body read and checked.

The Authorization header goes with a download only while every hop so far (redirects are
followed by hand, at most 5) is on the API's exact origin (scheme, host, port); never to any
other host: the client decides that at each hop. Here one GET answers a redirect to follow, a
failure (403/404/410 are retried ``not_found_retries`` times, 408, 429, 5xx, connection failures,
timeouts and truncated bodies ``max_retries`` times), or the image itself: its bytes streamed
into the sink, bounded by the image cap whatever the encoding, hashed, and checked by
:mod:`seedance_batch.client._sniff` before the sink commits them. A 2xx answer whose bytes are
not PNG, JPEG or WEBP fails at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TypeVar

import httpx

from seedance_batch._errors import DownloadError, OutputError
from seedance_batch._files import EXCLUSIVE_FLAGS
from seedance_batch.client._answers import phrase
from seedance_batch.client._bounded import BodyTooLarge, BoundedDecoder, UnsupportedEncoding
from seedance_batch.client._failures import Failure, describe, retryable
from seedance_batch.client._retry import parse_retry_after
from seedance_batch.client._sniff import (
    HEAD,
    TAIL,
    BadBody,
    ImageType,
    check_body,
    content_length,
)
from seedance_batch.client._transport import Pool

__all__ = ["MAX_REDIRECTS", "Download", "Redirect", "fetch"]

#: Image answers that most likely mean "gone", retried only a few times.
_GONE = frozenset({403, 404, 410})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5
#: An image up to this size is held in memory and written to its file in one go.
_IN_MEMORY = 8 * 1024 * 1024


@dataclass(frozen=True)
class Download:
    """A downloaded, checked image: its size, SHA-256 (hex), type by its bytes, and its URL."""

    bytes: int
    sha256: str
    ext: ImageType
    content_type: str | None
    url: str


@dataclass(frozen=True)
class Redirect:
    """A redirect to follow, to the absolute URL of its Location."""

    location: httpx.URL


async def fetch(
    pool: Pool,
    url: httpx.URL,
    headers: Mapping[str, str],
    dest: Path,
    target: str,
    *,
    limit: int,
    now: Callable[[], float],
    redact: Callable[[str], str],
) -> Download | Redirect | Failure:
    """One GET of an image URL: a redirect to follow, a checked image, or a failure.

    ``target`` names the download in messages; ``limit`` is the image cap in bytes; ``now`` is
    the wall clock (for a ``Retry-After`` date); ``redact`` cleans what the answer brings."""
    try:
        async with pool.stream("GET", url, headers=headers) as response:
            code = response.status_code
            if code in _REDIRECTS and response.headers.get("location"):
                try:
                    return Redirect(url.join(response.headers["location"]))
                except httpx.InvalidURL:
                    return Failure(
                        lambda _s: DownloadError(f"{target}: redirected to a bad URL"),
                        reason="bad redirect",
                        retryable=False,
                    )
            if not 200 <= code < 300:
                retry_after = parse_retry_after(response.headers.get("retry-after"), now())
                return Failure(
                    lambda s: DownloadError(
                        f"{target}: HTTP {code} {phrase(code)}{s}", status=code
                    ),
                    reason=f"HTTP {code}",
                    retryable=code in _GONE or retryable(code),
                    limited=code in _GONE,
                    status=code,
                    retry_after=retry_after,
                )
            return await _receive(response, dest, target, limit, redact)
    except (httpx.TransportError, httpx.DecodingError) as exc:
        reason = redact(describe(exc))
        return Failure(lambda s: DownloadError(f"{target}: {reason}{s}"), reason=reason, cause=exc)


async def _receive(
    response: httpx.Response, dest: Path, target: str, limit: int, redact: Callable[[str], str]
) -> Download | Failure:
    declared = content_length(response)
    if declared is not None and declared > limit:
        return _too_large(target, f"{declared} bytes is over the {limit} limit")
    digest = hashlib.sha256()
    head = b""
    tail = b""
    received = 0
    sink = _ImageSink(dest)
    try:
        decoder = BoundedDecoder(response.headers.get("content-encoding"), limit)
        async for raw in response.aiter_raw():
            received += len(raw)
            for chunk in decoder.feed(raw):
                if len(head) < HEAD:
                    head += chunk[: HEAD - len(head)]
                tail = (tail + chunk)[-TAIL:]
                digest.update(chunk)
                await sink.write(chunk)
        last = decoder.flush()
        digest.update(last)
        tail = (tail + last)[-TAIL:]
        await sink.write(last)
        size = decoder.produced
        verdict = check_body(declared, received, head, tail, size)
        if isinstance(verdict, str):
            await sink.commit()  # on disk before the caller renames it into place
    except BodyTooLarge:
        return _too_large(target, f"more than {limit} bytes")
    except UnsupportedEncoding as exc:
        problem = str(exc)
        return Failure(
            lambda _s: DownloadError(f"{target}: {problem}"), reason=problem, retryable=False
        )
    except OSError as exc:
        error = OutputError.from_os_error(dest, exc, "cannot write the image")
        return Failure(lambda _s: error, reason="write failed", retryable=False, cause=exc)
    finally:
        await sink.close()
    if isinstance(verdict, BadBody):
        problem = verdict.problem
        return Failure(
            lambda s: DownloadError(f"{target}: {problem}{s}"),
            reason=problem,
            retryable=verdict.retryable,
        )
    return Download(
        bytes=size,
        sha256=digest.hexdigest(),
        ext=verdict,
        content_type=response.headers.get("content-type"),
        url=redact(str(response.url)),
    )


def _too_large(target: str, problem: str) -> Failure:
    return Failure(
        lambda _s: DownloadError(f"{target}: {problem}"), reason="too large", retryable=False
    )


R = TypeVar("R")


class _ImageSink:
    """Where an image's bytes go while it downloads: memory up to :data:`_IN_MEMORY` bytes,
    its file past that. The file is created with ``EXCLUSIVE_FLAGS`` (``O_CREAT | O_EXCL |
    O_NOFOLLOW``): a file or a link already at the destination is an ``OSError``, never
    followed or overwritten. A file this sink created is removed again unless committed; one it
    did not create is never touched. The file system's work (open, write, fsync, close) happens
    in threads, so that neither a slow disk nor the cost of creating files stalls the event
    loop; a small image costs one thread hop in all."""

    def __init__(self, dest: Path) -> None:
        self._dest = dest
        self._held: list[bytes] = []
        self._size = 0
        self._file: BinaryIO | None = None
        self._created = False

    async def write(self, chunk: bytes) -> None:
        self._held.append(chunk)
        self._size += len(chunk)
        if self._size >= _IN_MEMORY:
            data = b"".join(self._held)
            self._held.clear()
            self._size = 0
            file = self._file
            if file is None:
                file = await _in_thread(_create, self._dest)
                self._file, self._created = file, True
            await _in_thread(file.write, data)

    async def commit(self) -> None:
        """Every byte in the file and on the disk (fsync), and the file closed."""
        data = b"".join(self._held)
        self._held.clear()
        file = self._file
        if file is None:
            file = await _in_thread(_create, self._dest)
            self._created = True
        self._file = None
        await _in_thread(_write_and_sync, file, data)
        self._created = False  # kept: the caller renames it into place

    async def close(self) -> None:
        """Drop what is held, close the file and remove it if this sink made it (a failed
        download)."""
        self._held.clear()
        self._file, file = None, self._file
        created, self._created = self._created, False
        await _in_thread(_discard, self._dest, file, created)


def _create(dest: Path) -> BinaryIO:
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


async def _in_thread(function: Callable[..., R], *args: object) -> R:
    """``function(*args)`` in a thread. When cancelled, it still waits for the thread, so that
    the caller's clean-up (removing the temporary file) comes after any file it creates."""
    future = asyncio.get_running_loop().run_in_executor(None, function, *args)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await future
        raise
