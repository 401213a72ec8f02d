"""CPU per request of the whole client (create, poll, download), beside a bare aiohttp loop.

A job at zero latency is three requests: a create, a poll that finds the task done and the
download of its image. Both ways below send those for the same jobs, 64 jobs at a time over 8
kept-alive connections per pool (the run's sizes), in rounds that take turns:

- **the client**: :meth:`SeedanceClient.create` (with an ``on_send``, as the run calls it),
  :meth:`SeedanceClient.get_task` (with an ``on_slot``) and :meth:`SeedanceClient.download`
  into a sink that keeps nothing: the rate limiter (no limit), the retry loop, the deadlines,
  the answer parsed and redacted, the image checked and hashed, all of it;
- **bare aiohttp**: ``session.post``, ``session.get`` and ``response.json()`` / ``read()``, the
  fastest client the machine has (issue 16's yardstick).

The figure is the CPU time (user + sys) of the client process per request, the median over the
rounds, each ratio that of the medians. The simulator serves from a thread of this process, so
its CPU is not counted; the clients run in a child process.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.bench_run import _manifest
from seedance_batch.simulator import SimulatorConfig, serve

ROUNDS = 7
JOBS = 300

_CHILD = """
import asyncio, gc, json, math, sys, time
import aiohttp
from seedance_batch import load_manifest, plan
from seedance_batch.client import SeedanceClient

MANIFEST, BASE, ROUNDS, JOBS = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
KEY = "sk-bench-0000"
AUTH = {"Authorization": f"Bearer {KEY}"}
CONCURRENCY, CONNECTIONS = 64, 8


#: Images and image bytes each way received: the same images, every one with bytes, or the
#: figure is void.
RECEIVED = {"client": [0, 0], "aiohttp": [0, 0]}


def received(way, size):
    RECEIVED[way][0] += 1
    RECEIVED[way][1] += size


class CountingSink:  # keeps no file (the client is measured, not the disk): counts the bytes

    def __init__(self):
        self.size = 0

    async def write(self, chunk):
        self.size += len(chunk)

    async def commit(self):
        received("client", self.size)

    async def discard(self):
        self.size = 0


async def measure(one, bodies, tag):
    gate = asyncio.Semaphore(CONCURRENCY)

    async def job(index, body):
        async with gate:
            await one(f"{tag}-{index}", body)

    gc.collect()  # the garbage of the way measured before is not this one's to collect
    started = time.process_time()
    await asyncio.gather(*(job(i, b) for i, b in enumerate(bodies)))
    return (time.process_time() - started) / (3 * len(bodies)) * 1000


def client_way():
    client = SeedanceClient(
        BASE, KEY, requests_per_second=math.inf,
        max_connections=CONNECTIONS, max_image_connections=CONNECTIONS,
    )
    sent = lambda: None

    async def one(key, body):
        task = (await client.create(body, key, on_send=sent)).task
        while task.status != "succeeded":
            task = await client.get_task(task.id, on_slot=sent)
        for url in task.image_urls:
            await client.download(url, CountingSink())

    return one, client.aclose


def aiohttp_way():
    timeout = aiohttp.ClientTimeout(total=30)
    api = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONNECTIONS), timeout=timeout)
    images = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=CONNECTIONS), timeout=timeout
    )

    async def one(key, body):
        async with api.post(f"{BASE}/v1/images/generations", json=body,
                            headers={**AUTH, "Idempotency-Key": key}) as r:
            task = await r.json()
        while task["status"] != "succeeded":
            async with api.get(f"{BASE}/v1/tasks/{task['id']}", headers=AUTH) as r:
                task = await r.json()
        for url in task["data"][0]["imageUrls"]:
            async with images.get(url) as r:
                r.raise_for_status()
                received("aiohttp", len(await r.read()))

    async def close():
        await api.close()
        await images.close()

    return one, close


async def main(bodies):
    ways = {"client": client_way(), "aiohttp": aiohttp_way()}
    figures = {name: [] for name in ways}
    for name, (one, _) in ways.items():
        await measure(one, bodies[:64], f"warm-{name}")  # connections open, caches warm
    order = list(ways)
    for turn in range(ROUNDS):
        for name in order[turn % 2:] + order[:turn % 2]:
            figures[name].append(await measure(ways[name][0], bodies, f"{name}-{turn}"))
    for _, close in ways.values():
        await close()
    (images, size), (bare_images, bare_size) = RECEIVED["client"], RECEIVED["aiohttp"]
    if images != bare_images or not images or size < images or bare_size < bare_images:
        raise SystemExit(f"the two ways received different images: {RECEIVED}")
    return figures


bodies = [dict(job.request) for job in plan(load_manifest(MANIFEST)).jobs][:JOBS]
print(json.dumps(asyncio.run(main(bodies))))
"""


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, serve(SimulatorConfig(seed=1)) as sim:
        manifest = _manifest(Path(tmp), 20, (JOBS + 19) // 20, 64, 0.001)
        done = subprocess.run(
            [sys.executable, "-c", _CHILD, str(manifest), sim.base_url, str(ROUNDS), str(JOBS)],
            capture_output=True,
            text=True,
            check=False,
        )
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    figures: dict[str, list[float]] = json.loads(done.stdout.splitlines()[-1])
    median = {name: statistics.median(values) for name, values in figures.items()}
    print(
        f"CPU per request, {JOBS} jobs of a create, a poll and a download, 64 at a time over 8 "
        f"connections a pool (median of {ROUNDS} rounds, taking turns):\n"
        f"  SeedanceClient: {median['client']:.3f} ms "
        f"({median['client'] / median['aiohttp']:.2f}x the bare loop; fastest rounds "
        f"{min(figures['client']) / min(figures['aiohttp']):.2f}x)\n"
        f"  a bare aiohttp loop: {median['aiohttp']:.3f} ms"
    )


if __name__ == "__main__":
    main()
