"""A pool's cheap path: requests built from headers merged once, sent by AsyncClient as built."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from seedance_batch.client._bounded import BodyTooLarge
from seedance_batch.client._http import Pool, http_client, on_headers_sent


def _pool(handler: httpx.MockTransport) -> Pool:
    return http_client(connections=2, timeout=7.0, headers={"User-Agent": "ua"}, transport=handler)


def test_a_prepared_request_carries_the_merged_headers_and_the_pool_timeout() -> None:
    """prepare() sends the pool's headers with the extra ones, none of httpx's own, under the
    pool's timeout, and read() returns the whole body."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=b"hello")

    async def main() -> bytes:
        pool = _pool(httpx.MockTransport(handler))
        headers = pool.headers_with({"Authorization": "Bearer k-1234"})
        try:
            response, body = await pool.read(pool.prepare("GET", "http://h.test/a", headers), 99)
        finally:
            await pool.aclose()
        assert response.status_code == 200
        return body

    assert asyncio.run(main()) == b"hello"
    (request,) = seen
    assert dict(request.headers) == {
        "host": "h.test",
        "user-agent": "ua",
        "authorization": "Bearer k-1234",
    }
    assert request.extensions["timeout"] == httpx.Timeout(7.0).as_dict()


def test_open_follows_no_redirect_and_read_keeps_the_cap() -> None:
    """open() hands back a redirect as it came, and read() refuses a body over its cap."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/moved":
            return httpx.Response(302, headers={"Location": "/elsewhere"})
        return httpx.Response(200, content=b"x" * 100)

    async def main() -> int:
        pool = _pool(httpx.MockTransport(handler))
        headers = pool.headers_with({})
        try:
            response = await pool.open(pool.prepare("GET", "http://h.test/moved", headers))
            await response.aclose()
            with pytest.raises(BodyTooLarge):
                await pool.read(pool.prepare("GET", "http://h.test/big", headers), 10)
        finally:
            await pool.aclose()
        return response.status_code

    assert asyncio.run(main()) == 302


def test_a_prepared_request_may_carry_a_trace() -> None:
    """prepare(trace=...) puts httpx's trace extension on the request (the create's on_send)."""
    trace = on_headers_sent(lambda: None)
    pool = _pool(httpx.MockTransport(lambda _r: httpx.Response(200)))
    request = pool.prepare(
        "POST", "http://h.test/", pool.headers_with({}), content=b"{}", trace=trace
    )
    assert request.extensions["trace"] is trace
    assert request.content == b"{}"
