"""``seedance-batch review MANIFEST``: serve the review app on 127.0.0.1 until Ctrl-C or SIGTERM.

The URL is the first line of stdout (flushed at once), so a script can start it with
``--port 0`` and read where it listens; the browser opens it unless ``--no-open``. A signal is
the normal way to end it: exit 0, as ``simulate`` (every decision is already on disk). A broken
manifest, lockfile or review file exits 2 before anything listens, and so does a port in use.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from seedance_batch.cli._common import add_out, manifest_command, non_negative_int
from seedance_batch.cli._errors import EXIT_BAD_INPUT, EXIT_OK

if TYPE_CHECKING:
    from seedance_batch.review import ReviewServer

__all__ = ["add_parser", "run"]

DEFAULT_PORT = 8788


def add_parser(subparsers: Any) -> None:
    what = (
        "review the campaign's images in the browser: approve, reject, favourite",
        "Serve the campaign's images on 127.0.0.1 to review them in the browser: filters, "
        "a grid of two axes, a lightbox, keys a/r/f/u. Each decision is written at once to "
        "<manifest stem>.review.yaml beside the manifest. Nothing is sent to the API.",
    )
    parser = manifest_command(subparsers, "review", what)
    add_out(parser)
    parser.add_argument(
        "--port",
        type=non_negative_int,
        default=DEFAULT_PORT,
        metavar="P",
        help=f"the port on 127.0.0.1 (default {DEFAULT_PORT}; 0 picks a free one)",
    )
    parser.add_argument("--no-open", action="store_true", help="do not open the browser")


def _ready(open_browser: bool) -> Any:
    def ready(server: ReviewServer) -> None:
        print(server.url, flush=True)
        print(
            f"seedance-batch review: {server.url} ; decisions go to {server.review_file}; "
            "Ctrl-C to stop",
            file=sys.stderr,
            flush=True,
        )
        if not server.state.source.campaign.images:
            print(
                "warning: the campaign has no image yet: run it first (the app shows new ones "
                "as the lockfile records them)",
                file=sys.stderr,
                flush=True,
            )
        if open_browser:
            import webbrowser

            webbrowser.open(server.url)

    return ready


def run(args: argparse.Namespace) -> int:
    # here, not at the top: `validate` builds every command's parser and must stay light
    import asyncio

    from seedance_batch.review import ReviewServer, serve_until_signalled

    server = ReviewServer(args.manifest, port=args.port, lockfile=args.lockfile, out=args.out)
    try:
        asyncio.run(serve_until_signalled(server, _ready(not args.no_open)))
    except OSError as exc:
        print(
            f"seedance-batch: error: cannot listen on 127.0.0.1:{args.port}: {exc}", file=sys.stderr
        )
        return EXIT_BAD_INPUT
    return EXIT_OK
