"""Bodies read in bounded pieces: an answer or an image never grows past its cap, decoded or not.

Bodies are read raw, in the pieces the socket gives, and decoded here (gzip and deflate in
steps of 1 MiB, so a bomb never inflates past the cap; other codings, which nothing asked for,
are refused).
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator, Iterator

import httpx

__all__ = [
    "DECODE_STEP",
    "BodyTooLarge",
    "BoundedDecoder",
    "UnsupportedEncoding",
    "decoder_for",
    "raw_pieces",
    "read_bounded",
]


class BodyTooLarge(Exception):
    """A body (after decoding) passed its cap; ``limit`` is the cap in bytes."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"more than {limit} bytes")


class UnsupportedEncoding(Exception):
    """A Content-Encoding this client does not decode (it never asks for one)."""


#: The most one step of decoding produces: a bomb inflates in pieces this size, never more.
DECODE_STEP = 1024 * 1024


class BoundedDecoder:
    """Decodes a body's Content-Encoding (none, ``gzip`` or ``deflate``) chunk by chunk, never
    holding or producing more than ``limit`` decoded bytes: each step asks zlib for at most
    what is left under the cap, so a gzip bomb stops at the cap, not in memory.

    The client sends no ``Accept-Encoding``; a server may still compress (a proxy or a CDN
    often does), and gzip and deflate are cheap to bound, so they are decoded. Any other
    coding (``br``, ``zstd``, stacked codings) raises :class:`UnsupportedEncoding`: nothing asked
    for it, and its decoder could not be bounded here.
    """

    __slots__ = ("_limit", "_produced", "_raw", "_zlib")

    def __init__(self, content_encoding: str | None, limit: int) -> None:
        codings = [c.strip().lower() for c in (content_encoding or "").split(",")]
        codings = [c for c in codings if c and c != "identity"]
        self._limit = limit
        self._produced = 0
        self._raw = 0
        self._zlib: zlib._Decompress | None = None
        if not codings:
            return
        if len(codings) > 1 or codings[0] not in ("gzip", "x-gzip", "deflate"):
            raise UnsupportedEncoding(f"Content-Encoding {', '.join(codings)} was not asked for")
        # 32 + MAX_WBITS reads a gzip or a zlib header, whichever the body has
        self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 32)

    @property
    def produced(self) -> int:
        """Decoded bytes so far."""
        return self._produced

    def feed(self, data: bytes) -> Iterator[bytes]:
        """The decoded pieces of the next raw chunk, each at most :data:`DECODE_STEP` bytes;
        :class:`BodyTooLarge` past the cap (of the raw bytes as well: what follows a
        compressed stream's end is held by zlib)."""
        self._raw += len(data)
        if self._zlib is None:
            yield self._count(data)
            return
        if self._raw > self._limit:
            raise BodyTooLarge(self._limit)
        while data:
            try:
                piece = self._zlib.decompress(
                    data, min(DECODE_STEP, self._limit - self._produced + 1)
                )
            except zlib.error as exc:
                raise httpx.DecodingError(f"bad compressed body: {exc}") from None
            yield self._count(piece)
            data = self._zlib.unconsumed_tail

    def flush(self) -> bytes:
        """What the decoder still holds at the end of the body."""
        if self._zlib is None:
            return b""
        try:
            return self._count(self._zlib.flush())
        except zlib.error as exc:
            raise httpx.DecodingError(f"bad compressed body: {exc}") from None

    def _count(self, data: bytes) -> bytes:
        self._produced += len(data)
        if self._produced > self._limit:
            raise BodyTooLarge(self._limit)
        return data


async def read_bounded(response: httpx.Response, limit: int) -> bytes:
    """The whole decoded body of ``response``, read raw in the pieces the socket gives, at most
    ``limit`` bytes (:class:`BodyTooLarge` past it, having read no more than one piece
    beyond)."""
    decoder = decoder_for(response, limit)
    parts: list[bytes] = []
    async for chunk in raw_pieces(response):
        parts.extend(decoder.feed(chunk))
    parts.append(decoder.flush())
    return b"".join(parts)


def decoder_for(response: httpx.Response, limit: int) -> BoundedDecoder:
    """The decoder of ``response``'s body as :func:`raw_pieces` gives it."""
    encoding = None if response.is_stream_consumed else response.headers.get("content-encoding")
    return BoundedDecoder(encoding, limit)


async def raw_pieces(response: httpx.Response) -> AsyncIterator[bytes]:
    """``response``'s body as it comes off the wire; a body httpx has already read (an answer
    made with ``content=`` or ``json=``, as ``httpx.MockTransport`` handlers make them) comes
    whole, already decoded."""
    if response.is_stream_consumed:
        yield response.content
        return
    async for chunk in response.aiter_raw():
        yield chunk
