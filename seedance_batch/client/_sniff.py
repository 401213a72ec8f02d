"""Which image a body is by its bytes (PNG, JPEG, WEBP), and whether it arrived whole.

A body is truncated when it is shorter than its Content-Length or its format's end marker is
missing (PNG ``IEND``, JPEG ``FFD9``, the RIFF size of a WEBP); a truncated body is worth
another try, bytes that are no image are not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import httpx

__all__ = ["HEAD", "TAIL", "BadBody", "ImageType", "check_body", "content_length", "sniff"]

ImageType = Literal["png", "jpg", "webp"]

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"
_JPEG_MAGIC = b"\xff\xd8\xff"
_JPEG_END = b"\xff\xd9"
#: Bytes kept of a body's start (for its magic) and end (for its end marker).
HEAD = 16
TAIL = 64


def content_length(response: httpx.Response) -> int | None:
    """The Content-Length header as a number, or None when it is missing or not one."""
    value = response.headers.get("content-length")
    if value is None or not value.strip().isdigit():
        return None
    return int(value)


def sniff(head: bytes) -> ImageType | None:
    """The image type that ``head`` (a body's first bytes) starts, or None."""
    if head.startswith(_PNG_MAGIC):
        return "png"
    if head.startswith(_JPEG_MAGIC):
        return "jpg"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return None


@dataclass(frozen=True)
class BadBody:
    """What is wrong with a body, and whether another try may cure it."""

    problem: str
    retryable: bool  # a truncated body is retried; bytes that are no image are not


def check_body(
    declared: int | None, received: int, head: bytes, tail: bytes, size: int
) -> ImageType | BadBody:
    """The image type of a whole image body, or what is wrong with it.

    ``declared`` is the Content-Length and ``received`` the bytes read off the wire; ``head``
    and ``tail`` are the first 16 and last 64 bytes of the (decoded) body of ``size`` bytes.
    """
    if declared is not None and received < declared:
        return BadBody(f"truncated body ({received} of {declared} bytes)", True)
    if size == 0:
        return BadBody("empty body", True)
    ext = sniff(head)
    if ext is None:
        if size < 12 and any(m.startswith(head) for m in (_PNG_MAGIC, _JPEG_MAGIC, b"RIFF")):
            return BadBody(f"truncated body ({size} bytes)", True)
        return BadBody(f"not a PNG, JPEG or WEBP image (starts with {head[:8]!r})", False)
    if ext == "png" and not tail.endswith(_PNG_END):
        return BadBody(f"truncated PNG (no IEND chunk after {size} bytes)", True)
    if ext == "jpg" and not tail.rstrip(b"\x00\r\n ").endswith(_JPEG_END):
        return BadBody(f"truncated JPEG (no end marker after {size} bytes)", True)
    riff_size = int.from_bytes(head[4:8], "little") + 8
    if ext == "webp" and size < riff_size:
        return BadBody(f"truncated WEBP ({size} of {riff_size} bytes)", True)
    return ext
