"""A simulated task: its size, fate and words, and how it looks to a client at a given time."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

from seedance_batch.simulator._config import (
    Envelope,
    IdField,
    StatusWords,
    SuccessFlag,
    UrlPlacement,
)
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
    "reseller": {
        "pending": "IN_QUEUE", "processing": "GENERATING",
        "succeeded": "SUCCESS", "failed": "GENERATE_FAILED",
    },
}  # fmt: skip
#: The words ``mixed`` draws from, per phase (the contract's section 1 lists the terminal ones).
MIXED_WORDS: dict[Phase, tuple[str, ...]] = {
    "pending": ("pending", "queued", "PENDING", "Queued", "submitted", "IN_QUEUE", "waiting"),
    "processing": (
        "processing", "running", "in_progress", "IN_PROGRESS", "Generating", "GENERATING",
    ),
    "succeeded": (
        "succeeded", "succeed", "success", "completed", "complete", "done", "finished",
        "SUCCESS", "Completed", "TASK_COMPLETED",
    ),
    "failed": (
        "failed", "fail", "failure", "error", "cancelled", "canceled", "aborted", "expired",
        "rejected", "FAILED", "GENERATE_FAILED", "CREATE_TASK_FAILED",
    ),
}  # fmt: skip
#: Messages of ordinary failures: none names a policy, so a client may submit again.
FAILURE_MESSAGES = (
    "the image could not be generated: upstream model timed out",
    "the upstream service returned no image",
    "the generation worker crashed; try again",
)
#: The words and messages of a policy rejection (``policy_rate``), as resellers send them.
POLICY_WORDS = ("SENSITIVE_WORD_ERROR", "CONTENT_POLICY_VIOLATION", "NSFW_BLOCKED")
POLICY_MESSAGES = (
    "the prompt contains sensitive words",
    "the request was rejected by content moderation",
    "NSFW content was detected in the output",
)
#: The codes of ``successFlag`` per phase.
SUCCESS_FLAGS: dict[Phase, int] = {"pending": 0, "processing": 0, "succeeded": 1, "failed": 2}

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
    success_flag: SuccessFlag = "off"


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
        _place_urls(task, item, self.style.url_placement, urls, self.id, word)
        if phase == "failed":
            task["error"] = {"message": self.failure_message, "type": "generation_failed"}
        if self.style.success_flag != "off":
            task["successFlag"] = SUCCESS_FLAGS[phase]
        if self.style.success_flag == "only":
            task.pop("status")
            for entry in _list_of_dicts(task.get("data")):
                entry.pop("status", None)
        return _envelope(task, self.style.envelope)


def _list_of_dicts(value: object) -> list[dict[str, object]]:
    return [entry for entry in value if isinstance(entry, dict)] if isinstance(value, list) else []


def _place_urls(
    task: dict[str, object],
    item: dict[str, object],
    placement: UrlPlacement,
    urls: list[str],
    task_id: str,
    word: str,
) -> None:
    """Put a finished task's image URLs where ``placement`` says."""
    if placement == "imageUrls":
        item["imageUrls"] = urls
    elif placement == "url":
        if urls:
            task["data"] = [
                {"id": f"{task_id}-{k}", "mediaType": "image", "status": word, "url": url}
                for k, url in enumerate(urls, start=1)
            ]
    elif placement == "url_list":
        item["url"] = urls
    elif placement == "results":
        task["results"] = urls
    elif placement == "top_level":
        task["imageUrls"] = urls
    elif placement == "duplicated":
        item["imageUrls"] = urls
        task["imageUrls"] = list(urls)
    elif placement == "result_images":
        task["result"] = {"images": [{"url": url, "width": 0} for url in urls]}
    elif placement == "response_resultUrls":
        task["response"] = {"resultUrls": urls, "originUrls": None}
    elif placement == "output":
        task["output"] = urls
    else:  # images
        task["images"] = [{"url": url, "content_type": "image/png"} for url in urls]
        task["has_nsfw_concepts"] = [False for _ in urls]


def _envelope(task: dict[str, object], envelope: Envelope) -> dict[str, object]:
    if envelope == "data":
        return {"data": task}
    if envelope == "code":
        return {"code": 200, "msg": "success", "data": task}
    if envelope == "data_list":
        return {"data": [task]}
    return task


def words_for(status_words: StatusWords) -> dict[Phase, str] | None:
    """The fixed words of a style, or None for ``mixed`` (drawn per task)."""
    return None if status_words == "mixed" else STATUS_WORDS[status_words]
