"""A pool's cheap path: requests built from headers merged once, sent by AsyncClient as built."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from seedance_batch.client import SeedanceClient, _client
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


def test_a_task_polled_again_reuses_its_request_and_few_are_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each poll of a task sends the same URL and headers from one request built once; the
    requests kept are bounded (the oldest task's dropped), and a dropped one is rebuilt."""
    monkeypatch.setattr(_client, "_POLLS_KEPT", 3)
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"id": request.url.path.rsplit("/")[-1], "status": "ok"})

    async def main() -> list[str]:
        client = SeedanceClient(
            "http://127.0.0.1:9", "sk-test-key", transport=httpx.MockTransport(handler)
        )
        try:
            ids = ["a", "a", "b", "c", "d", "a"]
            tasks = [await client.get_task(task_id) for task_id in ids]
            assert len(client._polls) == 3
            return [task.id for task in tasks]
        finally:
            await client.aclose()

    assert asyncio.run(main()) == ["a", "a", "b", "c", "d", "a"]
    assert seen[0] is seen[1] and seen[5] is not seen[0]
    assert seen[5].url == seen[0].url and seen[5].headers == seen[0].headers
