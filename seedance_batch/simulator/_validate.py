"""The checks the API's page implies for a create body; each failure names its field."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from seedance_batch.simulator._facts import MODELS, N_CHOICES, PRESETS_4K, PRICE_PER_IMAGE
from seedance_batch.simulator._tasks import parse_size


class InvalidBody(Exception):
    """A create body the API refuses with 400; ``field`` is the offending field (or None)."""

    def __init__(self, field: str | None, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}" if field else message)


@dataclass(frozen=True)
class ImageOrder:
    """A valid create body, with the API's defaults filled in."""

    prompt: str
    model: str
    n: int
    resolution: str
    size: str

    @property
    def credits(self) -> int:
        return self.n * PRICE_PER_IMAGE[self.resolution]


def _optional_string(body: dict[str, object], field: str) -> str | None:
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidBody(field, f"must be a string, not {type(value).__name__}")
    return value


def _resolution(body: dict[str, object]) -> str:
    given: dict[str, str] = {}
    for field in ("resolution", "imageResolution"):
        value = _optional_string(body, field)
        if value is None:
            continue
        lowered = value.strip().lower()
        if lowered not in PRICE_PER_IMAGE:
            raise InvalidBody(field, f"must be 1k or 4k, not {value!r}")
        given[field] = lowered
    if len(set(given.values())) > 1:
        raise InvalidBody(
            "imageResolution",
            f"{given['imageResolution']!r} contradicts resolution {given['resolution']!r}",
        )
    return next(iter(given.values()), "1k")


def _n(body: dict[str, object]) -> int:
    value = body.get("n", 1)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value not in N_CHOICES:
        raise InvalidBody("n", f"must be 1, 2 or 4, not {value!r}")
    return value


def _size(body: dict[str, object], resolution: str) -> str:
    size = _optional_string(body, "size")
    preset = _optional_string(body, "imageSizePreset")
    if preset is not None and preset not in PRESETS_4K:
        raise InvalidBody(
            "imageSizePreset", f"{preset!r} is not a preset; use one of {_preset_list()}"
        )
    if resolution == "4k":
        if preset is not None:
            return preset
        if size is None:
            return "1:1"
        if size not in PRESETS_4K:
            if parse_size(size) is not None and "x" in size:
                raise InvalidBody("size", f"pixel size {size!r} is not supported at 4k")
            raise InvalidBody("size", f"{size!r} is not a 4k preset; use one of {_preset_list()}")
        return size
    if size is not None:
        if parse_size(size) is None:
            raise InvalidBody("size", f"{size!r} is not W:H (such as 16:9) or WxH (1024x1024)")
        return size
    return preset if preset is not None else "1:1"


def _preset_list() -> str:
    return ", ".join(sorted(PRESETS_4K, key=lambda p: tuple(int(x) for x in p.split(":"))))


def validate_body(body: object, models: Sequence[str] = MODELS) -> ImageOrder:
    """Check a decoded JSON body as the page says; raise :class:`InvalidBody` if it fails."""
    if not isinstance(body, dict):
        raise InvalidBody(None, "the request body must be a JSON object")
    if "prompt" not in body:
        raise InvalidBody("prompt", "is required")
    prompt = body["prompt"]
    if not isinstance(prompt, str) or not prompt.strip():
        raise InvalidBody("prompt", "must be a non-empty string")
    model = _optional_string(body, "model")
    if model is None:
        model = MODELS[0]  # the page's default, whatever else is accepted
    elif model not in models:
        raise InvalidBody("model", f"unknown model {model!r}; use one of {', '.join(models)}")
    _optional_string(body, "provider")
    resolution = _resolution(body)
    return ImageOrder(prompt, model, _n(body), resolution, _size(body, resolution))
