"""A simulated task: its size, fate and words, and how it looks to a client at a given time."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

from seedance_batch.simulator._config import Envelope, IdField, StatusWords, UrlPlacement
from seedance_batch.simulator._facts import LONG_SIDE_4K, PRESETS_1K_PIXELS

Phase = Literal["pending", "processing", "succeeded", "failed"]

#: The share of its latency a task spends ``pending`` before it turns ``processing``.
PENDING_SHARE = 0.3
#: Served images are the requested pixel size divided by this (1024x1024 -> 32x32).
IMAGE_SCALE = 32
MAX_IMAGE_SIDE = 256

STATUS_WORDS: dict[str, dict[Phase, str]] = {
    "standard": {
        "pending": "pending", "processing": "processing",
        "succeeded": "succeeded", "failed": "failed",
    },
    "alternate": {
        "pending": "queued", "processing": "running", "succeeded": "completed", "failed": "error",
    },
    "uppercase": {
        "pending": "PENDING", "processing": "IN_PROGRESS",
        "succeeded": "SUCCESS", "failed": "FAILURE",
    },
}  # fmt: skip
#: The words ``mixed`` draws from, per phase (the contract's section 1 lists the terminal ones).
MIXED_WORDS: dict[Phase, tuple[str, ...]] = {
    "pending": ("pending", "queued", "PENDING", "Queued", "submitted"),
    "processing": ("processing", "running", "in_progress", "IN_PROGRESS", "Generating"),
    "succeeded": (
        "succeeded", "succeed", "success", "completed", "complete", "done", "finished",
        "SUCCESS", "Completed",
    ),
    "failed": (
        "failed", "fail", "failure", "error", "cancelled", "canceled", "aborted", "expired",
        "rejected", "FAILED",
    ),
}  # fmt: skip
FAILURE_MESSAGES = (
    "the image could not be generated: upstream model timed out",
    "the prompt was rejected by the content policy",
    "the generation worker crashed; try again",
)

_RATIO = re.compile(r"^([1-9][0-9]*):([1-9][0-9]*)$")
_PIXELS = re.compile(r"^([1-9][0-9]*)x([1-9][0-9]*)$")


def parse_size(text: str) -> tuple[Literal["ratio", "pixels"], int, int] | None:
    """Read ``W:H`` or ``WxH`` (positive integers), or None."""
    if match := _RATIO.match(text):
        return ("ratio", int(match[1]), int(match[2]))
    if match := _PIXELS.match(text):
        return ("pixels", int(match[1]), int(match[2]))
    return None


def full_pixel_size(size: str, resolution: str) -> tuple[int, int]:
    """The pixel size the API would produce for a valid ``size`` (or 4K preset)."""
    parsed = parse_size(size)
    if parsed is None:
        raise ValueError(f"not a size: {size!r}")
    form, width, height = parsed
    if form == "pixels":
        return (width, height)
    if resolution == "4k":
        long_side = LONG_SIDE_4K
        if width >= height:
            return (long_side, round(long_side * height / width))
        return (round(long_side * width / height), long_side)
    if size in PRESETS_1K_PIXELS:
        return PRESETS_1K_PIXELS[size]
    return (round(1024 * math.sqrt(width / height)), round(1024 * math.sqrt(height / width)))


def served_pixel_size(size: str, resolution: str) -> tuple[int, int]:
    """The small size the simulator serves: the API's size divided by ``IMAGE_SCALE``."""
    width, height = full_pixel_size(size, resolution)
    return (
        min(MAX_IMAGE_SIDE, max(1, round(width / IMAGE_SCALE))),
        min(MAX_IMAGE_SIDE, max(1, round(height / IMAGE_SCALE))),
    )


@dataclass(frozen=True)
class TaskStyle:
    """How one task's answers look (fixed at creation, drawn per task for ``mixed`` knobs)."""

    words: dict[Phase, str]
    envelope: Envelope
    id_field: IdField
    url_placement: UrlPlacement


@dataclass(frozen=True)
class Task:
    """A created task. Its fate is fixed at creation; its phase follows the clock."""

    id: str
    key: str
    model: str
    n: int
    resolution: str
    size: str
    width: int
    height: int
    credits: int
    created_at: float
    created_unix: int
    latency: float
    fails: bool
    delivered: int
    failure_message: str
    body_digest: str
    style: TaskStyle

    def phase(self, now: float) -> Phase:
        """Where the task stands at monotonic time ``now``."""
        elapsed = now - self.created_at
        if elapsed >= self.latency:
            return "failed" if self.fails else "succeeded"
        return "processing" if elapsed >= PENDING_SHARE * self.latency else "pending"

    @property
    def finished_at(self) -> float:
        return self.created_at + self.latency

    def image_urls(self, image_base: str) -> list[str]:
        return [f"{image_base}/images/{self.id}/{k}.png" for k in range(1, self.delivered + 1)]

    def view(self, phase: Phase, image_base: str) -> dict[str, object]:
        """The JSON answer for this task in ``phase``, shaped by its style."""
        word = self.style.words[phase]
        urls = self.image_urls(image_base) if phase == "succeeded" else []
        item: dict[str, object] = {"id": self.id, "mediaType": "image", "status": word}
        task: dict[str, object] = {
            self.style.id_field: self.id,
            "object": "image.generation.task",
            "status": word,
            "model": self.model,
            "n": self.n,
            "created": self.created_unix,
            "data": [item],
        }
        placement = self.style.url_placement
        if placement == "imageUrls":
            item["imageUrls"] = urls
        elif placement == "url":
            if urls:
                task["data"] = [
                    {"id": f"{self.id}-{k}", "mediaType": "image", "status": word, "url": url}
                    for k, url in enumerate(urls, start=1)
                ]
        elif placement == "url_list":
            item["url"] = urls
        elif placement == "results":
            task["results"] = urls
        elif placement == "top_level":
            task["imageUrls"] = urls
        else:  # duplicated
            item["imageUrls"] = urls
            task["imageUrls"] = list(urls)
        if phase == "failed":
            task["error"] = {"message": self.failure_message, "type": "generation_failed"}
        return {"data": task} if self.style.envelope == "data" else task


def words_for(status_words: StatusWords) -> dict[Phase, str] | None:
    """The fixed words of a style, or None for ``mixed`` (drawn per task)."""
    return None if status_words == "mixed" else STATUS_WORDS[status_words]
