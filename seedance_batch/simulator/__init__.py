"""A local, faithful stand-in for the Seedance 2.1 image API, with faults on demand.

It shares no code with the client (``seedance_batch._client``): it is an independent
implementation of the provider's page and of the contract's section 1, so the tests of the
client test it against the API rather than against itself.

    from seedance_batch.simulator import SimulatorConfig, serve

    with serve(SimulatorConfig(seed=7, latency=0.2, fail_rate=0.1)) as sim:
        ...  # talk to sim.base_url; read sim.counters
"""

from seedance_batch.simulator._config import (
    Envelope,
    IdField,
    ImageOrigin,
    Latency,
    RetryAfterForm,
    SimulatorConfig,
    StatusWords,
    SuccessFlag,
    UrlPlacement,
    Variants,
    parse_latency,
)
from seedance_batch.simulator._counters import Counters, ImageRequest
from seedance_batch.simulator._png import PNG_SIGNATURE, encode_png, render_image
from seedance_batch.simulator._server import Simulator, serve
from seedance_batch.simulator._tasks import IMAGE_SCALE, Task

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
