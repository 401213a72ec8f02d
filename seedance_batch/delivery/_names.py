"""Delivered files' names: the manifest's template filled for one image, kept inside DEST.

Every value goes in as a slug (``Night Cream`` -> ``night-cream``, see ``_layout``), so no
value can bring a ``/``, a ``..`` or a backslash; the filled name is checked again, for the
template itself may say ``../`` or start with ``/``. Two images of a plan that would get the
same name are found at ``validate`` time, assuming take 1 and one extension for all.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from seedance_batch._delivery_spec import Delivery
from seedance_batch._errors import DeliveryError, Diagnostic
from seedance_batch._labels import variant_text
from seedance_batch._layout import readable_part
from seedance_batch._manifest import Manifest
from seedance_batch._planner import Job

__all__ = ["Namer", "check_name", "name_problems", "variant_slug_of"]

_WHERE = "delivery.name"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: Names are at most this long (S3 keys allow 1024 bytes; most file systems 255 a part).
MAX_NAME = 400
_MAX_PART = 255


def variant_slug_of(job: Job) -> str:
    """The job's variant as its folder names it (``serum_1x1``, ``front_r2``; empty for a job
    without values): the folder's last part without the id."""
    folder = job.output.rsplit("/", 1)[-1]
    return folder[: -len(job.id[:8]) - 1] if len(folder) > 8 else ""


def check_name(name: str) -> str | None:
    """Why ``name`` is no relative ``/``-separated name inside a destination, or None."""
    if not name:
        return "the name is empty"
    if name.startswith("/") or "\\" in name or _CONTROL.search(name):
        return f"{name!r} is no relative name (a leading '/', a backslash or a control character)"
    parts = name.split("/")
    if any(p in ("", ".", "..") for p in parts):
        return f"{name!r} has an empty, '.' or '..' part: it would leave its folder"
    if len(name.encode()) > MAX_NAME or any(len(p.encode()) > _MAX_PART for p in parts):
        return f"{name!r} is too long ({MAX_NAME} bytes at most, {_MAX_PART} a part)"
    if name in ("delivery.json", "delivery.csv"):
        return f"{name!r} is the export's own record"
    return None


@dataclass(frozen=True)
class Namer:
    """Fills the template for the images of jobs, one job's values made once (and each value's
    slug once: a 100,000-job plan has a few hundred values)."""

    delivery: Delivery
    _slugs: dict[tuple[str, str], str] = field(default_factory=dict, compare=False, repr=False)

    def values(self, job: Job) -> dict[str, str]:
        """The job's values as slugs, with ``job``, ``variant`` and ``id8``."""
        slugs = self._slugs
        values = {}
        for name, label in job.variant.items():
            slug = slugs.get((name, label))
            if slug is None:
                slug = slugs[(name, label)] = readable_part(str(label), name)
            values[name] = slug
        id8 = job.id[:8]
        values.update(job=job.job, variant=variant_slug_of(job) or id8, id8=id8)
        return values

    def fill(self, values: dict[str, str], take: int, index: int, ext: str) -> str:
        """The name of one image (unchecked); KeyError names a placeholder with no value.
        ``values`` (the job's) is given ``take``, ``index`` and ``ext``."""
        values["take"], values["index"], values["ext"] = str(take), str(index), ext
        return self.delivery.name.format_map(values)

    def name(
        self, job: Job, take: int, index: int, ext: str, values: dict[str, str] | None = None
    ) -> str:
        """The checked name of image ``index`` of ``take`` of ``job`` (``values``: the job's,
        when they are made already)."""
        try:
            name = self.fill(self.values(job) if values is None else values, take, index, ext)
        except KeyError as exc:
            raise DeliveryError(
                f"delivery.name: {{{exc.args[0]}}} has no value for job {job.job!r}"
            ) from None
        problem = check_name(name)
        if problem is not None:
            raise DeliveryError(f"delivery.name: {problem}")
        return name


def name_problems(manifest: Manifest, jobs: Iterable[Job]) -> list[Diagnostic]:
    """The template's problems over a plan, at its line: names outside DEST and names two
    images would share (take 1, one extension), the first few of each."""
    delivery = manifest.delivery
    namer = Namer(delivery)
    seen: dict[str, tuple[Job, int]] = {}
    problems: list[str] = []
    for job in jobs:
        try:
            values = namer.values(job)
            names = [namer.fill(values, 1, index, "ext") for index in range(1, job.images + 1)]
        except KeyError:
            continue  # the manifest's check names the placeholder
        for index, name in enumerate(names, start=1):
            first = seen.setdefault(name, (job, index))
            if first != (job, index):
                problems.append(
                    f"{_image(*first)} and {_image(job, index)} would both be named {name!r}; "
                    "add placeholders that tell them apart ({variant}, {id8}, {index})"
                )
            elif (problem := check_name(name)) is not None:
                problems.append(problem)
        if len(problems) >= 3:
            break
    line, col = (delivery.line, delivery.col) if delivery.line else (0, 0)
    return [Diagnostic(manifest.file, line, col, _WHERE, p) for p in dict.fromkeys(problems)]


def _image(job: Job, index: int) -> str:
    variant = variant_text(job.variant, empty="")
    return f"job {job.job!r}" + (f" ({variant})" if variant else "") + f" image {index}"
