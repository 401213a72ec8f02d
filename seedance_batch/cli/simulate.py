"""``seedance-batch simulate``: serve the local API simulator until Ctrl-C or SIGTERM.

The base URL is the first line of stdout (flushed at once), so a script can start the simulator
with ``--port 0`` and read where it listens. A signal is the simulator's normal way to end: it
then exits 0 (not 130, which tells that work was interrupted and can be resumed; a simulator
has nothing to resume). Bad flags, or an address already in use, exit 2.
"""

from __future__ import annotations

import argparse
import signal
import sys
from typing import TYPE_CHECKING

from seedance_batch.cli._common import non_negative_int, number, positive_number
from seedance_batch.simulator._config import (
    ENVELOPE_CHOICES,
    ID_FIELD_CHOICES,
    IMAGE_ORIGIN_CHOICES,
    RETRY_AFTER_CHOICES,
    STATUS_WORDS_CHOICES,
    SUCCESS_FLAG_CHOICES,
    URL_PLACEMENT_CHOICES,
    Latency,
    SimulatorConfig,
    Variants,
    parse_latency,
)

if TYPE_CHECKING:
    from seedance_batch.simulator import Simulator

__all__ = ["add_parser", "run"]

DEFAULT_PORT = 8787
DEFAULT_LATENCY = "1-3"


_probability = number(at_least=0, at_most=1)
_seconds = number(at_least=0)


def _latency(text: str) -> Latency:
    try:
        return parse_latency(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "simulate",
        help="serve the local API simulator (faults on demand)",
        description=(
            "Serve the Seedance 2.1 image API on loopback, with faults on demand. The base URL "
            "is the first line of stdout. Every random decision is reproducible with --seed. "
            "Runs until Ctrl-C or SIGTERM, then exits 0."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port (0: a free one; {DEFAULT_PORT})"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of every random decision (0)")
    faults = parser.add_argument_group("faults")
    faults.add_argument(
        "--latency",
        type=_latency,
        default=parse_latency(DEFAULT_LATENCY),
        metavar="S|LOW-HIGH",
        help=f"seconds until a task ends, fixed or a range drawn per task ({DEFAULT_LATENCY})",
    )
    faults.add_argument(
        "--fail-rate", type=_probability, default=0.0, metavar="P", help="share of tasks that fail"
    )
    faults.add_argument(
        "--error-rate",
        type=_probability,
        default=0.0,
        metavar="P",
        help="share of requests answered 500, 502 or 503",
    )
    faults.add_argument(
        "--rate-limit",
        type=positive_number,
        default=None,
        metavar="RPS",
        help="API requests per second of each key (a sliding 1 s window), then 429",
    )
    faults.add_argument(
        "--reset-rate",
        type=_probability,
        default=0.0,
        metavar="P",
        help="share of requests whose connection is dropped unanswered",
    )
    faults.add_argument(
        "--reset-after-create",
        type=_probability,
        default=0.5,
        metavar="P",
        help="share of dropped creates that drop the answer after creating and charging (0.5)",
    )
    faults.add_argument(
        "--truncate-rate",
        type=_probability,
        default=0.0,
        metavar="P",
        help="share of image bodies cut short of their Content-Length",
    )
    faults.add_argument(
        "--credits",
        type=non_negative_int,
        default=None,
        metavar="N",
        help="starting balance of each key, then 402 (default: unlimited)",
    )
    faults.add_argument(
        "--key",
        action="append",
        default=None,
        metavar="KEY",
        help="accepted API key, repeatable (default: any non-empty key)",
    )
    faults.add_argument(
        "--image-ttl",
        type=positive_number,
        default=None,
        metavar="S",
        help="seconds a finished task's images answer, then 410",
    )
    waits = parser.add_argument_group(
        "deterministic waits (to kill a client at a precise moment; other connections go on)"
    )
    waits.add_argument(
        "--create-delay",
        type=_seconds,
        default=0.0,
        metavar="SECONDS",
        help=(
            "wait this long before answering a create that made a task, the task already made "
            "and charged; replays of an Idempotency-Key answer at once (0)"
        ),
    )
    waits.add_argument(
        "--image-stall",
        type=_seconds,
        default=0.0,
        metavar="SECONDS",
        help=(
            "send an image's head (full Content-Length) and half its body, wait this long, "
            "then send the rest (0)"
        ),
    )
    variants = parser.add_argument_group("answer variants (contract, section 1)")
    variants.add_argument("--status-words", choices=STATUS_WORDS_CHOICES, default="standard")
    variants.add_argument("--envelope", choices=ENVELOPE_CHOICES, default="bare")
    variants.add_argument("--id-field", choices=ID_FIELD_CHOICES, default="id")
    variants.add_argument("--url-placement", choices=URL_PLACEMENT_CHOICES, default="imageUrls")
    variants.add_argument(
        "--short-delivery-rate",
        type=_probability,
        default=0.0,
        metavar="P",
        help="share of tasks with n > 1 delivering fewer images",
    )
    variants.add_argument(
        "--retry-after",
        choices=RETRY_AFTER_CHOICES,
        default="seconds",
        help="a 429's wait: a Retry-After header, or only in the body (body_text, body_field)",
    )
    variants.add_argument("--image-origin", choices=IMAGE_ORIGIN_CHOICES, default="separate")
    variants.add_argument(
        "--success-flag",
        choices=SUCCESS_FLAG_CHOICES,
        default="off",
        help="a numeric successFlag beside the status word, or instead of it (only)",
    )
    variants.add_argument(
        "--policy-rate",
        type=_probability,
        default=0.0,
        metavar="P",
        help="share of tasks rejected by moderation, with words like SENSITIVE_WORD_ERROR",
    )


def config_from_args(args: argparse.Namespace) -> SimulatorConfig:
    """The simulator configuration the flags describe."""
    return SimulatorConfig(
        seed=args.seed,
        latency=args.latency,
        fail_rate=args.fail_rate,
        error_rate=args.error_rate,
        rate_limit=args.rate_limit,
        reset_rate=args.reset_rate,
        reset_after_create=args.reset_after_create,
        truncate_rate=args.truncate_rate,
        credits=args.credits,
        keys=frozenset(args.key) if args.key else None,
        image_ttl=args.image_ttl,
        create_delay=args.create_delay,
        image_stall=args.image_stall,
        variants=Variants(
            status_words=args.status_words,
            envelope=args.envelope,
            id_field=args.id_field,
            url_placement=args.url_placement,
            short_delivery_rate=args.short_delivery_rate,
            retry_after=args.retry_after,
            image_origin=args.image_origin,
            success_flag=args.success_flag,
            policy_rate=args.policy_rate,
        ),
    )


async def _serve_until_signalled(simulator: Simulator) -> None:
    import asyncio

    await simulator.start()
    print(simulator.base_url, flush=True)
    print(
        f"seedance-batch simulate: API at {simulator.base_url}, images at "
        f"{simulator.image_base_url}; Ctrl-C to stop",
        file=sys.stderr,
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await simulator.close()


def run(args: argparse.Namespace) -> int:
    # here, not at the top: `validate` builds every command's parser and must stay light
    import asyncio

    from seedance_batch.simulator import Simulator

    try:
        config = config_from_args(args)
    except ValueError as exc:
        print(f"seedance-batch: error: {exc}", file=sys.stderr)
        return 2
    simulator = Simulator(config, args.host, args.port)
    try:
        asyncio.run(_serve_until_signalled(simulator))
    except OSError as exc:
        print(
            f"seedance-batch: error: cannot listen on {args.host}:{args.port}: {exc}",
            file=sys.stderr,
        )
        return 2
    counters = simulator.counters
    print(
        f"seedance-batch simulate: stopped after {counters.requests} requests, "
        f"{counters.creates} tasks, {counters.credits_charged} credits charged",
        file=sys.stderr,
    )
    return 0
