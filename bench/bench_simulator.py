"""How many requests per second the simulator answers, with no faults.

The simulator runs in a process of its own (the ``simulate`` command's code), and the load in
another: 64 keep-alive connections, each running jobs the way a client does (create, two polls,
then the image from the image origin). Raw asyncio sockets keep the load generator light, so
that the figure is the simulator's and not the HTTP client's. Prints the median of 5 rounds.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import time
from urllib.parse import urlsplit

CONNECTIONS = 64
ROUNDS = 5
ROUND_SECONDS = 2.0
WARM_UP_SECONDS = 0.5
TARGET = 2_000

SERVER_CODE = """
import argparse, sys
from seedance_batch.cli import simulate
parser = argparse.ArgumentParser()
simulate.add_parser(parser.add_subparsers())
sys.exit(simulate.run(parser.parse_args(sys.argv[1:])))
"""


class Connection:
    """One keep-alive HTTP/1.1 connection that sends a request and reads its whole answer."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, url: str) -> Connection:
        parts = urlsplit(url)
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        return cls(reader, writer)

    async def request(self, head: bytes, body: bytes = b"") -> tuple[int, bytes]:
        self.writer.write(head + body)
        answer_head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(answer_head[9:12])
        length = 0
        for line in answer_head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


def _get(path: str, host: str, auth: bool) -> bytes:
    authorization = "Authorization: Bearer bench\r\n" if auth else ""
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{authorization}\r\n".encode()


async def _worker(base_url: str, worker: int, done: list[int]) -> None:
    api = await Connection.open(base_url)
    images: Connection | None = None
    api_host = urlsplit(base_url).netloc
    job = 0
    try:
        while True:
            job += 1
            body = json.dumps({"prompt": f"bench {worker} {job}", "size": "1:1"}).encode()
            head = (
                f"POST /v1/images/generations HTTP/1.1\r\nHost: {api_host}\r\n"
                "Authorization: Bearer bench\r\nContent-Type: application/json\r\n"
                f"Idempotency-Key: {worker}-{job}\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode()
            status, answer = await api.request(head, body)
            if status != 200:
                raise RuntimeError(f"create answered {status}: {answer[:200]!r}")
            task_id = json.loads(answer)["id"]
            for _ in range(2):
                status, answer = await api.request(_get(f"/v1/tasks/{task_id}", api_host, True))
            url = json.loads(answer)["data"][0]["imageUrls"][0]
            parts = urlsplit(url)
            if images is None:
                images = await Connection.open(url)
            status, _ = await images.request(_get(parts.path, parts.netloc, False))
            if status != 200:
                raise RuntimeError(f"image answered {status}")
            done[0] += 4
    finally:
        api.close()
        if images is not None:
            images.close()


async def _generate_load(base_url: str) -> list[float]:
    done = [0]
    workers = [asyncio.create_task(_worker(base_url, w, done)) for w in range(CONNECTIONS)]
    rates: list[float] = []
    try:
        await asyncio.sleep(WARM_UP_SECONDS)
        for _ in range(ROUNDS):
            count, started = done[0], time.perf_counter()
            await asyncio.sleep(ROUND_SECONDS)
            for worker in workers:
                if worker.done():
                    worker.result()  # raises the worker's error
            rates.append((done[0] - count) / (time.perf_counter() - started))
    finally:
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
    return rates


def load_generator(base_url: str) -> None:
    """Run in its own process: print the requests/second of each round as a JSON list."""
    print(json.dumps(asyncio.run(_generate_load(base_url))), flush=True)


def main() -> None:
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER_CODE, "simulate", "--port", "0", "--latency", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert server.stdout is not None
        base_url = server.stdout.readline().strip()
        if not base_url.startswith("http://"):
            raise RuntimeError("the simulator did not print its base URL")
        load = subprocess.run(
            [
                sys.executable,
                "-c",
                f"import bench.bench_simulator as b; b.load_generator({base_url!r})",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        rates = json.loads(load.stdout)
    finally:
        server.terminate()
        server.wait(timeout=10)
    median = statistics.median(rates)
    verdict = "ok" if median >= TARGET else "BELOW TARGET"
    print(
        f"simulator: {median:,.0f} req/s median of {len(rates)} "
        f"(target >= {TARGET:,}; {CONNECTIONS} connections, no faults) {verdict}",
        flush=True,
    )
    print(f"   rounds: {', '.join(f'{rate:,.0f}' for rate in rates)} req/s", flush=True)


if __name__ == "__main__":
    main()
