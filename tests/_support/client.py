"""A real, scripted HTTP server on 127.0.0.1 for the client's tests, and injected time.

Each test scripts, per path, the answers the server gives in turn (a status, headers and a
body; or a reset of the connection after reading the request; or a body cut short; or a delay),
and reads back the requests the server received, headers included. The server is a stdlib
``ThreadingHTTPServer`` speaking HTTP/1.1 with keep-alive in a thread: a real server, not a mock.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import socket
import struct
import sys
import threading
import time
import zlib
from collections import deque
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

import httpx

from seedance_batch.client import RetryEvent, RetryPolicy, SeedanceClient

T = TypeVar("T")

API_KEY = "sk-test-0123456789abcdef"
WALL = 1_700_000_000.0  # the injected wall clock, for HTTP dates


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run one coroutine to completion (pytest-asyncio is not used)."""
    return asyncio.run(coro)


# --------------------------------------------------------------------------------------------
# Scripted answers


@dataclass
class Reply:
    """One scripted answer.

    ``body`` may be bytes, a str, or anything JSON (a dict or list is sent as JSON).
    ``reset``: read the request, then drop the connection with a TCP reset, answering nothing.
    ``short``: declare the full Content-Length but send only this many body bytes, then close.
    ``close_delimited``: no Content-Length; the body ends when the connection closes.
    ``delay``: seconds to wait before answering.
    """

    status: int = 200
    body: object = b""
    headers: dict[str, str] = field(default_factory=dict)
    reset: bool = False
    short: int | None = None
    close_delimited: bool = False
    delay: float = 0.0

    def payload(self) -> tuple[bytes, str | None]:
        if isinstance(self.body, bytes):
            return self.body, None
        if isinstance(self.body, str):
            return self.body.encode(), "text/plain; charset=utf-8"
        return json.dumps(self.body).encode(), "application/json"


def reset() -> Reply:
    """Drop the connection after reading the request (the request reached the server)."""
    return Reply(reset=True)


@dataclass(frozen=True)
class Recorded:
    """A request the server received."""

    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    peer: int = 0  # the client's port: one per connection

    def json(self) -> Any:
        return json.loads(self.body)


class _QuietServer(ThreadingHTTPServer):
    """A client that hangs up mid-answer (a body over the size limit) is expected here."""

    def handle_error(self, request: object, client_address: object) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class _Scripts:
    """Per-path scripts of answers, and the requests received, shared by both kinds of host."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._scripts: dict[str, deque[Reply]] = {}
        self._always: dict[str, Reply] = {}
        self.requests: list[Recorded] = []
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def script(self, path: str, *replies: Reply) -> None:
        """Answer the next requests to ``path`` with ``replies``, in order."""
        with self._lock:
            self._scripts.setdefault(path, deque()).extend(replies)

    def always(self, path: str, reply: Reply) -> None:
        """Answer ``path`` with ``reply`` once its script is used up."""
        with self._lock:
            self._always[path] = reply

    def to(self, path: str) -> list[Recorded]:
        """The requests received for ``path``."""
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def _next(self, request: Recorded) -> Reply:
        with self._lock:
            self.requests.append(request)
            queue = self._scripts.get(request.path)
            if queue:
                return queue.popleft()
            if request.path in self._always:
                return self._always[request.path]
        # An unscripted path answers with a status the client never retries.
        return Reply(418, {"error": {"message": f"unscripted path {request.path}"}})

    def close(self) -> None:
        """Stop answering."""


class ScriptedServer(_Scripts):
    """A threaded HTTP/1.1 server on 127.0.0.1 answering from per-path scripts."""

    def __init__(self) -> None:
        super().__init__()
        self._httpd = _QuietServer(("127.0.0.1", 0), _make_handler(self))
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


class MockHost(_Scripts):
    """A host of a :class:`MockNetwork`: the same scripts, answered with no socket (resets,
    bodies cut short and connection peers are the real server's)."""

    async def answer(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        path = request.url.raw_path.decode("ascii")
        headers = {k.lower(): v for k, v in request.headers.items()}
        reply = self._next(Recorded(request.method, path, headers, body))
        assert not (reply.reset or reply.short is not None or reply.close_delimited), (
            "a reset, a short body or a close-delimited body needs a real socket: mark the test "
            "with @pytest.mark.sockets"
        )
        if reply.delay:
            await asyncio.sleep(reply.delay)
        data, content_type = reply.payload()
        answer_headers = dict(reply.headers)
        names = {k.lower() for k in answer_headers}
        if content_type and "content-type" not in names:
            answer_headers["Content-Type"] = content_type
        if "content-length" not in names:
            answer_headers["Content-Length"] = str(len(data))
        return httpx.Response(reply.status, headers=answer_headers, stream=_Body(data))


class _Body(httpx.AsyncByteStream):
    """A body streamed as a socket would give it (httpx reads ``content=`` at once)."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self._data:
            yield self._data


class MockNetwork:
    """Hosts on 127.0.0.1 answered through one ``httpx.MockTransport``: no socket, no thread.
    A port no host has refuses the connection (``httpx.ConnectError``)."""

    def __init__(self) -> None:
        self._hosts: dict[int, MockHost] = {}

    def host(self) -> MockHost:
        """A new host on a port of its own."""
        host = MockHost()
        host.port = 40_000 + len(self._hosts)
        self._hosts[host.port] = host
        return host

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self._handle)

    async def _handle(self, request: httpx.Request) -> httpx.Response:
        host = self._hosts.get(request.url.port or 80)
        if request.url.host != "127.0.0.1" or host is None:
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        return await host.answer(request)


def _make_handler(server: ScriptedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            recorded = Recorded(
                method=self.command,
                path=self.path,
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
                peer=self.client_address[1],
            )
            reply = server._next(recorded)
            if reply.delay:
                time.sleep(reply.delay)
            if reply.reset:
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.connection.close()
                self.close_connection = True
                return
            data, content_type = reply.payload()
            self.send_response(reply.status)
            headers = {k.lower(): v for k, v in reply.headers.items()}
            if content_type and "content-type" not in headers:
                self.send_header("Content-Type", content_type)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if reply.close_delimited:
                self.send_header("Connection", "close")
                self.close_connection = True
            elif "content-length" not in headers:
                self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if reply.short is not None:
                self.wfile.write(data[: reply.short])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(data)
            self.wfile.flush()

    return Handler


# --------------------------------------------------------------------------------------------
# Injected time and the client


class FakeTime:
    """A monotonic clock that only moves when the code under test sleeps; sleeps are recorded.

    With ``advance=False`` the clock stands still: for concurrent sleepers, whose waits must
    all be measured from the same instant.
    """

    def __init__(self, advance: bool = True) -> None:
        self.now = 1000.0
        self.advance = advance
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if self.advance:
            self.now += seconds
        await asyncio.sleep(0)


@dataclass
class Harness:
    """Builds clients on the scripted hosts with injected time, a seeded RNG and an event log."""

    server: _Scripts
    time: FakeTime
    events: list[RetryEvent] = field(default_factory=list)
    seed: int = 7
    transport: httpx.AsyncBaseTransport | None = None  # a MockNetwork's, or real sockets

    def client(self, **overrides: Any) -> SeedanceClient:
        options: dict[str, Any] = {
            "requests_per_second": math.inf,
            "retry": RetryPolicy(base=1.0, cap=60.0, max_retries=3),
            "sleep": self.time.sleep,
            "clock": self.time.clock,
            "wall_clock": lambda: WALL,
            "rng": random.Random(self.seed),
            "on_retry": self.events.append,
            "timeout": 5.0,
        }
        if self.transport is not None:
            options["transport"] = self.transport
        options.update(overrides)
        base_url = options.pop("base_url", self.server.url)
        return SeedanceClient(base_url, API_KEY, **options)


def using(
    harness: Harness, body: Callable[[SeedanceClient], Coroutine[Any, Any, T]], **kw: Any
) -> T:
    """Run ``body`` with a fresh client of ``harness``, closing it afterwards."""

    async def main() -> T:
        async with harness.client(**kw) as client:
            return await body(client)

    return run(main())


# --------------------------------------------------------------------------------------------
# Image bytes


def png_bytes(width: int = 64, height: int = 64, seed: int = 1) -> bytes:
    """A valid PNG of random pixels (a large one streams in several chunks)."""
    rng = random.Random(seed)

    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(tag + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    rows = b"".join(b"\x00" + rng.randbytes(width * 3) for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 1))
        + chunk(b"IEND", b"")
    )


def jpeg_bytes(size: int = 2000, seed: int = 2) -> bytes:
    """JPEG framing: SOI, a JFIF APP0 segment, entropy-coded filler, EOI."""
    app0 = b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    filler = bytes(b if b != 0xFF else 0x00 for b in random.Random(seed).randbytes(size))
    return b"\xff\xd8\xff\xe0" + struct.pack(">H", len(app0) + 2) + app0 + filler + b"\xff\xd9"


def webp_bytes(size: int = 1500, seed: int = 3) -> bytes:
    """RIFF/WEBP framing with one VP8L chunk; the RIFF size is the file's size minus 8."""
    data = random.Random(seed).randbytes(size)
    pad = b"\x00" if len(data) % 2 else b""
    payload = b"WEBP" + b"VP8L" + struct.pack("<I", len(data)) + data + pad
    return b"RIFF" + struct.pack("<I", len(payload)) + payload
