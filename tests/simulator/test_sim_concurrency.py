"""The simulator stays correct under 200 concurrent clients."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass

import httpx
from _support.simulator import CREATE, TLS, image_urls_of, parse_png

from seedance_batch.simulator import Simulator, SimulatorConfig, serve

CLIENTS = 200
KEYS = 4
CREDITS_PER_KEY = 70  # 35 one-image tasks at 2 credits: 15 of each key's 50 clients get 402


@dataclass(frozen=True)
class Outcome:
    key: str
    statuses: tuple[int, int]
    task_ids: tuple[str | None, str | None]
    final_status: str | None
    image_sizes: tuple[int, int] | None


async def _one_client(sim: Simulator, index: int, go: asyncio.Event) -> Outcome:
    key = f"key-{index % KEYS}"
    headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": f"job-{index}#1"}
    async with httpx.AsyncClient(base_url=sim.base_url, headers=headers, verify=TLS) as client:
        await go.wait()
        body = {"prompt": f"client {index}"}
        first, second = await asyncio.gather(
            client.post(CREATE, json=body), client.post(CREATE, json=body)
        )
        ids = tuple(a.json()["id"] if a.status_code == 200 else None for a in (first, second))
        statuses = (first.status_code, second.status_code)
        if ids[0] is None:
            return Outcome(key, statuses, (ids[0], ids[1]), None, None)
        while True:
            task = (await client.get(f"/v1/tasks/{ids[0]}")).json()
            if task["status"] not in ("pending", "processing"):
                break
            await asyncio.sleep(0.02)
        image = await client.get(image_urls_of(task)[0])
        png = parse_png(image.content)
        return Outcome(key, statuses, (ids[0], ids[1]), task["status"], (png.width, png.height))


async def _run_clients(sim: Simulator) -> list[Outcome]:
    go = asyncio.Event()
    clients = [asyncio.create_task(_one_client(sim, i, go)) for i in range(CLIENTS)]
    await asyncio.sleep(0.2)  # let every client open its connection pool before the start
    go.set()
    return list(await asyncio.gather(*clients))


def test_two_hundred_concurrent_clients_lose_nothing_and_are_charged_exactly() -> None:
    """200 clients at once, each creating twice with its Idempotency-Key: exact tasks, charges."""
    config = SimulatorConfig(latency=(0.02, 0.1), credits=CREDITS_PER_KEY)
    with serve(config) as sim:
        outcomes = asyncio.run(_run_clients(sim))
        counters = sim.counters
        balances = {f"key-{k}": sim.balance(f"key-{k}") for k in range(KEYS)}
    created = [o for o in outcomes if o.task_ids[0] is not None]
    refused = [o for o in outcomes if o.task_ids[0] is None]
    assert all(o.statuses == (200, 200) and o.task_ids[0] == o.task_ids[1] for o in created)
    assert all(o.statuses == (402, 402) for o in refused)
    assert Counter(o.key for o in created) == {f"key-{k}": 35 for k in range(KEYS)}
    assert counters.charges == {f"key-{k}": CREDITS_PER_KEY for k in range(KEYS)}
    assert balances == {f"key-{k}": 0 for k in range(KEYS)}
    assert sorted(str(o.task_ids[0]) for o in created) == sorted(counters.task_ids)
    assert counters.creates == len(created) == 140
    assert counters.idempotent_replays == 140
    assert counters.create_requests == 2 * CLIENTS
    assert all(o.final_status == "succeeded" and o.image_sizes == (32, 32) for o in created)
