"""A running simulator: its listeners and its API, in an event loop of its own or the caller's."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from contextlib import AbstractContextManager

from seedance_batch._serve import serve_in_thread
from seedance_batch.simulator._api import Api
from seedance_batch.simulator._config import SimulatorConfig
from seedance_batch.simulator._counters import Counters, Listener
from seedance_batch.simulator._http import HttpConnection
from seedance_batch.simulator._messages import Reply, Request
from seedance_batch.simulator._tasks import Task


def _origin(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class Simulator:
    """The simulated API on ``host``: ``base_url`` for the API, ``image_base_url`` for images.

    With ``variants.image_origin == "separate"`` (the default) images are served from a second
    port on the same host, a different origin, so that a client sending its Authorization
    header to the image host shows in ``counters.image_requests``.
    """

    def __init__(
        self,
        config: SimulatorConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config or SimulatorConfig()
        self.host = host
        self.port = port
        self.base_url = ""
        self.image_base_url = ""
        self._api = Api(self.config, clock)
        self._servers: list[asyncio.Server] = []
        self._connections: set[asyncio.Transport] = set()

    async def start(self) -> None:
        """Listen; afterwards ``base_url`` and ``image_base_url`` are set."""
        loop = asyncio.get_running_loop()
        api_port = await self._listen(loop, self.port, "api")
        self.base_url = _origin(self.host, api_port)
        if self.config.variants.image_origin == "separate":
            self.image_base_url = _origin(self.host, await self._listen(loop, 0, "images"))
        else:
            self.image_base_url = self.base_url
        self._api.image_base = self.image_base_url

    async def _listen(self, loop: asyncio.AbstractEventLoop, port: int, listener: Listener) -> int:
        def handle(request: Request) -> Reply:
            return self._api.handle(request, listener)

        server = await loop.create_server(
            lambda: HttpConnection(handle, self._connections, self._api.stall_started),
            self.host,
            port,
            backlog=1024,
            reuse_address=True,
        )
        self._servers.append(server)
        bound: int = server.sockets[0].getsockname()[1]
        return bound

    async def close(self) -> None:
        """Stop listening and drop every open connection."""
        for server in self._servers:
            server.close()
        for transport in list(self._connections):
            transport.abort()
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()

    @property
    def counters(self) -> Counters:
        """A snapshot of what the simulator saw (safe to read from any thread)."""
        return self._api.counters()

    def reset_counters(self) -> None:
        """Zero the counters; tasks, balances and idempotency keys stay."""
        self._api.reset_counters()

    def balance(self, key: str) -> int | None:
        """Credits left for ``key`` (None: unlimited)."""
        return self._api.balance(key)

    def task(self, task_id: str) -> Task | None:
        """The task ``task_id`` as created (None if unknown)."""
        return self._api.task(task_id)


def serve(
    config: SimulatorConfig | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    clock: Callable[[], float] = time.monotonic,
) -> AbstractContextManager[Simulator]:
    """Run a simulator in a background thread with its own event loop, for tests.

    ``clock`` (monotonic seconds) times tasks and the rate limit: a test's fake clock lets
    tasks take fake seconds.

    ``with serve(SimulatorConfig(seed=1)) as sim:`` then use ``sim.base_url`` and read
    ``sim.counters``; the server stops and drops its connections on leaving the block.
    """
    return serve_in_thread(Simulator(config, host, port, clock), name="seedance-simulator")
