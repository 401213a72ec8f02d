"""One image download into a sink: a GET, a redirect to follow, or a body read and checked.

The Authorization header goes with a download only while every hop so far (redirects are
followed by hand, at most 5) is on the API's exact origin (scheme, host, port); never to any
other host: the client decides that at each hop. Here one GET answers a redirect to follow, a
failure (403/404/410 are retried ``not_found_retries`` times, 408, 429, 5xx, connection failures,
timeouts and truncated bodies ``max_retries`` times), or the image itself: its bytes streamed
into the sink, bounded by the image cap whatever the encoding, hashed, and checked by
:mod:`seedance_batch.client._sniff` before the sink commits them. A 2xx answer whose bytes are
not PNG, JPEG or WEBP fails at once. What the sink raises (a file that cannot be written) goes
up as it is: another try would not help.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import httpx

from seedance_batch._errors import DownloadError
from seedance_batch.client._answers import phrase
from seedance_batch.client._bounded import (
    BodyTooLarge,
    UnsupportedEncoding,
    decoder_for,
    raw_pieces,
)
from seedance_batch.client._failures import Failure, describe, retryable
from seedance_batch.client._http import Pool
from seedance_batch.client._retry import parse_retry_after
from seedance_batch.client._sniff import (
    HEAD,
    TAIL,
    BadBody,
    ImageType,
    check_body,
    content_length,
)

__all__ = ["MAX_REDIRECTS", "Download", "ImageSink", "Redirect", "fetch"]

#: Image answers that most likely mean "gone", retried only a few times.
_GONE = frozenset({403, 404, 410})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5


@dataclass(frozen=True)
class Download:
    """A downloaded, checked image: its size, SHA-256 (hex), type by its bytes, and its URL."""

    bytes: int
    sha256: str
    ext: ImageType
    content_type: str | None
    url: str


class ImageSink(Protocol):
    """Where a download's bytes go, chosen by the caller: the client writes no file.

    One sink serves every attempt of one download: a failed attempt is discarded before the
    next one writes again from the first byte.
    """

    async def write(self, chunk: bytes) -> None:
        """Take the next piece of the image, in order."""

    async def commit(self) -> None:
        """All bytes are in and checked: make them durable (or move them into place)."""

    async def discard(self) -> None:
        """The attempt failed (or was cancelled): drop what was written so far."""


@dataclass(frozen=True)
class Redirect:
    """A redirect to follow, to the absolute URL of its Location."""

    location: httpx.URL


async def fetch(
    pool: Pool,
    request: httpx.Request,
    sink: ImageSink,
    target: str,
    *,
    limit: int,
    now: Callable[[], float],
    redact: Callable[[str], str],
) -> Download | Redirect | Failure:
    """One GET of an image URL (``request``, as :meth:`Pool.prepare` builds it): a redirect to
    follow, a checked image, or a failure.

    ``target`` names the download in messages; ``limit`` is the image cap in bytes; ``now`` is
    the wall clock (for a ``Retry-After`` date); ``redact`` cleans what the answer brings."""
    try:
        response = await pool.open(request)
        try:
            code = response.status_code
            if code in _REDIRECTS and response.headers.get("location"):
                try:
                    return Redirect(request.url.join(response.headers["location"]))
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
            return await _receive(response, sink, target, limit, redact)
        finally:
            await response.aclose()
    except (httpx.TransportError, httpx.DecodingError) as exc:
        reason = redact(describe(exc))
        return Failure(lambda s: DownloadError(f"{target}: {reason}{s}"), reason=reason, cause=exc)


async def _receive(
    response: httpx.Response,
    sink: ImageSink,
    target: str,
    limit: int,
    redact: Callable[[str], str],
) -> Download | Failure:
    declared = content_length(response)
    if declared is not None and declared > limit:
        return _too_large(target, f"{declared} bytes is over the {limit} limit")
    digest = hashlib.sha256()
    head = b""
    tail = b""
    received = 0
    committed = False
    try:
        decoder = decoder_for(response, limit)
        async for raw in raw_pieces(response):
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
            await sink.commit()
            committed = True
    except BodyTooLarge:
        return _too_large(target, f"more than {limit} bytes")
    except UnsupportedEncoding as exc:
        problem = str(exc)
        return Failure(
            lambda _s: DownloadError(f"{target}: {problem}"), reason=problem, retryable=False
        )
    finally:
        if not committed:
            await sink.discard()
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
