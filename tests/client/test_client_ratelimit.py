"""The client-side rate limit over all API requests, run on an injected clock."""

from __future__ import annotations

import asyncio
import math

import pytest
from _support.client import FakeTime, Harness, Reply, ScriptedServer, png_bytes, run, using

from seedance_batch._run_files import ImageFile
from seedance_batch.client import SeedanceClient
from seedance_batch.client._ratelimit import RateLimiter


def test_slots_are_spaced_by_one_over_rate(fake_time: FakeTime) -> None:
    """At 4 requests per second, slots come 0.25 s apart; the first is immediate."""
    limiter = RateLimiter(4, clock=fake_time.clock, sleep=fake_time.sleep)
    starts: list[float] = []

    async def main() -> None:
        for _ in range(5):
            await limiter.acquire()
            starts.append(fake_time.now)

    run(main())
    assert [s - 1000.0 for s in starts] == pytest.approx([0, 0.25, 0.5, 0.75, 1.0])


def test_fractional_rate(fake_time: FakeTime) -> None:
    """A rate below one (0.5/s) spaces requests 2 s apart."""
    limiter = RateLimiter(0.5, clock=fake_time.clock, sleep=fake_time.sleep)

    async def main() -> None:
        for _ in range(3):
            await limiter.acquire()

    run(main())
    assert fake_time.sleeps == pytest.approx([2.0, 2.0])


def test_idle_time_does_not_build_a_burst(fake_time: FakeTime) -> None:
    """After a long idle spell, requests are still spaced: no burst of saved-up tokens."""
    limiter = RateLimiter(2, clock=fake_time.clock, sleep=fake_time.sleep)

    async def main() -> None:
        await limiter.acquire()
        fake_time.now += 100.0
        for _ in range(3):
            await limiter.acquire()

    run(main())
    assert fake_time.sleeps == pytest.approx([0.5, 0.5])


def test_concurrent_waiters_are_served_in_order(fake_time: FakeTime) -> None:
    """Many tasks asking at once get consecutive slots, first come first served."""
    limiter = RateLimiter(10, clock=fake_time.clock, sleep=fake_time.sleep)
    waits = [limiter.reserve() for _ in range(4)]
    assert waits == pytest.approx([0.0, 0.1, 0.2, 0.3])


@pytest.mark.parametrize("rate", [0, -1, math.nan])
def test_rate_must_be_positive(fake_time: FakeTime, rate: float) -> None:
    """A rate of zero, below zero or NaN is refused."""
    with pytest.raises(ValueError):
        RateLimiter(rate, clock=fake_time.clock, sleep=fake_time.sleep)


def test_client_requests_share_one_limit(harness: Harness, server: ScriptedServer) -> None:
    """Concurrent polls of different tasks together stay under requests_per_second."""
    for name in "abcdef":
        server.always(f"/v1/tasks/{name}", Reply(200, {"id": name, "status": "queued"}))

    async def body(client: SeedanceClient) -> None:
        await asyncio.gather(*(client.get_task(name) for name in "abcdef"))

    harness.time.advance = False  # all six ask at the same instant
    using(harness, body, requests_per_second=2)
    # six requests at 2/s: the first at once, the others 0.5, 1.0, ... 2.5 s later
    assert sorted(harness.time.sleeps) == pytest.approx([0.5, 1.0, 1.5, 2.0, 2.5])
    assert len(server.requests) == 6


def test_retries_count_against_the_limit(harness: Harness, server: ScriptedServer) -> None:
    """A retry is a request: it waits for a slot as well as for its backoff."""
    server.script("/v1/tasks/t", Reply(503, headers={"Retry-After": "0"}), Reply(200, {"id": "t"}))
    using(harness, lambda c: c.get_task("t"), requests_per_second=1)
    assert harness.time.sleeps == pytest.approx([0.0, 1.0])  # Retry-After 0, then the slot


def test_image_host_downloads_do_not_count(
    harness: Harness, server: ScriptedServer, image_server: ScriptedServer, tmp_path: object
) -> None:
    """Downloads from another host leave the API's slots alone; same-origin downloads take one."""
    image = png_bytes(8, 8)
    image_server.always("/i.png", Reply(200, image, {"Content-Type": "image/png"}))
    server.always("/files/i.png", Reply(200, image, {"Content-Type": "image/png"}))
    server.always("/v1/tasks/t", Reply(200, {"id": "t"}))

    async def body(client: SeedanceClient) -> list[float]:
        marks = []
        for k in range(3):
            await client.download(image_server.url + "/i.png", ImageFile(tmp_path / f"a{k}.tmp"))
        marks.append(harness.time.now)
        await client.get_task("t")
        marks.append(harness.time.now)
        await client.download(server.url + "/files/i.png", ImageFile(tmp_path / "b.tmp"))
        marks.append(harness.time.now)
        await client.get_task("t")
        marks.append(harness.time.now)
        return marks

    marks = using(harness, body, requests_per_second=1)
    assert [m - 1000.0 for m in marks] == pytest.approx([0.0, 0.0, 1.0, 2.0])
