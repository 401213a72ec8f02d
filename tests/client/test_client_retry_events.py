"""Retries are visible: each RetryEvent says what is retried, which attempt, why, the wait."""

from __future__ import annotations

import asyncio
import random

import httpx
import pytest
from _support.client import API_KEY, WALL, FakeTime, Harness, Reply, ScriptedServer, reset, run

from seedance_batch._redact import REDACTED
from seedance_batch.client import RetryEvent, RetryPolicy, SeedanceClient
from seedance_batch.client._client import CREATE_PATH

TASK = {"id": "task-1", "status": "queued"}


def test_a_retried_create_says_what_why_and_how_long(
    harness: Harness, server: ScriptedServer
) -> None:
    """A 503 then a task: one event naming the create, attempt 1, HTTP 503 and the wait slept."""
    server.script(CREATE_PATH, Reply(503, {"error": {"message": "busy"}}), Reply(200, TASK))

    async def body(client: SeedanceClient) -> None:
        await client.create({"prompt": "p"}, "k-1")

    async def main() -> None:
        async with harness.client() as client:
            await body(client)

    run(main())
    (event,) = harness.events
    assert (event.operation, event.attempt, event.status) == ("create", 1, 503)
    assert event.target == f"POST {server.url}{CREATE_PATH}"
    assert event.reason == "HTTP 503" and event.delay == harness.time.sleeps[0]
    assert not event.possible_double_charge
    assert event.message == (
        f"retrying create POST {server.url}{CREATE_PATH}: attempt 1 failed (HTTP 503), "
        f"next in {event.delay:.1f} s"
    )


@pytest.mark.sockets
def test_a_create_resent_after_a_reset_says_it_may_be_charged_twice(
    harness: Harness, server: ScriptedServer
) -> None:
    """A reset after the create was sent: the event, and its message, name the double charge."""
    server.script(CREATE_PATH, reset(), Reply(200, TASK))

    async def main() -> None:
        async with harness.client() as client:
            await client.create({"prompt": "p"}, "k-1")

    run(main())
    (event,) = harness.events
    assert event.possible_double_charge
    assert event.message.endswith("; it may be charged twice")


def test_an_event_never_carries_the_key() -> None:
    """A transport failure whose text quotes the key, on a poll: the event's target, reason and
    message show it redacted (the client's own transport=, no socket)."""
    calls = 0

    def answer(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise httpx.ReadError(f"peer said {API_KEY}", request=request)
        return httpx.Response(200, json=TASK)

    events: list[RetryEvent] = []
    fake = FakeTime()

    async def main() -> None:
        async with SeedanceClient(
            "http://127.0.0.1:9",
            API_KEY,
            transport=httpx.MockTransport(answer),
            retry=RetryPolicy(max_retries=2),
            sleep=fake.sleep,
            clock=fake.clock,
            wall_clock=lambda: WALL,
            rng=random.Random(1),
            on_retry=events.append,
        ) as client:
            await client.get_task("task-1")

    run(main())
    (event,) = events
    assert event.operation == "get_task" and event.reason.startswith("ReadError")
    assert REDACTED in event.reason
    assert API_KEY not in f"{event.target} {event.reason} {event.message}"
    assert event.message.startswith("retrying poll GET http://127.0.0.1:9/v1/tasks/task-1")


def test_a_polls_slot_comes_when_its_turn_comes_not_when_it_was_asked_for() -> None:
    """Three polls asked for at once at one request a second: each one's ``on_slot`` is called
    as its rate slot comes (0, 1 and 2 s), the moment its answer tells of, not at the ask."""
    fake = FakeTime()
    slots: list[float] = []

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=TASK)

    async def main() -> None:
        async with SeedanceClient(
            "http://127.0.0.1:9",
            API_KEY,
            transport=httpx.MockTransport(answer),
            requests_per_second=1.0,
            sleep=fake.sleep,
            clock=fake.clock,
            wall_clock=lambda: WALL,
            rng=random.Random(1),
        ) as client:
            polls = [
                client.get_task("task-1", on_slot=lambda: slots.append(fake.clock()))
                for _ in range(3)
            ]
            await asyncio.gather(*polls)

    run(main())
    assert slots == pytest.approx([slots[0], slots[0] + 1.0, slots[0] + 2.0], abs=1e-6)
