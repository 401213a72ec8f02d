"""An async server run in a background thread, in an event loop of its own, for tests and scripts.

The review app and the simulator are both started this way (``serve(...)`` in each): the server
starts before the block is entered (a failure to start is raised in the caller's thread), and
closes, in its own loop, when the block is left.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol, TypeVar

__all__ = ["Server", "serve_in_thread"]


class Server(Protocol):
    """What :func:`serve_in_thread` runs: an async start and an async close."""

    async def start(self) -> object:
        """Bind and begin serving."""

    async def close(self) -> None:
        """Stop serving and drop the connections."""


S = TypeVar("S", bound=Server)


@contextmanager
def serve_in_thread(server: S, *, name: str) -> Iterator[S]:
    """``server`` started in a daemon thread called ``name``, served until the block is left."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(server.start())
        except BaseException as exc:  # reported to the caller's thread below
            failure.append(exc)
            return
        finally:
            started.set()
        loop.run_forever()
        loop.run_until_complete(server.close())

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    started.wait()
    try:
        if failure:
            raise failure[0]
        yield server
    finally:
        if not failure:
            loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()
