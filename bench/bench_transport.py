"""CPU per request of the one HTTP path, beside the bypass it replaced and httpx's own transport.

The same poll (``GET /v1/tasks/{id}``) is sent 8 at a time over 8 kept-alive connections, in
rounds that take turns, through:

- **the old bypass**, rebuilt here as the baseline: a bare loop of
  :meth:`~seedance_batch.client._transport.Transport.handle_async_request` through the
  ``Pool.stream`` that skipped ``httpx.AsyncClient`` (its code, as the client called it: the
  URL parsed, headers copied and updated, the timeout extension), the body read with
  ``read_bounded``;
- **ours**, the client's path: :meth:`~seedance_batch.client._http.Pool.prepare` and
  :meth:`~seedance_batch.client._http.Pool.read`, that is ``httpx.AsyncClient.send`` over the
  same transport (issue 12: within 10% of the bypass);
- **a whole poll**, :meth:`SeedanceClient.get_task`: the rate limiter, the retry loop, the
  deadline and the answer read and redacted, on top;
- **httpx's own transport** (httpcore, h11, anyio), fewer requests a round: it is slow.

The figure is the CPU time of the sending thread per request, the median over the rounds (each
round starts with another of the four, after a garbage collection), and the ratio that of the
medians; the ratio of the fastest rounds is printed beside it, the steadier of the two when
other work shares the CPUs.
The simulator serves from a thread of this process; the clients run in a child process.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys

from seedance_batch.simulator import SimulatorConfig, serve

ROUNDS = 9
REQUESTS = 600

_CHILD = """
import asyncio, contextlib, gc, json, math, statistics, sys, time
import httpx
from seedance_batch.client import SeedanceClient
from seedance_batch.client._bounded import read_bounded
from seedance_batch.client._config import MAX_ANSWER_BYTES
from seedance_batch.client._http import http_client
from seedance_batch.client._transport import Transport

BASE, ROUNDS, REQUESTS = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
KEY = "sk-bench-0000"
AUTH = {"Authorization": f"Bearer {KEY}"}
LIMITS = httpx.Limits(max_connections=8, max_keepalive_connections=8)


async def measure(send, requests):
    gate = asyncio.Semaphore(8)
    async def one():
        async with gate:
            await send()
    gc.collect()  # the garbage of the way measured before is not this one's to collect
    started = time.thread_time()
    await asyncio.gather(*(one() for _ in range(requests)))
    return (time.thread_time() - started) / requests * 1000


def bypass(url):
    # Pool.stream as it was before 5765c78 ("One HTTP path"), as the client called it, then
    # read_bounded: the URL parsed, the pool's headers copied and updated, its extensions
    transport = Transport(limits=LIMITS)
    defaults = httpx.Headers({})
    extensions = {"timeout": httpx.Timeout(30).as_dict()}
    @contextlib.asynccontextmanager
    async def stream(method, url, headers):
        url = httpx.URL(url)
        merged = defaults.copy()
        merged.update(headers)
        request = httpx.Request(method, url, headers=merged, extensions=extensions)
        response = await transport.handle_async_request(request)
        response.request = request
        try:
            yield response
        finally:
            await response.aclose()
    async def send():
        async with stream("GET", url, AUTH) as response:
            await read_bounded(response, MAX_ANSWER_BYTES)
        assert response.status_code == 200
    return send, transport.aclose


def ours(url):
    pool = http_client(connections=8, timeout=30, headers={})
    headers = pool.headers_with(AUTH)
    async def send():
        response, _ = await pool.read(pool.prepare("GET", url, headers), MAX_ANSWER_BYTES)
        assert response.status_code == 200
    return send, pool.aclose


def whole_poll(task_id):
    client = SeedanceClient(BASE, KEY, requests_per_second=math.inf, max_connections=8)
    async def send():
        await client.get_task(task_id)
    return send, client.aclose


def httpx_own(url):
    client = httpx.AsyncClient(limits=LIMITS)
    async def send():
        (await client.get(url, headers=AUTH)).raise_for_status()
    return send, client.aclose


async def main():
    async with httpx.AsyncClient() as client:
        answer = await client.post(
            BASE + "/v1/images/generations", json={"prompt": "x"}, headers=AUTH
        )
    task_id = answer.json()["id"]
    url = f"{BASE}/v1/tasks/{task_id}"
    ways = {
        "bypass": (*bypass(url), REQUESTS),
        "ours": (*ours(url), REQUESTS),
        "poll": (*whole_poll(task_id), REQUESTS),
        "httpx": (*httpx_own(url), REQUESTS // 5),
    }
    figures = {name: [] for name in ways}
    for send, _, _ in ways.values():
        await measure(send, 50)  # connections open, caches warm
    order = list(ways)
    for turn in range(ROUNDS):
        for name in order[turn % len(order):] + order[:turn % len(order)]:
            send, _, requests = ways[name]
            figures[name].append(await measure(send, requests))
    for _, close, _ in ways.values():
        await close()
    return figures

print(json.dumps(asyncio.run(main())))
"""


def main() -> None:
    with serve(SimulatorConfig(seed=1)) as sim:
        done = subprocess.run(
            [sys.executable, "-c", _CHILD, sim.base_url, str(ROUNDS), str(REQUESTS)],
            capture_output=True,
            text=True,
            check=True,
        )
    figures: dict[str, list[float]] = json.loads(done.stdout.splitlines()[-1])
    median = {name: statistics.median(values) for name, values in figures.items()}
    ratio = median["ours"] / median["bypass"]
    fastest = min(figures["ours"]) / min(figures["bypass"])
    print(
        f"CPU per request, 8 at a time over 8 connections (median of {ROUNDS} rounds of "
        f"{REQUESTS:,}, each starting with another):\n"
        f"  the old bypass (a bare Transport.handle_async_request loop): "
        f"{median['bypass']:.3f} ms\n"
        f"  ours (httpx.AsyncClient.send over the aiohttp transport): {median['ours']:.3f} ms, "
        f"ratio {ratio:.2f}x the bypass (issue 12: <= 1.10x; {fastest:.2f}x between the "
        f"fastest rounds of each)\n"
        f"  a whole poll (SeedanceClient.get_task): {median['poll']:.3f} ms\n"
        f"  httpx's own transport: {median['httpx']:.3f} ms "
        f"(ours {median['ours'] / median['httpx']:.2f}x)"
    )


if __name__ == "__main__":
    main()
