"""The review server's life: bound to 127.0.0.1, started, served until a signal, closed.

:class:`ReviewServer` reads the campaign (errors surface before anything listens), binds the
loopback address (port 0 picks a free one; ``url`` then names it), queues the missing
thumbnails in the background in plan order, and closes cleanly. :func:`serve_until_signalled`
is what ``seedance-batch review`` runs; :func:`serve` runs one in a thread, for tests.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

from aiohttp import web

from seedance_batch._decisions import ReviewFile, default_review_path, who_decides
from seedance_batch._serve import serve_in_thread
from seedance_batch._thumbs import ThumbMaker
from seedance_batch.review._app import LOOPBACK, ReviewApp, create_app
from seedance_batch.review._campaign import CampaignSource, source_of

__all__ = ["ReviewServer", "serve", "serve_until_signalled"]


class ReviewServer:
    """A review app for one manifest's campaign, on ``127.0.0.1:<port>``."""

    def __init__(
        self,
        manifest: Path,
        *,
        port: int = 0,
        lockfile: Path | None = None,
        out: Path | None = None,
        review: Path | None = None,
        by: str | None = None,
        prefill: bool = True,
    ) -> None:
        self.manifest = Path(manifest)
        self.port = port
        self.url = ""
        self._prefill = prefill
        source = CampaignSource(self.manifest, lockfile=lockfile, out=out)
        campaign = source.campaign
        review_path = review or default_review_path(self.manifest)
        review_file = ReviewFile(
            review_path, campaign.name, by or who_decides(self.manifest.parent)
        )
        review_file.entries()  # a broken review file is refused before anything listens
        self.state = ReviewApp(source, review_file, ThumbMaker(campaign.out))
        self._runner: web.AppRunner | None = None

    @property
    def review_file(self) -> Path:
        return self.state.review.path

    async def start(self) -> None:
        """Listen on 127.0.0.1; afterwards ``url`` is set (``http://127.0.0.1:<port>/``)."""
        runner = web.AppRunner(create_app(self.state), access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, LOOPBACK, self.port, reuse_address=True)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        bound = runner.addresses[0][1]
        self.state.port = self.port = int(bound)
        self.url = f"http://{LOOPBACK}:{self.port}/"
        if self._prefill:
            self.state.thumbs.prefill([source_of(i) for i in self.state.source.campaign.images])

    async def close(self) -> None:
        """Stop listening; drop the queued thumbnails, wait for those being made."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await asyncio.get_running_loop().run_in_executor(None, self.state.thumbs.close)


async def serve_until_signalled(
    server: ReviewServer, on_ready: Callable[[ReviewServer], None] = lambda _: None
) -> None:
    """Start ``server``, call ``on_ready``, serve until SIGINT or SIGTERM, close."""
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        on_ready(server)
        await stop.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        await server.close()


def serve(server: ReviewServer) -> AbstractContextManager[ReviewServer]:
    """``server`` running in a background thread with its own event loop, for tests and
    scripts: ``with serve(ReviewServer(path)) as running: running.url``."""
    return serve_in_thread(server, name="seedance-review")
