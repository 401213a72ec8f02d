"""Where files land: a function of the manifest alone (contract, section 6).

``<out>/<job>/<variant-slug>-<id8>/<k>.<ext>``, every path under 180 characters from ``<out>``,
and nothing ever outside ``<out>``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

from seedance_batch._errors import ConfigurationError

__all__ = [
    "GALLERY_NAME",
    "IMAGE_EXTENSIONS",
    "MAX_RELATIVE_PATH",
    "RESULTS_NAME",
    "image_relpath",
    "job_dir",
    "resolve_inside",
    "slug_part",
    "slug_room",
    "variant_slug",
]

#: The run's outputs in ``<out>``: one line per image, and the contact sheet.
RESULTS_NAME = "results.jsonl"
GALLERY_NAME = "index.html"
MAX_RELATIVE_PATH = 179  # "under 180 characters"
IMAGE_EXTENSIONS = ("png", "jpg", "webp")
_LONGEST_FILE = len("/4.webp")  # k is 1, 2 or 4
_UNSAFE = re.compile(r"[^a-z0-9._-]+")
_REPEATS = re.compile(r"-{2,}")


def slug_part(value: str) -> str:
    """One value as a slug part: ``1:1`` -> ``1x1``, ``Night Cream`` -> ``night-cream``."""
    text = value.lower().replace(":", "x")
    text = _UNSAFE.sub("-", text)
    text = _REPEATS.sub("-", text)
    return text.strip("-._")


def variant_slug(values: Iterable[str], room: int = MAX_RELATIVE_PATH) -> str:
    """The combination's values in axis order, lowercased and reduced to ``[a-z0-9._-]``.

    ``1:1`` becomes ``1x1``, runs of other characters become ``-``, and the values are joined
    with ``_``; the result is cut to ``room`` characters.
    """
    parts = [p for p in (slug_part(v) for v in values) if p]
    slug = "_".join(parts)
    if len(slug) > room:
        slug = slug[:room].rstrip("-._")
    return slug


def slug_room(job: str) -> int:
    """How long a variant slug may be in a folder of ``job``: every path stays under 180."""
    return MAX_RELATIVE_PATH - len(job) - len("/") - len("-") - 8 - _LONGEST_FILE


def job_dir(job: str, slug: str, job_id: str) -> str:
    """The folder of one job, relative to ``<out>``: ``<job>/<slug>-<id8>``, cut to fit."""
    id8 = job_id[:8]
    room = slug_room(job)
    if len(slug) > room:
        slug = slug[:room].rstrip("-._")
    return f"{job}/{slug}-{id8}" if slug else f"{job}/{id8}"


def image_relpath(directory: str, index: int, ext: str) -> str:
    """``<dir>/<k>.<ext>`` for image ``index`` (1-based)."""
    if ext not in IMAGE_EXTENSIONS:
        raise ValueError(f"unknown image extension {ext!r}")
    return f"{directory}/{index}.{ext}"


def resolve_inside(out: Path, relpath: str) -> Path:
    """``out / relpath``, refusing any path that would land outside ``out`` (symlinks included)."""
    root = Path(os.path.realpath(out))
    target = Path(os.path.realpath(root / relpath))
    if target != root and root not in target.parents:
        raise ConfigurationError(f"refusing to write outside the output folder: {relpath}")
    return target
