"""The HTTP/1.1 layer: keep-alive, Connection: close, pipelining and malformed requests."""

from __future__ import annotations

import re
import socket

from _support.simulator import KEY, address_of, api_client, create

from seedance_batch.simulator import Simulator


def _raw(sim: Simulator, payload: bytes) -> bytes:
    """Send raw bytes, read until the server closes, return everything it sent."""
    with socket.create_connection(address_of(sim.base_url), timeout=5) as sock:
        sock.sendall(payload)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


def _get(path: str, extra: str = "", version: str = "HTTP/1.1") -> bytes:
    return f"GET {path} {version}\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n{extra}\r\n".encode()


def test_one_connection_serves_many_requests(sim: Simulator) -> None:
    """Keep-alive: a client with one connection makes many requests on it."""
    with api_client(sim) as client:
        answers = [create(client) for _ in range(20)]
    assert all(answer.headers["connection"] == "keep-alive" for answer in answers)
    assert sim.counters.creates == 20


def test_connection_close_is_honoured(sim: Simulator) -> None:
    """A request with Connection: close is answered, then the server closes."""
    received = _raw(sim, _get("/v1/tasks/task_x", "Connection: close\r\n"))
    assert received.startswith(b"HTTP/1.1 404 Not Found\r\n")
    assert b"\r\nConnection: close\r\n" in received


def test_http_1_0_closes_after_one_answer(sim: Simulator) -> None:
    """An HTTP/1.0 request without keep-alive is answered, then the connection closes."""
    received = _raw(sim, _get("/v1/tasks/task_x", version="HTTP/1.0"))
    assert received.count(b"HTTP/1.1 404") == 1


def test_pipelined_requests_are_answered_in_order(sim: Simulator) -> None:
    """Requests sent back to back in one write are each answered, in order."""
    body = b'{"prompt": "p"}'
    create_request = (
        f"POST /v1/images/generations HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    received = _raw(sim, create_request + _get("/nowhere") + _get("/v1/x", "Connection: close\r\n"))
    statuses = re.findall(rb"HTTP/1\.1 (\d{3}) ", received)
    assert statuses == [b"200", b"404", b"404"]


def test_a_body_split_across_writes_is_reassembled(sim: Simulator) -> None:
    """A Content-Length body arriving in pieces is read whole."""
    body = b'{"prompt": "a long prompt arriving in two pieces"}'
    head = (
        f"POST /v1/images/generations HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(address_of(sim.base_url), timeout=5) as sock:
        sock.sendall(head + body[:10])
        sock.sendall(body[10:])
        received = sock.recv(65536)
    assert received.startswith(b"HTTP/1.1 200 OK")


def test_expect_100_continue_is_answered(sim: Simulator) -> None:
    """A client sending Expect: 100-continue gets 100 Continue, then the answer."""
    body = b'{"prompt": "p"}'
    head = (
        f"POST /v1/images/generations HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n"
        f"Expect: 100-continue\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(address_of(sim.base_url), timeout=5) as sock:
        sock.sendall(head)
        assert sock.recv(65536) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(body)
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 OK")


def test_malformed_requests_answer_400_and_close(sim: Simulator) -> None:
    """A malformed request line, header or Content-Length answers 400 and closes."""
    for payload in (
        b"NONSENSE\r\n\r\n",
        b"GET /v1/tasks/x HTTP/2.0\r\n\r\n",
        b"GET /v1/tasks/x HTTP/1.1\r\nno colon here\r\n\r\n",
        b"POST /v1/images/generations HTTP/1.1\r\nContent-Length: ten\r\n\r\n",
    ):
        assert _raw(sim, payload).startswith(b"HTTP/1.1 400 Bad Request\r\n"), payload


def test_chunked_request_bodies_answer_501(sim: Simulator) -> None:
    """A chunked request body is refused with 501, naming Content-Length."""
    received = _raw(
        sim, b"POST /v1/images/generations HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    )
    assert received.startswith(b"HTTP/1.1 501 ")
    assert b"Content-Length" in received


def test_oversized_heads_and_bodies_are_refused(sim: Simulator) -> None:
    """A head over 64 KiB answers 431; a declared body over 1 MiB answers 413."""
    huge_head = b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 70_000
    assert _raw(sim, huge_head).startswith(b"HTTP/1.1 431 ")
    big_body = b"POST /v1/images/generations HTTP/1.1\r\nContent-Length: 2000000\r\n\r\n"
    assert _raw(sim, big_body).startswith(b"HTTP/1.1 413 ")
