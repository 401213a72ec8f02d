"""Small, valid, deterministic PNG images, written with zlib and struct alone."""

from __future__ import annotations

import hashlib
import struct
import zlib
from functools import lru_cache

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COLOUR_TYPE_RGB = 2
_BIT_DEPTH = 8
_RAMP = bytes(range(256)) * 4  # 0..255 repeated, long enough for any row offset plus width


def _chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def encode_png(width: int, height: int, rgb_rows: list[bytes]) -> bytes:
    """Encode ``height`` rows of ``width`` RGB pixels (3 bytes each) as a PNG file."""
    if width < 1 or height < 1 or len(rgb_rows) != height:
        raise ValueError(f"bad image geometry {width}x{height} with {len(rgb_rows)} rows")
    if any(len(row) != 3 * width for row in rgb_rows):
        raise ValueError("every row must hold exactly 3 * width bytes")
    header = struct.pack(">IIBBBBB", width, height, _BIT_DEPTH, _COLOUR_TYPE_RGB, 0, 0, 0)
    raw = b"".join(b"\x00" + row for row in rgb_rows)  # filter type 0 (None) on every row
    return (
        PNG_SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw, 6))
        + _chunk(b"IEND", b"")
    )


@lru_cache(maxsize=2048)
def render_image(task_id: str, index: int, width: int, height: int) -> bytes:
    """Image ``index`` of task ``task_id``: stripes over a gradient that follow the pair alone."""
    digest = hashlib.sha256(f"{task_id}/{index}".encode()).digest()
    red, green, blue = digest[0], digest[1], digest[2]
    step_x, step_y, stripe = 1 + digest[3] % 7, 1 + digest[4] % 7, 2 + digest[5] % 6
    reds = bytes((red + x * step_x) & 0xFF for x in range(width))
    rows = []
    for y in range(height):
        row = bytearray(3 * width)
        row[0::3] = reds
        row[1::3] = bytes(((green + y * step_y) & 0xFF,)) * width
        start = (blue + (64 if (y // stripe) % 2 else 0) + y) & 0xFF
        row[2::3] = _RAMP[start : start + width]
        rows.append(bytes(row))
    return encode_png(width, height, rows)
