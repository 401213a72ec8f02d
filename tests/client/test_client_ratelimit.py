"""The client-side rate over all API requests, adapting under its ceiling, on an injected clock."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import random

import httpx
import pytest
from _support.client import FakeTime, Harness, Reply, ScriptedServer, png_bytes, run, using

from seedance_batch._run_files import ImageFile
from seedance_batch.client import SeedanceClient
from seedance_batch.client._answers import Answer
from seedance_batch.client._ratelimit import (
    BACKOFF,
    BLIND_CUT,
    CYCLE,
    HOLD,
    MAX_CUT,
    PROBE,
    SLOW_START,
    RateLimiter,
    Ticket,
    slows_down,
)
from seedance_batch.simulator._faults import RateLimiter as SlidingWindow


def _limiter(fake_time: FakeTime, ceiling: float, **more: float) -> RateLimiter:
    return RateLimiter(ceiling, clock=fake_time.clock, sleep=fake_time.sleep, **more)


def test_slots_are_spaced_by_one_over_rate(fake_time: FakeTime) -> None:
    """At a ceiling of 4 requests per second, slots come 0.25 s apart; the first is immediate."""
    limiter = _limiter(fake_time, 4)
    starts: list[float] = []

    async def main() -> None:
        for _ in range(5):
            await limiter.acquire()
            starts.append(fake_time.now)

    run(main())
    assert [s - 1000.0 for s in starts] == pytest.approx([0, 0.25, 0.5, 0.75, 1.0])


def test_fractional_rate(fake_time: FakeTime) -> None:
    """A rate below one (0.5/s) spaces requests 2 s apart."""
    limiter = _limiter(fake_time, 0.5)

    async def main() -> None:
        for _ in range(3):
            await limiter.acquire()

    run(main())
    assert fake_time.sleeps == pytest.approx([2.0, 2.0])


def test_idle_time_does_not_build_a_burst(fake_time: FakeTime) -> None:
    """After a long idle spell, requests are still spaced: no burst of saved-up tokens."""
    limiter = _limiter(fake_time, 2)

    async def main() -> None:
        await limiter.acquire()
        fake_time.now += 100.0
        for _ in range(3):
            await limiter.acquire()

    run(main())
    assert fake_time.sleeps == pytest.approx([0.5, 0.5])


def test_concurrent_waiters_are_served_in_order(fake_time: FakeTime) -> None:
    """Many tasks asking at once get consecutive slots, first come first served."""
    limiter = _limiter(fake_time, 10)
    fake_time.advance = False
    order: list[int] = []

    async def one(k: int) -> None:
        await limiter.acquire()
        order.append(k)

    async def main() -> None:
        await asyncio.gather(*(one(k) for k in range(4)))

    run(main())
    assert order == [0, 1, 2, 3]
    assert fake_time.sleeps == pytest.approx([0.1, 0.2, 0.3])


def test_a_cut_applies_to_waiters_already_queued(fake_time: FakeTime) -> None:
    """A 429 while others wait for their slots spaces the next of them at the new rate."""
    limiter = _limiter(fake_time, 10)

    async def main() -> None:
        first = await limiter.acquire()
        limiter.answered(first, slow_down=True)
        await asyncio.gather(limiter.acquire(), limiter.acquire())

    run(main())
    assert limiter.rate == pytest.approx(BACKOFF * 10 / BLIND_CUT)
    # the slot taken before the cut, then one at the new rate
    assert fake_time.sleeps == pytest.approx([0.1, BLIND_CUT / (BACKOFF * 10)])


@pytest.mark.parametrize("rate", [0, -1, math.nan])
def test_rate_must_be_positive(fake_time: FakeTime, rate: float) -> None:
    """A ceiling of zero, below zero or NaN is refused."""
    with pytest.raises(ValueError):
        _limiter(fake_time, rate)


def _answers(limiter: RateLimiter, fake_time: FakeTime, count: int, *, waited: bool) -> None:
    for _ in range(count):
        limiter.answered((fake_time.now, waited), slow_down=False)


def test_slow_start_grows_by_an_eighth_per_waited_answer_up_to_the_ceiling(
    fake_time: FakeTime,
) -> None:
    """Until the first 429, each answer that had waited for its slot grows the rate by an
    eighth, starting at 10; it never passes the ceiling."""
    limiter = _limiter(fake_time, 40)
    assert limiter.rate == 10
    _answers(limiter, fake_time, 1, waited=True)
    assert limiter.rate == pytest.approx(10 * (1 + SLOW_START))
    _answers(limiter, fake_time, 100, waited=True)
    assert limiter.rate == 40


def test_answers_that_did_not_wait_do_not_grow_the_rate(fake_time: FakeTime) -> None:
    """A rate the run does not use is not raised: only waited-for slots count as demand."""
    limiter = _limiter(fake_time, 40)
    _answers(limiter, fake_time, 100, waited=False)
    assert limiter.rate == 10


def test_a_429_cuts_to_backoff_times_what_came_back_well_in_the_last_second(
    fake_time: FakeTime,
) -> None:
    """A 429 cuts the rate to BACKOFF x the answers that came back well in the last second
    (when fewer than the rate), and ends the slow start."""
    limiter = _limiter(fake_time, 100, start=50)
    _answers(limiter, fake_time, 20, waited=False)
    fake_time.now += 0.5
    limiter.answered((fake_time.now, False), slow_down=True)
    assert limiter.rate == pytest.approx(BACKOFF * 20)
    assert not limiter.slow_start and limiter.limited == 1


def test_a_cut_is_at_most_eightfold_and_never_below_the_floor(fake_time: FakeTime) -> None:
    """With one answer lately, a 429 divides the rate by MAX_CUT at most; repeated cuts stop
    at the floor (0.2 per second)."""
    limiter = _limiter(fake_time, 40, start=40)
    _answers(limiter, fake_time, 1, waited=False)
    limiter.answered((fake_time.now, False), slow_down=True)
    assert limiter.rate == pytest.approx(BACKOFF * 40 / MAX_CUT)
    for _ in range(30):
        fake_time.now += 10
        _answers(limiter, fake_time, 1, waited=False)  # a good answer after the cut
        fake_time.now += 0.5
        limiter.answered((fake_time.now, False), slow_down=True)
    assert limiter.rate == pytest.approx(0.2)


def test_a_429_with_nothing_answered_well_lately_at_most_halves_the_rate(
    fake_time: FakeTime,
) -> None:
    """A 429 with no good answer in the last second (a first request, or a process arriving
    on a key that others already fill) says little about the limit: the rate is cut to
    BACKOFF x half of it, not by MAX_CUT."""
    limiter = _limiter(fake_time, 40, start=40)
    limiter.answered((fake_time.now, False), slow_down=True)
    assert limiter.rate == pytest.approx(BACKOFF * 40 / BLIND_CUT)
    fake_time.now += 5
    _answers(limiter, fake_time, 1, waited=False)
    fake_time.now += 2  # that answer is more than a second old
    limiter.answered((fake_time.now, False), slow_down=True)
    assert limiter.rate == pytest.approx(BACKOFF**2 * 40 / BLIND_CUT**2)


def test_429s_for_requests_sent_before_the_cut_count_once(fake_time: FakeTime) -> None:
    """Several 429s answering requests sent at the old rate are one overshoot: one cut."""
    limiter = _limiter(fake_time, 40, start=40)
    _answers(limiter, fake_time, 30, waited=False)
    sent = [(fake_time.now + k * 0.025, False) for k in range(6)]
    fake_time.now += 0.2
    for ticket in sent:
        limiter.answered(ticket, slow_down=True)
    assert limiter.rate == pytest.approx(BACKOFF * 30)
    assert limiter.limited == 6


def test_after_a_cut_the_next_one_waits_for_a_good_answer(fake_time: FakeTime) -> None:
    """A 429 for a request sent after the cut cuts again only once an answer sent after the
    cut came back well (the server's window may still hold the overshoot until then)."""
    limiter = _limiter(fake_time, 40, start=40)
    _answers(limiter, fake_time, 30, waited=False)
    limiter.answered((fake_time.now, False), slow_down=True)
    cut = limiter.rate
    fake_time.now += 0.1
    limiter.answered((fake_time.now, False), slow_down=True)  # sent after the cut: the debt
    assert limiter.rate == cut
    fake_time.now += 2.0
    _answers(limiter, fake_time, 1, waited=False)
    limiter.answered((fake_time.now, False), slow_down=True)
    assert limiter.rate == pytest.approx(BACKOFF * cut / MAX_CUT)  # one answer lately: capped


def test_after_the_first_429_the_rate_climbs_back_over_a_cycle(fake_time: FakeTime) -> None:
    """Past the slow start, each waited answer adds 0.1 / rate + (1 - BACKOFF) x rate / CYCLE:
    about CYCLE waited answers win a cut back."""
    limiter = _limiter(fake_time, 100, start=25)
    _answers(limiter, fake_time, 25, waited=False)
    limiter.answered((fake_time.now, False), slow_down=True)
    cut = BACKOFF * 25
    assert limiter.rate == pytest.approx(cut)
    _answers(limiter, fake_time, 1, waited=True)
    assert limiter.rate == pytest.approx(cut + 0.1 / cut + (1 - BACKOFF) * cut / CYCLE)
    _answers(limiter, fake_time, CYCLE + 5, waited=True)
    assert 24.5 < limiter.rate < 26.5


def test_the_slow_starts_overshoot_is_cut_once_for_a_second(fake_time: FakeTime) -> None:
    """After the cut that ends the slow start, a 429 for a request sent within HOLD seconds is
    the same overshoot (the server's window still holds it), even after a good answer; one
    sent later cuts again. Later cuts have no such hold."""
    limiter = _limiter(fake_time, 100, start=40)
    _answers(limiter, fake_time, 20, waited=False)
    limiter.answered((fake_time.now, False), slow_down=True)
    first = limiter.rate
    assert first == pytest.approx(BACKOFF * 20)
    fake_time.now += 0.5
    _answers(limiter, fake_time, 5, waited=False)  # answered well after the cut
    limiter.answered((fake_time.now, False), slow_down=True)  # sent 0.5 s after the cut
    assert limiter.rate == first and limiter.limited == 2
    fake_time.now += HOLD
    _answers(limiter, fake_time, 1, waited=False)
    limiter.answered((fake_time.now, False), slow_down=True)
    second = limiter.rate
    assert second < first
    fake_time.now += 0.1
    _answers(limiter, fake_time, 1, waited=False)
    limiter.answered((fake_time.now, False), slow_down=True)  # 0.1 s after a later cut
    assert limiter.rate < second


def test_a_calm_spell_doubles_both_parts_of_the_growth(fake_time: FakeTime) -> None:
    """PROBE seconds past a cut without another, each waited answer grows the rate by twice
    its additive and its proportional part, so that a rate cut low (a share another process
    on the key freed) climbs back in seconds, not minutes."""
    limiter = _limiter(fake_time, 100, start=2)
    limiter.answered((fake_time.now, False), slow_down=True)
    low = limiter.rate
    fake_time.now += 2 * PROBE
    _answers(limiter, fake_time, 1, waited=True)
    assert limiter.rate == pytest.approx(low + 2 * (0.1 / low + (1 - BACKOFF) * low / CYCLE))


def test_an_infinite_ceiling_turns_the_limit_off(fake_time: FakeTime) -> None:
    """``math.inf``: no waits, nothing adapts, 429s are still counted."""
    limiter = _limiter(fake_time, math.inf)

    async def main() -> Ticket:
        for _ in range(5):
            await limiter.acquire()
        return await limiter.acquire()

    ticket = run(main())
    limiter.answered(ticket, slow_down=True)
    assert fake_time.sleeps == [] and limiter.rate == math.inf and limiter.limited == 1


@pytest.mark.parametrize(
    ("status", "headers", "body", "expected"),
    [
        (429, {}, b"", True),
        (503, {"Retry-After": "3"}, b"", True),
        (503, {}, b'{"error": {"message": "busy, retry after 20 seconds"}}', True),
        (503, {}, b'{"error": {"message": "the service had a problem"}}', False),
        (500, {"Retry-After": "3"}, b"", False),
        (200, {}, b"{}", False),
    ],
)
def test_which_answers_say_to_slow_down(
    status: int, headers: dict[str, str], body: bytes, expected: bool
) -> None:
    """A 429 says to slow down; so does a 503 naming a wait, in a header or only in its body."""
    answer = Answer(status, httpx.Headers(headers), body, "")
    assert slows_down(answer) is expected


@pytest.mark.parametrize("ceiling", [20, 60, 200])
def test_the_rate_finds_a_sliding_window_limit_under_any_ceiling(ceiling: float) -> None:
    """Against the simulator's per-key sliding window of 20 per second, on a fake clock, with
    requests always waiting: whatever the ceiling at or above the limit, over 60 s the rate
    passes at least 85% of the limit with under 10% of the requests refused."""
    time = FakeTime()
    limiter = RateLimiter(ceiling, clock=time.clock, sleep=time.sleep)
    window = SlidingWindow(20, clock=time.clock)
    passed = refused = 0

    async def main() -> None:
        nonlocal passed, refused
        while time.now < 1060.0:
            ticket = await limiter.acquire()
            time.now += 0.002  # the answer's round trip
            refusal = window.acquire("sk") > 0
            limiter.answered(ticket, slow_down=refusal)
            passed += not refusal
            refused += refusal

    run(main())
    assert passed >= 0.85 * 20 * 60
    assert refused < 0.10 * (passed + refused)
    assert 15 <= limiter.settled <= 22


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


def test_a_429_slows_the_client_down(harness: Harness, server: ScriptedServer) -> None:
    """A 429 the client meets cuts its limiter's rate and is counted; the retry follows the
    server's wait."""
    server.script("/v1/tasks/t", Reply(429, headers={"Retry-After": "1"}), Reply(200, {"id": "t"}))

    async def body(client: SeedanceClient) -> tuple[float, int]:
        await client.get_task("t")
        return client.limiter.rate, client.limiter.limited

    rate, limited = using(harness, body, requests_per_second=8)
    assert limited == 1
    assert rate == pytest.approx(8 * BACKOFF / BLIND_CUT)


def test_retries_count_against_the_limit(harness: Harness, server: ScriptedServer) -> None:
    """A retry is a request: it waits for a slot as well as for its backoff."""
    server.script("/v1/tasks/t", Reply(500, headers={"Retry-After": "0"}), Reply(200, {"id": "t"}))
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


class _VirtualTime:
    """A discrete-event clock: ``sleep`` parks the caller until the driver moves time to its
    wake-up; time moves only when every coroutine is parked."""

    def __init__(self) -> None:
        self.now = 0.0
        self._parked: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._parked, (self.now + max(seconds, 0.0), next(self._order), woken))
        await woken

    async def drive(self, until: float) -> None:
        while self.now < until:
            for _ in range(20):  # let whatever was woken run until it parks again
                await asyncio.sleep(0)
            if not self._parked:
                return
            self.now, _, woken = heapq.heappop(self._parked)
            woken.set_result(None)


def test_four_processes_on_one_key_share_its_limit_on_a_fake_clock() -> None:
    """Four limiters (four processes on one key, each with 4 requests in flight, ceiling 200,
    started 0.5 s apart) against one sliding window of 20 per second: over their last 30 s
    their rates add up to the limit, give or take 10%, none has less than 40% of a fair
    share of the requests that passed, and under 10% are refused (a refused request waits
    the server's whole second, as the client's retry does)."""
    time = _VirtualTime()
    window = SlidingWindow(20, clock=time.clock)
    rng = random.Random(5)
    limiters: list[RateLimiter] = []
    passed = [0, 0, 0, 0]
    refused = 0
    rates: list[list[float]] = [[], [], [], []]

    async def requests(k: int, limiter: RateLimiter) -> None:
        nonlocal refused
        while time.now < 60:
            ticket = await limiter.acquire()
            await time.sleep(rng.uniform(0.001, 0.004))  # on its way
            wait = window.acquire("sk")
            await time.sleep(rng.uniform(0.001, 0.004))  # the answer on its way back
            limiter.answered(ticket, slow_down=wait > 0)
            if wait > 0:
                refused += 1
                await time.sleep(math.ceil(wait))
            else:
                passed[k] += 1

    async def process(k: int) -> None:
        await time.sleep(0.5 * k)
        limiter = RateLimiter(200, clock=time.clock, sleep=time.sleep)
        limiters.append(limiter)

        async def sample() -> None:
            while time.now < 60:
                if time.now >= 30:
                    rates[k].append(limiter.rate)
                await time.sleep(1.0)

        await asyncio.gather(sample(), *(requests(k, limiter) for _ in range(4)))

    async def main() -> None:
        processes = [asyncio.ensure_future(process(k)) for k in range(4)]
        await time.drive(61)
        for one in processes:
            one.cancel()
        await asyncio.gather(*processes, return_exceptions=True)

    asyncio.run(main())
    together = sum(sum(r) / len(r) for r in rates)
    assert 18 <= together <= 22, rates
    assert min(passed) >= 0.4 * sum(passed) / 4, passed
    assert refused < 0.10 * (sum(passed) + refused), (refused, passed)
