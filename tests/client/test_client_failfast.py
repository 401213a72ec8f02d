"""Fail fast (issue 10 point 4), on_send on create, waits given only in a body, a lasting 409."""

from __future__ import annotations

import asyncio
import math
import random
import socket
import time
from typing import Any

import pytest
from _support.client import API_KEY, Harness, Reply, ScriptedServer, using

from seedance_batch._errors import NetworkError, TransientApiError, UnreachableError
from seedance_batch.client import RetryPolicy, SeedanceClient

CREATE_PATH = "/v1/images/generations"
TASK = {"id": "t1", "status": "pending"}


def _refused_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    sock.close()
    return port


def real_client(base_url: str, **kw: Any) -> SeedanceClient:
    options: dict[str, Any] = {
        "requests_per_second": math.inf,
        "retry": RetryPolicy(base=0.05, cap=0.2),
        "rng": random.Random(3),
        "unreachable_after": 1.0,
        "timeout": 5.0,
    }
    options.update(kw)
    return SeedanceClient(base_url, API_KEY, **options)


def test_refused_host_is_unreachable_within_the_window(harness: Harness) -> None:
    """With the default policy, refused connects end in UnreachableError within 20 s of waits."""
    base = f"http://127.0.0.1:{_refused_port()}"
    default = RetryPolicy()
    with pytest.raises(UnreachableError) as caught:
        using(harness, lambda c: c.create({"prompt": "p"}, "k-1"), base_url=base, retry=default)
    assert caught.value.host == base
    assert not caught.value.task_may_exist
    assert sum(harness.time.sleeps) <= 20.0 + 1e-6
    assert "cannot reach the API at" in str(caught.value)


def test_after_unreachable_every_request_fails_at_once(harness: Harness) -> None:
    """Once the host is unreachable, the same client's next requests fail at once, unsent."""
    base = f"http://127.0.0.1:{_refused_port()}"

    async def body(client: SeedanceClient) -> list[BaseException]:
        with pytest.raises(UnreachableError):
            await client.get_task("t")
        sleeps = len(harness.time.sleeps)
        errors: list[BaseException] = []
        for call in (client.get_task("u"), client.create({"prompt": "p"}, "k-2")):
            try:
                await call
            except UnreachableError as exc:
                errors.append(exc)
        assert len(harness.time.sleeps) == sleeps  # no more retries
        return errors

    errors = using(harness, body, base_url=base)
    assert len(errors) == 2
    assert all(not e.task_may_exist for e in errors)


def test_fifty_creates_in_flight_fail_fast_in_real_time() -> None:
    """Fifty creates against a refused port all raise UnreachableError within the window."""
    base = f"http://127.0.0.1:{_refused_port()}"

    async def main() -> tuple[float, list[BaseException | object]]:
        started = time.monotonic()
        async with real_client(base) as client:
            results = await asyncio.gather(
                *(client.create({"prompt": "p"}, f"k-{i}") for i in range(50)),
                return_exceptions=True,
            )
        return time.monotonic() - started, results

    elapsed, results = asyncio.run(main())
    assert elapsed < 3.0
    assert all(isinstance(r, UnreachableError) for r in results)
    assert {r.host for r in results if isinstance(r, UnreachableError)} == {base}
    assert not any(getattr(r, "task_may_exist", True) for r in results)


def test_unresolvable_host_is_unreachable() -> None:
    """A host name that does not resolve (DNS) ends in UnreachableError, fast, naming it."""

    async def main() -> float:
        started = time.monotonic()
        async with real_client("https://nonexistent.invalid") as client:
            with pytest.raises(UnreachableError) as caught:
                await client.get_task("t")
        assert "nonexistent.invalid" in str(caught.value)
        return time.monotonic() - started

    assert asyncio.run(main()) < 10.0


# --------------------------------------------------------------------------------------------
# on_send


@pytest.mark.sockets
def test_on_send_is_called_for_every_attempt(harness: Harness, server: ScriptedServer) -> None:
    """on_send is called once for each attempt handed to the transport, retries included."""
    server.script(CREATE_PATH, Reply(503, {"error": {"message": "busy"}}), Reply(200, TASK))
    sent: list[int] = []
    using(harness, lambda c: c.create({"prompt": "p"}, "k-1", on_send=lambda: sent.append(1)))
    assert len(sent) == 2 == len(server.to(CREATE_PATH))


@pytest.mark.sockets
def test_create_cancelled_on_the_rate_limiter_never_calls_on_send(server: ScriptedServer) -> None:
    """A create cancelled while it waits on the rate limiter never calls on_send: nothing left."""
    server.always(CREATE_PATH, Reply(200, TASK))
    sent: list[str] = []

    async def main() -> None:
        async with real_client(server.url, requests_per_second=0.2) as client:
            await client.create({"prompt": "p"}, "k-1", on_send=lambda: sent.append("first"))
            waiting = asyncio.ensure_future(
                client.create({"prompt": "p"}, "k-2", on_send=lambda: sent.append("second"))
            )
            await asyncio.sleep(0.3)
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting

    asyncio.run(main())
    assert sent == ["first"]
    assert len(server.to(CREATE_PATH)) == 1


def test_unreachable_create_never_calls_on_send_past_connect(harness: Harness) -> None:
    """A create whose every attempt failed to connect raises with task_may_exist False."""
    base = f"http://127.0.0.1:{_refused_port()}"
    with pytest.raises(UnreachableError) as caught:
        using(
            harness, lambda c: c.create({"prompt": "p"}, "k", on_send=lambda: None), base_url=base
        )
    assert caught.value.task_may_exist is False


# --------------------------------------------------------------------------------------------
# Waits given only in the body, and 409


@pytest.mark.parametrize(
    ("status", "body", "wait"),
    [
        (429, {"error": {"message": "Rate limit reached, resets in ~30s"}}, 30.0),
        (429, "Too many requests: retry after 20 seconds", 20.0),
        (503, {"error": {"message": "overloaded", "retry_after": 20}}, 20.0),
        (429, {"retry_after": 7, "message": "slow down"}, 7.0),
    ],
    ids=["resets-in", "retry-after-words", "retry_after-field", "top-level-field"],
)
def test_wait_given_only_in_the_body_is_honoured(
    harness: Harness, server: ScriptedServer, status: int, body: object, wait: float
) -> None:
    """A 429 or 503 whose wait is only in its body waits that long, like Retry-After."""
    server.script(CREATE_PATH, Reply(status, body), Reply(200, TASK))
    using(harness, lambda c: c.create({"prompt": "p"}, "k-1"))
    assert harness.time.sleeps == [wait]


def test_header_wins_over_the_body(harness: Harness, server: ScriptedServer) -> None:
    """Retry-After in the header is honoured before any wait the body names."""
    server.script(
        CREATE_PATH,
        Reply(429, {"error": {"message": "resets in ~30s"}}, {"Retry-After": "5"}),
        Reply(200, TASK),
    )
    using(harness, lambda c: c.create({"prompt": "p"}, "k-1"))
    assert harness.time.sleeps == [5.0]


def test_lasting_409_is_a_transient_error(harness: Harness, server: ScriptedServer) -> None:
    """A 409 on create is retried with the same key, then TransientApiError(status=409)."""
    server.always(CREATE_PATH, Reply(409, {"error": {"message": "already in progress"}}))
    with pytest.raises(TransientApiError) as caught:
        using(harness, lambda c: c.create({"prompt": "p"}, "k-409"))
    assert caught.value.status == 409
    assert not caught.value.task_may_exist
    keys = {r.headers["idempotency-key"] for r in server.to(CREATE_PATH)}
    assert keys == {"k-409"} and len(server.to(CREATE_PATH)) == 4
    assert not isinstance(caught.value, NetworkError)
