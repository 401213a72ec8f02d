"""The manifest's ``delivery``: the name template and the profiles, checked against every job.

The template names a delivered file inside the export's destination: plain ``{name}``
placeholders only, each the name of a value every job has (an axis, a row key, ``id`` for
rows with ids, ``prompt`` for named prompts) or one of :data:`FIXED`. Names that two images
would share are the planner's to find (they need the expansion): ``delivery._names``.
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from seedance_batch._job_spec import JobSpec
from seedance_batch._problems import Problems

__all__ = [
    "DEFAULT_NAME",
    "FIXED",
    "FORMAT_EXTENSIONS",
    "ORIGINAL",
    "ORIGINAL_PROFILE",
    "Delivery",
    "Profile",
    "job_names",
    "read_delivery",
]

DEFAULT_NAME: Final = "{job}/{variant}-t{take}-{index}.{ext}"
#: The placeholders every image has, whatever its job.
FIXED: Final = ("job", "variant", "id8", "take", "index", "ext")
#: The profile that delivers the original bytes (provenance added): always there.
ORIGINAL: Final = "original"
#: A profile's format -> the delivered file's extension.
FORMAT_EXTENSIONS: Final[Mapping[str, str]] = {"png": "png", "jpeg": "jpg", "webp": "webp"}
DEFAULT_QUALITY: Final = 85


@dataclass(frozen=True)
class Profile:
    """One rendition: a format (None: the original bytes), a largest side and a quality."""

    name: str
    format: str | None = None
    max_size: int | None = None
    quality: int = DEFAULT_QUALITY

    @property
    def signature(self) -> str:
        """What the rendition depends on, for the record's skip decision: ``webp:1600:85``."""
        if self.format is None:
            return ORIGINAL
        return f"{self.format}:{self.max_size or ''}:{self.quality}"


ORIGINAL_PROFILE: Final = Profile(ORIGINAL)


@dataclass(frozen=True)
class Delivery:
    """The manifest's ``delivery`` (its defaults when absent); ``line`` and ``col`` say where
    the template is written (0 when it is not), for the planner's problems."""

    name: str = DEFAULT_NAME
    profiles: tuple[Profile, ...] = ()
    line: int = 0
    col: int = 0

    @property
    def written(self) -> bool:
        """The manifest writes its own template (``validate`` checks its names over the plan;
        ``export`` always does)."""
        return self.line > 0

    @property
    def placeholders(self) -> tuple[str, ...]:
        """The template's placeholders, in order, each once."""
        return tuple(dict.fromkeys(_fields(self.name) or ()))

    def profile(self, name: str) -> Profile | None:
        """The profile called ``name`` (``original`` included), or None."""
        if name == ORIGINAL:
            return ORIGINAL_PROFILE
        return next((p for p in self.profiles if p.name == name), None)

    @property
    def profile_names(self) -> tuple[str, ...]:
        """Every profile's name, ``original`` first."""
        return (ORIGINAL, *(p.name for p in self.profiles))


def _fields(template: str) -> list[str] | None:
    """The template's placeholder names, or None when it is no plain template (the message
    is :func:`_template_problem`'s)."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError:
        return None
    names = []
    for _text, name, spec, conversion in parsed:
        if name is None:
            continue
        if spec or conversion or not name.isidentifier():
            return None
        names.append(name)
    return names


def _template_problem(template: str) -> str | None:
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        return f"{exc} (write {{{{ for a brace)"
    for _text, name, spec, conversion in parsed:
        if name is None:
            continue
        shown = (
            "{"
            + name
            + (f"!{conversion}" if conversion else "")
            + (f":{spec}" if spec else "")
            + "}"
        )
        if spec or conversion or not name.isidentifier():
            return f"{shown}: only plain {{name}} placeholders are allowed"
    return None


def job_names(spec: JobSpec) -> frozenset[str]:
    """The value names a job's images have for the template: its axes, its rows' columns
    (``id`` too when they have one; those not sent as well) and ``prompt`` for named prompts."""
    names = {axis.name for axis in spec.axes}
    if spec.rows is not None:
        names.update(spec.rows.keys, spec.rows.extra_keys, ("id",) if spec.rows.has_id else ())
    if spec.prompts is not None:
        names.add("prompt")
    for entry in spec.include:
        names.update(entry.values)
    return frozenset(names)


def read_delivery(
    data: Mapping[str, Any] | None, jobs: Sequence[JobSpec], out: Problems
) -> Delivery:
    """The ``delivery`` section (schema-checked), its template checked against ``jobs``."""
    if not data:
        return Delivery()
    profiles = []
    for name, values in (data.get("profiles") or {}).items():
        if name == ORIGINAL:
            out.at_key(
                ("delivery", "profiles", name),
                f"{ORIGINAL!r} is the profile of the original bytes; name yours otherwise",
            )
            continue
        profiles.append(
            Profile(
                name,
                values["format"],
                values.get("max_size"),
                values.get("quality", DEFAULT_QUALITY),
            )
        )
    template = data.get("name")
    if template is None:
        return Delivery(profiles=tuple(profiles))
    where = ("delivery", "name")
    pos = out.owner_of(where).loaded.value_pos(where)
    delivery = Delivery(template, tuple(profiles), pos.line, pos.col)
    problem = _template_problem(template)
    if problem is not None:
        out.at_value(where, problem)
        return Delivery(profiles=tuple(profiles))
    if "ext" not in delivery.placeholders and not template.endswith((".png", ".jpg", ".webp")):
        out.warn(where, "the template has no {ext}: the names carry no file extension")
    for name in delivery.placeholders:
        if name in FIXED:
            continue
        lacking = [job.name for job in jobs if name not in job_names(job)]
        if lacking:
            some = ", ".join(repr(j) for j in lacking[:3]) + (
                " and more" if len(lacking) > 3 else ""
            )
            out.at_value(
                where,
                f"{{{name}}} has no value in job {some}; placeholders are "
                f"{', '.join(FIXED)} and the names of the job's axes or row keys",
            )
    return delivery
