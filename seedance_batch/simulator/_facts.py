"""The simulator's own copy of the API's facts, taken from the provider's page.

Deliberately not imported from ``seedance_batch._rules``: the simulator is an independent
implementation of the API, so a mistake in the client's copy cannot hide behind the same mistake
here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

MODELS: Final = ("gpt-image-2-all", "gpt-image-1.5-all")
N_CHOICES: Final = (1, 2, 4)
PRICE_PER_IMAGE: Final[Mapping[str, int]] = {"1k": 2, "4k": 4}
PRESETS_1K_PIXELS: Final[Mapping[str, tuple[int, int]]] = {
    "1:1": (1024, 1024),
    "4:5": (1024, 1280),
    "16:9": (1536, 864),
    "9:16": (864, 1536),
}
PRESETS_4K: Final = frozenset(
    {"1:1", "3:2", "2:3", "4:3", "3:4", "5:4", "4:5", "16:9", "9:16",
     "2:1", "1:2", "3:1", "1:3", "21:9", "9:21"}
)  # fmt: skip
#: The long-side pixel count a 4K image has at the API (the short side follows the ratio).
LONG_SIDE_4K: Final = 4096
