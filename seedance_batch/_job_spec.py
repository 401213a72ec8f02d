"""A job of the manifest as the planner reads it: its fields, axes and combinations, each value
with the place it is written."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from seedance_batch._layout import slug_room
from seedance_batch._yaml import Pos

if TYPE_CHECKING:
    from seedance_batch._rows import Rows

__all__ = ["FIELD_AXES", "Axis", "Combination", "JobSpec", "Origin", "Scalar"]

Scalar = str | int | float
#: Axes (and row keys) that set a request field; any other axis is a variable.
FIELD_AXES = ("model", "provider", "size", "resolution", "n")


@dataclass(frozen=True)
class Origin:
    """Where a value is written: its path and position, in the manifest or in ``file`` (a rows
    file or a fragment, brought in where ``via`` says)."""

    path: str
    pos: Pos
    file: str = ""
    via: str = ""


@dataclass(frozen=True)
class Axis:
    """One axis of a job's matrix: its values, their labels for paths, and their origins."""

    name: str
    values: tuple[Scalar, ...]
    labels: tuple[str, ...]
    origins: tuple[Origin, ...]
    #: The axis is a mapping of names to values: include and exclude match its names.
    named: bool = False


@dataclass(frozen=True)
class Combination:
    """An ``include`` or ``exclude`` entry: axis (or field) values and where each is written."""

    values: Mapping[str, Scalar]
    origins: Mapping[str, Origin]
    origin: Origin


@dataclass(frozen=True)
class JobSpec:
    """One job of the manifest with its defaults applied, ready to expand."""

    index: int
    name: str
    description: str | None
    prompt: str | None
    prompts: Mapping[str, str] | None
    fields: Mapping[str, Scalar]
    field_origins: Mapping[str, Origin]
    repeat: int
    vars: Mapping[str, Scalar]
    axes: tuple[Axis, ...]
    include: tuple[Combination, ...]
    exclude: tuple[Combination, ...]
    origin: Origin
    rows: Rows | None = None

    @property
    def slug_room(self) -> int:
        """Characters a variant slug may take in this job's folder names."""
        return slug_room(self.name)

    def prompt_text(self, variant: str | None) -> str:
        """The prompt template of a named variant (or the job's single prompt)."""
        if self.prompts is not None and variant is not None:
            return self.prompts[variant]
        assert self.prompt is not None
        return self.prompt
