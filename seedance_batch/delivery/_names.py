"""Delivered files' names: the manifest's template filled for one image, kept inside DEST.

A job's values are its variant's and, for a job of ``rows``, its row's columns (those the
request never sees included), the row found by its id (or, without ids, its values) in the
variant: the job itself carries no more than its variant. Every value goes in as a slug
(``Night Cream`` -> ``night-cream``, see ``_layout``), so no value can bring a ``/``, a ``..``
or a backslash; the filled name is checked again, for the template itself may say ``../`` or
start with ``/``. Two images of a plan that would get the same name are found at ``validate``
time, assuming take 1 and one extension for all.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from seedance_batch._delivery_spec import FIXED, Delivery, job_names
from seedance_batch._errors import DeliveryError, Diagnostic
from seedance_batch._job_spec import JobSpec, Origin, Scalar
from seedance_batch._labels import variant_text
from seedance_batch._layout import readable_part
from seedance_batch._manifest import Manifest
from seedance_batch._planner import Job
from seedance_batch._rows import Row, Rows

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
class _RowIndex:
    """A job's rows by what the variant shows of each (its id, else its values' labels), and
    the columns the template names that the variant does not show: (name, extra?, place)."""

    rows: Rows
    wanted: tuple[tuple[str, bool, int], ...]
    by_key: Mapping[object, Row]

    def row_of(self, job: Job) -> Row | None:
        variant = job.variant
        if self.rows.has_id:
            return self.by_key.get(variant.get("id"))
        return self.by_key.get(tuple(variant.get(key) for key in self.rows.keys))

    def cells(self, job: Job) -> list[tuple[str, str]]:
        """The wanted columns of the job's row that are not empty, as (name, text)."""
        row = self.row_of(job)
        if row is None:
            return []
        found = []
        for name, extra, place in self.wanted:
            value: Scalar = (row.extra if extra else row.values)[place]
            if value != "":
                found.append((name, str(value)))
        return found


def _row_index(spec: JobSpec, placeholders: Sequence[str]) -> _RowIndex | None:
    """The index of ``spec``'s rows, or None when the template names none of its columns that
    the variant leaves out (then nothing is built: a template of axes costs nothing more)."""
    rows = spec.rows
    if rows is None:
        return None
    shown = set(FIXED) | (set() if rows.has_id else set(rows.keys))
    wanted = tuple(
        (name, extra, keys.index(name))
        for name in placeholders
        if name not in shown
        for extra, keys in ((False, rows.keys), (True, rows.extra_keys))
        if name in keys
    )
    if not wanted:
        return None
    by_key: dict[object, Row] = {}
    for row in rows.rows:
        key = row.id if rows.has_id else tuple(str(value) for value in row.values)
        by_key.setdefault(key, row)  # rows alike plan one job: the first row's
    return _RowIndex(rows, wanted, by_key)


@dataclass(frozen=True)
class Namer:
    """Fills the template for the images of jobs, one job's values made once (and each value's
    slug once: a 100,000-job plan has a few hundred values); ``specs``, the manifest's jobs,
    give the values of their rows' columns."""

    delivery: Delivery
    specs: Sequence[JobSpec] = ()
    _slugs: dict[tuple[str, str], str] = field(default_factory=dict, compare=False, repr=False)
    _indexes: dict[str, _RowIndex | None] = field(default_factory=dict, compare=False, repr=False)

    def _index(self, job: Job) -> _RowIndex | None:
        indexes = self._indexes
        if job.job not in indexes:
            spec = next((s for s in self.specs if s.name == job.job), None)
            placeholders = self.delivery.placeholders
            indexes[job.job] = None if spec is None else _row_index(spec, placeholders)
        return indexes[job.job]

    def _slug(self, name: str, label: str) -> str:
        slug = self._slugs.get((name, label))
        if slug is None:
            slug = self._slugs[(name, label)] = readable_part(label, name)
        return slug

    def blank(self, job: Job, name: str) -> Origin | None:
        """Where the empty cell is that leaves ``job`` without a value for ``name``, if one is."""
        index = self._index(job)
        row = index.row_of(job) if index is not None else None
        return None if row is None else dict(row.blanks).get(name)

    def values(self, job: Job) -> dict[str, str]:
        """The job's values as slugs (its row's columns, then its variant's), with ``job``,
        ``variant`` and ``id8``; an empty cell gives no value."""
        index = self._index(job)
        values = {} if index is None else {n: self._slug(n, t) for n, t in index.cells(job)}
        for name, label in job.variant.items():
            values[name] = self._slug(name, label)
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
    """The template's problems over a plan, at its line: a value a job lacks (an empty cell of
    its row, an ``include`` without it), names outside DEST and names two images would share
    (take 1, one extension), the first few of each."""
    delivery = manifest.delivery
    namer = Namer(delivery, manifest.jobs)
    named = {spec.name: job_names(spec) for spec in manifest.jobs}
    seen: dict[str, tuple[Job, int]] = {}
    problems: list[str] = []
    for job in jobs:
        if len(problems) >= 3:
            break
        try:
            values = namer.values(job)
            names = [namer.fill(values, 1, index, "ext") for index in range(1, job.images + 1)]
        except KeyError as exc:
            if exc.args[0] in named.get(job.job, ()):  # else the manifest's check names it
                problems.append(_lacking(namer, job, exc.args[0], manifest.file))
            continue
        for index, name in enumerate(names, start=1):
            first = seen.setdefault(name, (job, index))
            if first != (job, index):
                problems.append(
                    f"{_image(*first)} and {_image(job, index)} would both be named {name!r}; "
                    "add placeholders that tell them apart ({variant}, {id8}, {index})"
                )
            elif (problem := check_name(name)) is not None:
                problems.append(problem)
    line, col = (delivery.line, delivery.col) if delivery.line else (0, 0)
    return [Diagnostic(manifest.file, line, col, _WHERE, p) for p in dict.fromkeys(problems)]


def _job_text(job: Job) -> str:
    variant = variant_text(job.variant, empty="")
    return f"job {job.job!r}" + (f" ({variant})" if variant else "")


def _image(job: Job, index: int) -> str:
    return f"{_job_text(job)} image {index}"


def _lacking(namer: Namer, job: Job, name: str, manifest_file: str) -> str:
    """Why ``job`` has no value for ``{name}``: the empty cell of its row, or no such value."""
    blank = namer.blank(job, name)
    what = _job_text(job)
    if blank is None:
        return f"{{{name}}} has no value for {what}"
    cell = f"{blank.file or manifest_file}:{blank.pos.line}:{blank.pos.col}"
    return (
        f"{{{name}}} is empty for {what}: the cell {blank.path} at {cell}; "
        "a delivered name needs every value it names"
    )
