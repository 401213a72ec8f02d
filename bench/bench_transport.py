"""The choice of transport behind issue 5's latency figure: CPU per request, ours against httpx's.

The same poll (``GET /v1/tasks/{id}``) is sent 2,000 times, 8 at a time over 8 kept-alive
connections, through httpx's own ``AsyncClient`` (httpcore, h11, anyio) and through the
client's pool, :func:`seedance_batch.client._http.http_client` (an ``httpx.AsyncClient`` over
the aiohttp transport). The figure is the CPU time of the sending thread per request; the
simulator serves from a thread of this process, and the clients run in a child process of their
own.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys

from seedance_batch.simulator import SimulatorConfig, serve

ROUNDS = 5

_CHILD = """
import asyncio, json, sys, time
import httpx
from seedance_batch.client._http import http_client

BASE, REQUESTS, ROUNDS = sys.argv[1], 2000, int(sys.argv[2])
AUTH = {"Authorization": "Bearer sk-bench"}

async def measure(send):
    gate = asyncio.Semaphore(8)
    async def one():
        async with gate:
            (await send()).raise_for_status()
    started = time.thread_time()
    await asyncio.gather(*(one() for _ in range(REQUESTS)))
    return (time.thread_time() - started) / REQUESTS * 1000

async def main():
    figures = {"httpx": [], "pool": []}
    limits = httpx.Limits(max_connections=8, max_keepalive_connections=8)
    async with httpx.AsyncClient(limits=limits) as client:
        answer = await client.post(BASE + "/v1/images/generations", json={"prompt": "x"},
                                   headers=AUTH)
        url = f"{BASE}/v1/tasks/{answer.json()['id']}"
        for _ in range(ROUNDS):
            figures["httpx"].append(await measure(lambda: client.get(url, headers=AUTH)))
            pool = http_client(connections=8, timeout=30, headers={})
            figures["pool"].append(await measure(lambda: pool.get(url, headers=AUTH)))
            await pool.aclose()
    return figures

print(json.dumps(asyncio.run(main())))
"""


def main() -> None:
    with serve(SimulatorConfig(seed=1)) as sim:
        done = subprocess.run(
            [sys.executable, "-c", _CHILD, sim.base_url, str(ROUNDS)],
            capture_output=True,
            text=True,
            check=True,
        )
    figures = json.loads(done.stdout.splitlines()[-1])
    ours, theirs = statistics.median(figures["pool"]), statistics.median(figures["httpx"])
    print(
        f"CPU per request, 8 at a time over 8 connections (median of {ROUNDS} x 2,000): "
        f"httpx's own transport {theirs:.2f} ms; "
        f"ours (httpx.AsyncClient over aiohttp) {ours:.2f} ms; "
        f"ratio {ours / theirs:.2f}x"
    )


if __name__ == "__main__":
    main()
