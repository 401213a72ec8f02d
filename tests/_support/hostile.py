"""A hostile HTTP/1.1 server on 127.0.0.1 for one test: it writes whatever bytes a test scripts.

The scripted server (``client_support``) answers like a well-behaved server; this one answers
the way a broken or malicious API would: endless bodies, gzip bombs, a body that drips one byte
at a time. It runs in the test's own event loop (``asyncio.start_server``).
"""

from __future__ import annotations

import asyncio
import contextlib
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

Answer = Callable[["Request", asyncio.StreamWriter], Awaitable[None]]


@dataclass(frozen=True)
class Request:
    """A request the hostile server read."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


def head(status: int = 200, headers: dict[str, str] | None = None) -> bytes:
    """A response's status line and headers."""
    lines = [f"HTTP/1.1 {status} X"] + [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def gzip_bomb(compressed_size: int, prefix: bytes = b"") -> bytes:
    """A gzip body of about ``compressed_size`` bytes that inflates about 1000 times: ``prefix``
    then zeros. Made from one deflate block repeated (a full flush makes blocks byte-aligned)."""
    maker = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(1 << 20)
    start = maker.compress(prefix + zeros) + maker.flush(zlib.Z_FULL_FLUSH)
    block = maker.compress(zeros) + maker.flush(zlib.Z_FULL_FLUSH)
    return start + block * max(1, compressed_size // len(block))


@contextlib.asynccontextmanager
async def hostile(answer: Answer) -> AsyncIterator[str]:
    """Serve ``answer`` for every request on a fresh port; yields the base URL."""
    handlers: set[asyncio.Task[None]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        try:
            while True:
                raw = await reader.readuntil(b"\r\n\r\n")
                first, *lines = raw.decode("latin-1").split("\r\n")
                headers = {}
                for line in lines:
                    name, _, value = line.partition(":")
                    if name:
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                method, path, _ = first.split(" ", 2)
                await answer(Request(method, path, headers, body), writer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            return
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)


class PeakMemory:
    """The peak of Python allocations over a block, in bytes above its start (tracemalloc)."""

    def __enter__(self) -> PeakMemory:
        tracemalloc.start()
        self.start = tracemalloc.get_traced_memory()[0]
        self.peak = 0
        return self

    def __exit__(self, *exc: object) -> None:
        self.peak = tracemalloc.get_traced_memory()[1] - self.start
        tracemalloc.stop()
