"""Helpers for the simulator's tests: every test talks to a real simulator over real HTTP."""

from __future__ import annotations

import ssl
import struct
import zlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from seedance_batch.simulator import Simulator

KEY = "sk-test"
#: One TLS context for every client: building one per client costs more than a test.
TLS = ssl.create_default_context()
CREATE = "/v1/images/generations"


def api_client(simulator: Simulator, key: str | None = KEY) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    return httpx.Client(base_url=simulator.base_url, headers=headers, timeout=10, verify=TLS)


def address_of(url: str) -> tuple[str, int]:
    """The (host, port) of an http URL, for raw sockets."""
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    return (parts.hostname, parts.port)


def create(
    client: httpx.Client, body: dict[str, Any] | None = None, idempotency_key: str | None = None
) -> httpx.Response:
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    return client.post(CREATE, json=body or {"prompt": "a red apple"}, headers=headers)


def task_of(answer: dict[str, Any]) -> dict[str, Any]:
    """The task object of an answer: bare, in ``data``, in a code wrapper or a one-item list."""
    inner = answer.get("data")
    if "object" in answer:
        return answer
    if isinstance(inner, list) and len(inner) == 1 and isinstance(inner[0], dict):
        return inner[0]
    return inner if isinstance(inner, dict) else answer


def task_id_of(answer: dict[str, Any]) -> str:
    task = task_of(answer)
    value = task.get("id", task.get("task_id", task.get("taskId")))
    assert isinstance(value, str)
    return value


def image_urls_of(answer: dict[str, Any]) -> list[str]:
    """Every image URL of an answer, from each place the simulator puts them, in order, unique."""
    task = task_of(answer)
    found: list[str] = []
    items = task.get("data")
    for item in items if isinstance(items, list) else []:
        found += item.get("imageUrls") or []
        url = item.get("url")
        found += [url] if isinstance(url, str) else (url or [])
    found += task.get("results") or []
    found += task.get("imageUrls") or []
    found += [image["url"] for image in (task.get("result") or {}).get("images", [])]
    found += (task.get("response") or {}).get("resultUrls") or []
    found += task.get("output") or []
    found += [image["url"] for image in task.get("images") or []]
    return list(dict.fromkeys(found))


@dataclass(frozen=True)
class Png:
    width: int
    height: int
    rows: list[bytes]


def parse_png(data: bytes) -> Png:
    """Parse a PNG strictly (signature, chunk CRCs, IHDR, IDAT inflated to the right size)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "bad signature"
    offset, chunks = 8, []
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        payload = data[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length : offset + 12 + length])
        assert crc == zlib.crc32(kind + payload) & 0xFFFFFFFF, f"bad CRC in {kind!r}"
        chunks.append((kind, payload))
        offset += 12 + length
    assert offset == len(data), "trailing bytes"
    assert chunks[0][0] == b"IHDR" and chunks[-1][0] == b"IEND"
    width, height, depth, colour, compression, filtering, interlace = struct.unpack(
        ">IIBBBBB", chunks[0][1]
    )
    assert (depth, colour, compression, filtering, interlace) == (8, 2, 0, 0, 0)
    raw = zlib.decompress(b"".join(p for k, p in chunks if k == b"IDAT"))
    stride = 1 + 3 * width
    assert len(raw) == stride * height, "IDAT does not hold width x height pixels"
    rows = [raw[y * stride : (y + 1) * stride] for y in range(height)]
    assert all(row[0] == 0 for row in rows), "unexpected filter type"
    return Png(width, height, [row[1:] for row in rows])


#: A plain client (no key) for image hosts and raw checks, shared to spare a TLS context per call.
web = httpx.Client(timeout=10, verify=TLS)
