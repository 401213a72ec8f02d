"""A local, faithful stand-in for the Seedance 2.1 image API, with faults on demand.

It shares no code with the client (``seedance_batch.client``): it is an independent
implementation of the provider's page and of the contract's section 1, so the tests of the
client test it against the API rather than against itself.

    from seedance_batch.simulator import SimulatorConfig, serve

    with serve(SimulatorConfig(seed=7, latency=0.2, fail_rate=0.1)) as sim:
        ...  # talk to sim.base_url; read sim.counters
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what mypy and editors see; at run time __getattr__ imports on first use
    from seedance_batch.simulator._config import Envelope as Envelope
    from seedance_batch.simulator._config import IdField as IdField
    from seedance_batch.simulator._config import ImageOrigin as ImageOrigin
    from seedance_batch.simulator._config import Latency as Latency
    from seedance_batch.simulator._config import RetryAfterForm as RetryAfterForm
    from seedance_batch.simulator._config import SimulatorConfig as SimulatorConfig
    from seedance_batch.simulator._config import StatusWords as StatusWords
    from seedance_batch.simulator._config import SuccessFlag as SuccessFlag
    from seedance_batch.simulator._config import UrlPlacement as UrlPlacement
    from seedance_batch.simulator._config import Variants as Variants
    from seedance_batch.simulator._config import parse_latency as parse_latency
    from seedance_batch.simulator._counters import Counters as Counters
    from seedance_batch.simulator._counters import ImageRequest as ImageRequest
    from seedance_batch.simulator._png import PNG_SIGNATURE as PNG_SIGNATURE
    from seedance_batch.simulator._png import encode_png as encode_png
    from seedance_batch.simulator._png import render_image as render_image
    from seedance_batch.simulator._server import Simulator as Simulator
    from seedance_batch.simulator._server import serve as serve
    from seedance_batch.simulator._tasks import IMAGE_SCALE as IMAGE_SCALE
    from seedance_batch.simulator._tasks import Task as Task

__all__ = [
    "IMAGE_SCALE",
    "PNG_SIGNATURE",
    "Counters",
    "Envelope",
    "IdField",
    "ImageOrigin",
    "ImageRequest",
    "Latency",
    "RetryAfterForm",
    "Simulator",
    "SimulatorConfig",
    "StatusWords",
    "SuccessFlag",
    "Task",
    "UrlPlacement",
    "Variants",
    "encode_png",
    "parse_latency",
    "render_image",
    "serve",
]

#: Where each public name is defined: imported from there on first use, so that the command
#: line can read the choices of ``_config`` without loading the server (and asyncio).
_HOMES: dict[str, str] = {
    "Counters": "seedance_batch.simulator._counters",
    "Envelope": "seedance_batch.simulator._config",
    "IMAGE_SCALE": "seedance_batch.simulator._tasks",
    "IdField": "seedance_batch.simulator._config",
    "ImageOrigin": "seedance_batch.simulator._config",
    "ImageRequest": "seedance_batch.simulator._counters",
    "Latency": "seedance_batch.simulator._config",
    "PNG_SIGNATURE": "seedance_batch.simulator._png",
    "RetryAfterForm": "seedance_batch.simulator._config",
    "Simulator": "seedance_batch.simulator._server",
    "SimulatorConfig": "seedance_batch.simulator._config",
    "StatusWords": "seedance_batch.simulator._config",
    "SuccessFlag": "seedance_batch.simulator._config",
    "Task": "seedance_batch.simulator._tasks",
    "UrlPlacement": "seedance_batch.simulator._config",
    "Variants": "seedance_batch.simulator._config",
    "encode_png": "seedance_batch.simulator._png",
    "parse_latency": "seedance_batch.simulator._config",
    "render_image": "seedance_batch.simulator._png",
    "serve": "seedance_batch.simulator._server",
}


def __getattr__(name: str) -> Any:
    """Import a public name's module on first use, then keep the name here (PEP 562)."""
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOMES[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
