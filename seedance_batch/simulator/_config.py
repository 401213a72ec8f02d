"""What a simulator does: its faults, its answers' variants, its keys and credits."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from seedance_batch.simulator._facts import MODELS

StatusWords = Literal["standard", "alternate", "uppercase", "reseller", "mixed"]
Envelope = Literal["bare", "data", "code", "data_list", "mixed"]
IdField = Literal["id", "task_id", "taskId", "mixed"]
UrlPlacement = Literal[
    "imageUrls", "url", "url_list", "results", "top_level", "duplicated",
    "result_images", "response_resultUrls", "output", "images", "mixed",
]  # fmt: skip
RetryAfterForm = Literal["seconds", "http-date", "body_text", "body_field"]
SuccessFlag = Literal["off", "with_status", "only"]
ImageOrigin = Literal["separate", "same"]
Latency = float | tuple[float, float]

STATUS_WORDS_CHOICES: tuple[StatusWords, ...] = (
    "standard", "alternate", "uppercase", "reseller", "mixed",
)  # fmt: skip
ENVELOPE_CHOICES: tuple[Envelope, ...] = ("bare", "data", "code", "data_list", "mixed")
ID_FIELD_CHOICES: tuple[IdField, ...] = ("id", "task_id", "taskId", "mixed")
URL_PLACEMENT_CHOICES: tuple[UrlPlacement, ...] = (
    "imageUrls", "url", "url_list", "results", "top_level", "duplicated",
    "result_images", "response_resultUrls", "output", "images", "mixed",
)  # fmt: skip
RETRY_AFTER_CHOICES: tuple[RetryAfterForm, ...] = (
    "seconds",
    "http-date",
    "body_text",
    "body_field",
)
SUCCESS_FLAG_CHOICES: tuple[SuccessFlag, ...] = ("off", "with_status", "only")
IMAGE_ORIGIN_CHOICES: tuple[ImageOrigin, ...] = ("separate", "same")


def _check_rate(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be between 0 and 1, not {value!r}")


def _check_seconds(name: str, value: float) -> None:
    if not (math.isfinite(value) and value >= 0.0):
        raise ValueError(f"{name} must be a finite number of seconds >= 0, not {value!r}")


@dataclass(frozen=True)
class Variants:
    """How the answers are shaped, within what the contract's section 1 says a client must take.

    - ``status_words``: ``standard`` (pending, processing, succeeded, failed), ``alternate``
      (queued, running, completed, error), ``uppercase`` (PENDING, IN_PROGRESS, SUCCESS,
      FAILURE), ``reseller`` (IN_QUEUE, GENERATING, SUCCESS, GENERATE_FAILED), or ``mixed``
      (each task draws its words from all of them and more of each family).
    - ``envelope``: the task ``bare``, wrapped as ``{"data": task}``, as ``{"code": 200,
      "msg": "success", "data": task}`` (``code``), as the only item of a ``data`` list
      (``data_list``), or ``mixed`` per task.
    - ``id_field``: the task's id under ``id``, ``task_id`` or ``taskId`` (or ``mixed``).
    - ``url_placement``: where a finished task's image URLs sit: ``imageUrls`` (the page's
      ``data[0].imageUrls``), ``url`` (one ``data`` item per image, ``url`` a string),
      ``url_list`` (``data[0].url`` a list), ``results`` (a top-level list of URL strings),
      ``top_level`` (a top-level ``imageUrls``), ``duplicated`` (both ``data[0].imageUrls`` and
      a top-level ``imageUrls``, the same URLs twice), ``result_images``
      (``result.images[*].url``), ``response_resultUrls`` (``response.resultUrls``),
      ``output`` (a top-level ``output`` list), ``images`` (``images[*].url``, beside
      ``has_nsfw_concepts: [false]``), or ``mixed`` per task.
    - ``success_flag``: ``off``; ``with_status`` (a numeric ``successFlag``, 0 running, 1
      success, 2 failure, beside the word); ``only`` (the flag and no status word at all).
    - ``policy_rate``: the share of tasks rejected by "content moderation" (drawn before
      ``fail_rate``; the others fail at ``fail_rate``), with a reseller's word
      (``SENSITIVE_WORD_ERROR``, ...) and message.
    - ``short_delivery_rate``: the share of succeeded tasks with ``n`` > 1 that deliver fewer
      images than asked (between 1 and ``n`` - 1), while still charged for ``n``.
    - ``retry_after``: a 429's wait in a ``Retry-After`` header, in ``seconds`` or as an
      ``http-date``, or only in its body: as words (``body_text``: "resets in ~3s") or as a
      field (``body_field``: ``"retry_after": 3``).
    - ``image_origin``: image URLs on a ``separate`` origin (a second port on the same host, so
      that a client sending its Authorization header there shows in the counters) or the
      ``same`` origin as the API.
    """

    status_words: StatusWords = "standard"
    envelope: Envelope = "bare"
    id_field: IdField = "id"
    url_placement: UrlPlacement = "imageUrls"
    short_delivery_rate: float = 0.0
    retry_after: RetryAfterForm = "seconds"
    image_origin: ImageOrigin = "separate"
    success_flag: SuccessFlag = "off"
    policy_rate: float = 0.0

    def __post_init__(self) -> None:
        _check_rate("short_delivery_rate", self.short_delivery_rate)
        _check_rate("policy_rate", self.policy_rate)
        for name, value, choices in (
            ("status_words", self.status_words, STATUS_WORDS_CHOICES),
            ("envelope", self.envelope, ENVELOPE_CHOICES),
            ("id_field", self.id_field, ID_FIELD_CHOICES),
            ("url_placement", self.url_placement, URL_PLACEMENT_CHOICES),
            ("retry_after", self.retry_after, RETRY_AFTER_CHOICES),
            ("image_origin", self.image_origin, IMAGE_ORIGIN_CHOICES),
            ("success_flag", self.success_flag, SUCCESS_FLAG_CHOICES),
        ):
            if value not in choices:
                raise ValueError(f"{name} must be one of {', '.join(choices)}, not {value!r}")


@dataclass(frozen=True)
class SimulatorConfig:
    """Everything a simulator does differently from a perfect, instant, free API.

    Every random decision derives from ``seed`` and a stable key (see ``_faults``), so the same
    requests meet the same faults. ``latency`` is each task's time to finish, in seconds: a
    number, or a ``(low, high)`` range drawn per task. The ``*_rate`` fields are probabilities.
    ``rate_limit`` is API requests per second of each key, in a sliding window of one second
    (refused ones do not count; None: no limit). ``credits`` is each
    key's starting balance (None: unlimited). ``keys`` is the allow-list of bearer keys (None:
    any non-empty key). ``reset_after_create`` is the share of resets of a create request that
    drop the answer after the task was created and charged (the rest drop the request before).
    ``image_ttl`` is how long a finished task's image URLs answer before 410 (None: forever).

    Two deterministic waits let a test kill a client at a precise moment (neither blocks other
    connections; both hold only their own connection, whose later pipelined requests wait):

    - ``create_delay``: seconds between creating and charging a task and sending the answer of
      the create that made it (``counters.creates`` already counts the task during the wait).
      Replays of an ``Idempotency-Key`` and refusals answer at once.
    - ``image_stall``: seconds an image download stalls after the head (with the full
      Content-Length) and the first half of the body; ``counters.image_stalls_started`` counts
      the stall as it begins. A body cut short by ``truncate_rate`` does not stall.
    """

    seed: int = 0
    latency: Latency = 0.0
    fail_rate: float = 0.0
    error_rate: float = 0.0
    rate_limit: float | None = None
    reset_rate: float = 0.0
    truncate_rate: float = 0.0
    credits: int | None = None
    keys: frozenset[str] | None = None
    models: tuple[str, ...] = MODELS
    reset_after_create: float = 0.5
    image_ttl: float | None = None
    create_delay: float = 0.0
    image_stall: float = 0.0
    variants: Variants = field(default_factory=Variants)

    def __post_init__(self) -> None:
        for name in (
            "fail_rate",
            "error_rate",
            "reset_rate",
            "truncate_rate",
            "reset_after_create",
        ):
            _check_rate(name, getattr(self, name))
        _check_seconds("create_delay", self.create_delay)
        _check_seconds("image_stall", self.image_stall)
        low, high = self.latency_range
        if not 0.0 <= low <= high:
            raise ValueError(f"latency must be >= 0 with low <= high, not {self.latency!r}")
        if self.rate_limit is not None and self.rate_limit <= 0:
            raise ValueError(f"rate_limit must be > 0, not {self.rate_limit!r}")
        if self.credits is not None and self.credits < 0:
            raise ValueError(f"credits must be >= 0, not {self.credits!r}")
        if self.image_ttl is not None and self.image_ttl <= 0:
            raise ValueError(f"image_ttl must be > 0, not {self.image_ttl!r}")
        if self.keys is not None and not all(self.keys):
            raise ValueError("keys must be non-empty strings")

    @property
    def latency_range(self) -> tuple[float, float]:
        """The latency as a ``(low, high)`` range (equal ends for a fixed latency)."""
        if isinstance(self.latency, tuple):
            return self.latency
        return (self.latency, self.latency)


def parse_latency(text: str) -> Latency:
    """Read ``0.5`` (a fixed latency) or ``0.2-1.5`` (a range) as seconds."""
    low_text, dash, high_text = text.strip().partition("-")
    try:
        low = float(low_text)
        high = float(high_text) if dash else low
    except ValueError:
        raise ValueError(f"latency must be SECONDS or LOW-HIGH, not {text!r}") from None
    if not 0.0 <= low <= high:
        raise ValueError(f"latency must be >= 0 with LOW <= HIGH, not {text!r}")
    return (low, high) if dash else low
