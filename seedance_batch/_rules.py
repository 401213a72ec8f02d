"""The API's facts, in one place: models, sizes, presets, prices, status words, request mapping.

Everything here comes from the provider's page (``shared/seed/image-generation-api.txt``) and the
contract's section 1. Nothing here knows YAML, files or HTTP.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final, Literal

__all__ = [
    "COMMON_1K_SIZES",
    "CREDITS_PER_IMAGE",
    "DEFAULT_MODEL",
    "DEFAULT_RESOLUTION",
    "FAILURE_STEMS",
    "FAILURE_WORDS",
    "KNOWN_MODELS",
    "N_VALUES",
    "POLICY_STEMS",
    "PRESETS_4K",
    "REQUEST_FIELDS",
    "RESOLUTIONS",
    "SUCCESS_STEMS",
    "SUCCESS_WORDS",
    "SizeCheck",
    "check_size",
    "classify_flag",
    "classify_status",
    "credits_for",
    "names_policy",
    "normalize_resolution",
    "request_body",
]

DEFAULT_MODEL: Final = "gpt-image-2-all"
KNOWN_MODELS: Final = ("gpt-image-2-all", "gpt-image-1.5-all")
N_VALUES: Final = (1, 2, 4)
RESOLUTIONS: Final = ("1k", "4k")
DEFAULT_RESOLUTION: Final = "1k"

#: The 1K presets the page lists, with the pixel size each produces.
COMMON_1K_SIZES: Final[Mapping[str, str]] = {
    "1:1": "1024x1024",
    "4:5": "1024x1280",
    "16:9": "1536x864",
    "9:16": "864x1536",
}
#: The fifteen aspect presets accepted at 4K, in the page's order.
PRESETS_4K: Final = (
    "1:1", "3:2", "2:3", "4:3", "3:4", "5:4", "4:5", "16:9", "9:16",
    "2:1", "1:2", "3:1", "1:3", "21:9", "9:21",
)  # fmt: skip
CREDITS_PER_IMAGE: Final[Mapping[str, int]] = {"1k": 2, "4k": 4}

#: Fields of a job that map to the request body (``prompt`` included).
REQUEST_FIELDS: Final = ("prompt", "model", "provider", "n", "size", "resolution")

#: Status words are read by family (contract, section 1): a word, lowercased without ``_``,
#: ``-`` and spaces, that holds one of these stems ended the task so.
SUCCESS_STEMS: Final = ("succe", "complet", "done", "finish")
FAILURE_STEMS: Final = (
    "fail", "error", "reject", "cancel", "abort", "expire", "refus",
    "block", "violat", "sensitive", "moderat", "nsfw", "unsafe",
)  # fmt: skip
#: A failure whose word or message holds one of these names a content policy: it is final.
POLICY_STEMS: Final = (
    "polic", "moderat", "safety", "unsafe", "sensitive", "nsfw", "violat", "block",
)  # fmt: skip
#: Words seen from resellers, for tests and the simulator; any word of the family counts.
SUCCESS_WORDS: Final = frozenset(
    {"succeeded", "succeed", "success", "completed", "complete", "done", "finished"}
)
FAILURE_WORDS: Final = frozenset(
    {"failed", "fail", "failure", "error", "cancelled", "canceled"}
    | {"aborted", "expired", "rejected", "GENERATE_FAILED", "SENSITIVE_WORD_ERROR"}
    | {"CREATE_TASK_FAILED", "refused", "blocked", "content_violation", "moderated"}
)

_RATIO = re.compile(r"^([1-9][0-9]{0,4}):([1-9][0-9]{0,4})$")
_PIXELS = re.compile(r"^([1-9][0-9]{0,5})x([1-9][0-9]{0,5})$")

Outcome = Literal["ok", "warning", "error"]


def normalize_resolution(value: str) -> str | None:
    """Return ``1k`` or ``4k`` for a resolution in any case, or None if it is not one."""
    lowered = value.lower()
    return lowered if lowered in RESOLUTIONS else None


class SizeCheck:
    """What the API's page says of a size at a resolution: ``outcome`` and a message."""

    __slots__ = ("message", "outcome")

    def __init__(self, outcome: Outcome, message: str = "") -> None:
        self.outcome: Outcome = outcome
        self.message = message


def check_size(size: str, resolution: str) -> SizeCheck:
    """Check ``size`` against the page's rules at ``resolution`` (``1k`` or ``4k``)."""
    if resolution == "4k":
        if size in PRESETS_4K:
            return SizeCheck("ok")
        if _PIXELS.match(size):
            return SizeCheck(
                "error",
                f"pixel size {size!r} is not allowed at 4k; use a preset: {', '.join(PRESETS_4K)}",
            )
        return SizeCheck(
            "error", f"{size!r} is not a 4k preset; use one of {', '.join(PRESETS_4K)}"
        )
    if size in COMMON_1K_SIZES or size in COMMON_1K_SIZES.values():
        return SizeCheck("ok")
    if _RATIO.match(size):
        return SizeCheck(
            "warning",
            f"{size!r} is not a common 1k preset ({', '.join(COMMON_1K_SIZES)}); "
            "the API may not support it",
        )
    if _PIXELS.match(size):
        return SizeCheck(
            "warning",
            f"{size!r} is not a pixel size the page lists "
            f"({', '.join(COMMON_1K_SIZES.values())}); the API may not support it",
        )
    return SizeCheck("error", f"{size!r} is not a size: use W:H (such as 16:9) or WxH (1024x1024)")


def credits_for(n: int, resolution: str) -> int:
    """Credits charged for ``n`` images at ``resolution`` (``1k`` or ``4k``)."""
    return n * CREDITS_PER_IMAGE[resolution]


def request_body(fields: Mapping[str, object]) -> dict[str, object]:
    """Map a job's set fields to the exact request body (contract, section 2).

    ``fields`` holds only what the manifest set (``prompt`` always). At 1K the body carries
    ``size`` (and ``resolution: "1k"`` only if set); at 4K ``resolution: "4k"`` and
    ``imageSizePreset``, never ``size``. Unset fields are not sent.
    """
    body: dict[str, object] = {"prompt": fields["prompt"]}
    for key in ("model", "provider", "n"):
        if key in fields:
            body[key] = fields[key]
    resolution = fields.get("resolution")
    resolution = resolution.lower() if isinstance(resolution, str) else None
    if resolution == "4k":
        body["resolution"] = "4k"
        if "size" in fields:
            body["imageSizePreset"] = fields["size"]
    else:
        if resolution is not None:
            body["resolution"] = resolution
        if "size" in fields:
            body["size"] = fields["size"]
    return body


TaskOutcome = Literal["succeeded", "failed", "running"]


def _folded(word: str) -> str:
    return "".join(ch for ch in word.lower() if ch not in "_- \t")


def classify_status(word: object) -> TaskOutcome:
    """Classify a task's status word by family (any case, ``_``, ``-`` and spaces ignored).

    A failure stem wins over a success stem (``FAILED_TO_COMPLETE`` failed); a word of neither
    family, or no word, means still running.
    """
    if not isinstance(word, str):
        return "running"
    folded = _folded(word)
    if any(stem in folded for stem in FAILURE_STEMS):
        return "failed"
    if any(stem in folded for stem in SUCCESS_STEMS):
        return "succeeded"
    return "running"


def classify_flag(flag: object) -> TaskOutcome | None:
    """A numeric ``successFlag`` (0 running, 1 success, 2 or more failure), or None."""
    if isinstance(flag, str) and flag.strip().isdigit():
        flag = int(flag.strip())
    if not isinstance(flag, int) or isinstance(flag, bool) or flag < 0:
        return None
    return "running" if flag == 0 else "succeeded" if flag == 1 else "failed"


def names_policy(*texts: str | None) -> bool:
    """Whether a failure's word or message names a content policy, moderation or safety."""
    return any(
        stem in _folded(text) or stem in text.lower()
        for text in texts
        if text
        for stem in POLICY_STEMS
    )
