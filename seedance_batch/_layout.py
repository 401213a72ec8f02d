"""Where files land: a function of the manifest alone, readable, never outside ``<out>``.

``<out>/<job>/<variant-slug>-<id8>/<job>-<variant-slug>-<id8>[-t<take>]-<k>.<ext>`` (contract,
section 6): the folder groups a variant's takes and images, and the file name alone says which
campaign job, variant and image it is. Every path stays under 180 characters from ``<out>``.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from anyascii import anyascii

from seedance_batch._errors import ConfigurationError

__all__ = [
    "GALLERY_NAME",
    "IMAGE_EXTENSIONS",
    "MAX_RELATIVE_PATH",
    "RESULTS_NAME",
    "fit_slug",
    "image_relpath",
    "job_dir",
    "readable_part",
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
#: What a file name adds to its folder's name: ``/``, ``-t<take>`` (takes up to 99) and
#: ``-<k>.<ext>``, the longest being ``-t99-4.webp``.
_FILE_SUFFIX = len("/") + len("-t99-4.webp")
#: The longest folder, ``<job>/<slug>-<id8>``: it appears twice in an image's path (as the
#: folder, and with ``/`` as ``-`` as the file's name).
_LONGEST_FOLDER = (MAX_RELATIVE_PATH - _FILE_SUFFIX) // 2
_UNSAFE = re.compile(r"[^a-z0-9.-]+")
_REPEATS = re.compile(r"-{2,}")


def _ascii(value: str) -> str:
    """``value`` in ASCII: letters transliterated (``è`` -> ``e``, ``北京`` -> ``Bei-Jing``),
    each syllable of a caseless script set apart, an emoji by its name (``🌸`` -> ``cherry
    blossom``)."""
    if value.isascii():
        return value
    out = []
    for char in value:
        if char.isascii():
            out.append(char)
            continue
        text = anyascii(char)
        if text.startswith(":") and text.endswith(":") and len(text) > 2:  # an emoji's name
            out.append(f" {text[1:-1].replace('_', ' ')} ")
        elif text[:1].isupper() and not char.isupper():  # a syllable: CJK, Hangul, kana
            out.append(f" {text} ")
        else:
            out.append(text)
    return "".join(out)


def slug_part(value: str) -> str:
    """One value as a slug part: ``1:1`` -> ``1x1``, ``Night Cream`` -> ``night-cream``,
    ``Crème brûlée`` -> ``creme-brulee``; empty when nothing readable is left (``!!!``)."""
    text = _ascii(value).lower().replace(":", "x")
    text = _UNSAFE.sub("-", text)
    text = _REPEATS.sub("-", text)
    return text.strip("-.")


def readable_part(label: str, name: str) -> str:
    """``label``'s slug part; for a value with nothing readable left (``!!!``), the axis's name
    and four hex digits of the value, so that it still names the variant and differs from the
    other values: ``product-3f2a``."""
    part = slug_part(label)
    if part or not label:
        return part
    digest = hashlib.sha256(label.encode("utf-8", "surrogatepass")).hexdigest()[:4]
    return f"{slug_part(name) or 'value'}-{digest}"


def fit_slug(parts: Sequence[str], room: int) -> str:
    """``parts`` joined with ``_`` in at most ``room`` characters, each part cut fairly (the
    longest first), so that variants that differ in any part still differ once cut."""
    parts = [p for p in parts if p]
    if not parts or room <= 0:
        return ""
    lengths = [len(p) for p in parts]
    budget = room - (len(parts) - 1)
    while sum(lengths) > budget and max(lengths) > 1:
        longest = lengths.index(max(lengths))
        lengths[longest] -= 1
    if sum(lengths) > budget:  # one character each is still too long: keep what fits
        return "_".join(parts)[:room].rstrip("-._")
    cut = [p[:n].rstrip("-.") or p[:1] for p, n in zip(parts, lengths, strict=True)]
    return "_".join(cut)


def variant_slug(values: Iterable[str], room: int = MAX_RELATIVE_PATH) -> str:
    """The combination's values in axis order as slug parts joined with ``_``, fit to ``room``."""
    return fit_slug([slug_part(v) for v in values], room)


def slug_room(job: str) -> int:
    """How long a variant slug may be in a folder of ``job``: every path stays under 180."""
    return _LONGEST_FOLDER - len(job) - len("/") - len("-") - 8


def job_dir(job: str, slug: str, job_id: str) -> str:
    """The folder of one job, relative to ``<out>``: ``<job>/<slug>-<id8>``, cut to fit."""
    id8 = job_id[:8]
    room = slug_room(job)
    if len(slug) > room:
        slug = slug[:room].rstrip("-._")
    return f"{job}/{slug}-{id8}" if slug else f"{job}/{id8}"


def image_relpath(directory: str, index: int, ext: str, take: int = 1) -> str:
    """Image ``index`` (1-based) of ``take`` in ``directory``: ``hero/serum-3f9a2c1b`` ->
    ``hero/serum-3f9a2c1b/hero-serum-3f9a2c1b-1.png``, ``-t2-1.png`` for a second take."""
    if ext not in IMAGE_EXTENSIONS:
        raise ValueError(f"unknown image extension {ext!r}")
    name = directory.replace("/", "-")
    take_part = f"-t{take}" if take > 1 else ""
    return f"{directory}/{name}{take_part}-{index}.{ext}"


def resolve_inside(out: Path, relpath: str) -> Path:
    """``out / relpath``, refusing any path that would land outside ``out`` (symlinks included)."""
    root = Path(os.path.realpath(out))
    target = Path(os.path.realpath(root / relpath))
    if target != root and root not in target.parents:
        raise ConfigurationError(f"refusing to write outside the output folder: {relpath}")
    return target
