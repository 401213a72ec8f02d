"""A small HTTP/1.1 server on asyncio: Content-Length bodies, keep-alive, pipelining.

It parses what HTTP clients send to a JSON API and nothing more: no chunked request bodies (501),
no upgrades. Each complete request is passed to a synchronous handler, whose :class:`Reply` is
written at once, or turned into a dropped connection or a body cut short.

A reply with a ``delay`` (written after it) or a ``stall`` (half its body, a wait, the rest) holds
its connection on an event-loop timer: other connections go on, and this one buffers its later
pipelined requests and serves them, in order, once the reply is out. The connection keeps
reading during the wait (up to a cap), so that a client that drops the connection is seen at
once and cancels the wait; a client that only shuts down its sending side still gets the reply.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from collections.abc import Callable
from http import HTTPStatus

from seedance_batch.simulator._messages import Reply, Request, error_reply

MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 1024 * 1024
#: What a held connection buffers before it stops reading until its reply is out.
MAX_HELD_BYTES = MAX_HEAD_BYTES + MAX_BODY_BYTES
SERVER_NAME = "seedance-simulator"

_log = logging.getLogger(__name__)

Handler = Callable[[Request], Reply]
StallHook = Callable[[], None]


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


class BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


class HttpConnection(asyncio.Protocol):
    """One client connection: reads requests, writes replies, honours keep-alive.

    ``on_stall`` is called each time a reply's stall begins (its first half written).
    """

    def __init__(
        self,
        handler: Handler,
        connections: set[asyncio.Transport],
        on_stall: StallHook | None = None,
    ) -> None:
        self._handler = handler
        self._connections = connections
        self._on_stall = on_stall
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None
        self._continued = False
        self._waiting: asyncio.TimerHandle | None = None
        self._eof = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._connections.add(transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is not None:
            self._connections.discard(self._transport)
        self._transport = None
        if self._waiting is not None:
            self._waiting.cancel()
            self._waiting = None

    def eof_received(self) -> bool | None:
        """The client sent all it will: close now, or once the held replies are out."""
        self._eof = True
        return True if self._waiting is not None else None

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if self._waiting is None:
            self._serve_buffer()
        elif len(self._buffer) > MAX_HELD_BYTES and self._transport is not None:
            self._transport.pause_reading()  # resumed when the held reply is out

    def _serve_buffer(self) -> None:
        """Serve the complete requests in the buffer, until one holds the connection."""
        try:
            while self._transport is not None and self._waiting is None and self._serve_one():
                pass
        except BadRequest as exc:
            self._send(error_reply(exc.status, str(exc), "invalid_request_error"), "GET", False)
        except Exception:
            _log.exception("the simulator failed on a request")
            self._send(error_reply(500, "internal simulator error", "server_error"), "GET", False)

    def _serve_one(self) -> bool:
        """Serve the first complete request in the buffer; False when none is complete."""
        head_end = self._buffer.find(b"\r\n\r\n")
        if head_end < 0:
            if len(self._buffer) > MAX_HEAD_BYTES:
                raise BadRequest(431, "request head too large")
            return False
        method, target, version, headers = _parse_head(bytes(self._buffer[:head_end]))
        if "transfer-encoding" in headers:
            raise BadRequest(501, "Transfer-Encoding is not supported; send Content-Length")
        length = _content_length(headers)
        body_start = head_end + 4
        if len(self._buffer) < body_start + length:
            if headers.get("expect", "").lower() == "100-continue" and not self._continued:
                self._continued = True
                assert self._transport is not None
                self._transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            return False
        body = bytes(self._buffer[body_start : body_start + length])
        del self._buffer[: body_start + length]
        self._continued = False
        connection = headers.get("connection", "").lower()
        if version == "HTTP/1.1":
            keep_alive = "close" not in connection
        else:
            keep_alive = "keep-alive" in connection
        reply = self._handler(Request(method, target, headers, body))
        if reply.delay > 0:
            self._hold(reply.delay, lambda: self._send(reply, method, keep_alive))
        else:
            self._send(reply, method, keep_alive)
        return keep_alive

    def _hold(self, seconds: float, then: Callable[[], None]) -> None:
        """Stop serving; after ``seconds`` run ``then`` and carry on with the buffer."""
        self._waiting = asyncio.get_running_loop().call_later(seconds, self._resume, then)

    def _resume(self, then: Callable[[], None]) -> None:
        self._waiting = None
        if self._transport is None:
            return
        then()
        transport = self._transport
        if self._waiting is None and transport is not None and not transport.is_closing():
            transport.resume_reading()
            self._serve_buffer()
            if self._eof and self._waiting is None and self._transport is not None:
                self._transport.close()

    def _send(self, reply: Reply, method: str, keep_alive: bool) -> None:
        transport = self._transport
        if transport is None:
            return
        if reply.fate == "reset":
            _drop(transport)
            return
        lines = [
            f"HTTP/1.1 {reply.status} {_reason(reply.status)}",
            f"Server: {SERVER_NAME}",
            f"Content-Type: {reply.content_type}",
            f"Content-Length: {len(reply.body)}",
            *(f"{name}: {value}" for name, value in reply.headers),
            "Connection: keep-alive" if keep_alive else "Connection: close",
            "\r\n",
        ]
        head = "\r\n".join(lines).encode("latin-1")
        if reply.fate == "truncate":
            transport.write(head + reply.body[: len(reply.body) // 2])
            transport.close()
            return
        if method == "HEAD":
            transport.write(head)
        elif reply.stall > 0 and len(reply.body) > 1:
            half = len(reply.body) // 2
            transport.write(head + reply.body[:half])
            if self._on_stall is not None:
                self._on_stall()
            self._hold(reply.stall, lambda: self._finish(reply.body[half:], keep_alive))
            return
        else:
            transport.write(head + reply.body)
        if not keep_alive:
            transport.close()

    def _finish(self, rest: bytes, keep_alive: bool) -> None:
        """Write the rest of a stalled body."""
        transport = self._transport
        if transport is None:
            return
        transport.write(rest)
        if not keep_alive:
            transport.close()


def _drop(transport: asyncio.Transport) -> None:
    """Close with a TCP reset, without a byte of answer."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


def _parse_head(head: bytes) -> tuple[str, str, str, dict[str, str]]:
    try:
        text = head.decode("latin-1")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes every byte
        raise BadRequest(400, "request head is not text") from None
    request_line, *header_lines = text.split("\r\n")
    parts = request_line.split(" ")
    if len(parts) != 3 or parts[2] not in ("HTTP/1.1", "HTTP/1.0") or not parts[1].startswith("/"):
        raise BadRequest(400, f"malformed request line {request_line[:100]!r}")
    headers: dict[str, str] = {}
    for line in header_lines:
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip():
            raise BadRequest(400, f"malformed header line {line[:100]!r}")
        headers[name.lower()] = value.strip()
    return parts[0], parts[1], parts[2], headers


def _content_length(headers: dict[str, str]) -> int:
    text = headers.get("content-length", "0")
    if not text.isascii() or not text.isdigit():
        raise BadRequest(400, f"bad Content-Length {text[:40]!r}")
    length = int(text)
    if length > MAX_BODY_BYTES:
        raise BadRequest(413, f"request body over {MAX_BODY_BYTES} bytes")
    return length
