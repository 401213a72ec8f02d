"""The lockfile's records: frozen values for a job's entry, its images, spend and lock holder."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from seedance_batch._states import State

__all__ = ["Holder", "ImageRecord", "JobRecord", "JobState", "PlannedJob", "Spent"]


class _Charged(Protocol):
    @property
    def credits_charged(self) -> int: ...
    @property
    def possible_double_charges(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Spent:
    """What a campaign has been charged, by everything its lockfile ever recorded: presumed
    credits (failed tasks and possible double charges included) and possible double charges.
    Only grows: a prune removes entries, never what they cost."""

    credits: int = 0
    possible_double_charges: int = 0

    def plus_rise(self, previous: _Charged | None, record: _Charged) -> Spent:
        """This, plus what ``record`` adds over ``previous`` (a fall adds nothing)."""
        credits = record.credits_charged - (previous.credits_charged if previous else 0)
        doubles = record.possible_double_charges - (
            previous.possible_double_charges if previous else 0
        )
        if credits <= 0 and doubles <= 0:
            return self
        return Spent(
            credits=self.credits + max(credits, 0),
            possible_double_charges=self.possible_double_charges + max(doubles, 0),
        )

    def at_least(self, other: Spent) -> Spent:
        """The larger of the two, field by field."""
        if other.credits <= self.credits and other.possible_double_charges <= (
            self.possible_double_charges
        ):
            return self
        return Spent(
            credits=max(self.credits, other.credits),
            possible_double_charges=max(
                self.possible_double_charges, other.possible_double_charges
            ),
        )

    def to_json(self) -> dict[str, int]:
        """``{"credits": N, "possible_double_charges": N}``."""
        return {"credits": self.credits, "possible_double_charges": self.possible_double_charges}

    @classmethod
    def over(cls, records: Iterable[_Charged]) -> Spent:
        """The sum over ``records`` (for a lockfile written before ``spent`` existed)."""
        credits = doubles = 0
        for record in records:
            credits += record.credits_charged
            doubles += record.possible_double_charges
        return cls(credits=credits, possible_double_charges=doubles)


@dataclass(frozen=True, slots=True)
class Holder:
    """Who holds a lockfile's run lock: pid, host, since when (UTC) and the command line
    (redacted)."""

    pid: int
    host: str
    since: str
    command: str


@dataclass(frozen=True, slots=True)
class ImageRecord:
    """One downloaded image: its URL, where it was saved (relative to the output folder, with
    ``/``), its SHA-256 (lowercase hex) and its size in bytes."""

    url: str
    path: str
    sha256: str
    bytes: int


@dataclass(frozen=True, slots=True)
class JobRecord:
    """One job's entry in the lockfile. Immutable: make the next state with :meth:`replace`.

    ``variant`` and ``request`` are stored as given (and as loaded); do not mutate them.
    ``credits_charged`` and ``possible_double_charges`` are additions to the contract's fields:
    credits presumed charged for the job over all its tasks (a failed task counts), and creates
    sent again after an attempt that may have reached the API. ``task_missing`` counts the runs
    in which a poll of its task answered 404 (left out of the JSON when 0). ``other_tasks``
    are the job's task ids that other lockfiles made and ``merge`` folded in (a job two
    shards both submitted: each task was charged; left out when empty). The create's
    Idempotency-Key is the lockfile's: :meth:`Lockfile.idempotency_key`.
    """

    id: str
    job: str
    variant: Mapping[str, str]
    repeat: int
    request: Mapping[str, Any]
    state: State = "new"
    task_id: str | None = None
    attempts: int = 0
    submitted_at: str | None = None
    finished_at: str | None = None
    images: tuple[ImageRecord, ...] = ()
    error: str | None = None
    credits_charged: int = 0
    possible_double_charges: int = 0
    task_missing: int = 0
    other_tasks: tuple[str, ...] = ()

    def replace(self, **changes: Any) -> JobRecord:
        """A copy with ``changes`` applied (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        """The entry as written under ``jobs[id]``, in the file's field order (no ``id``)."""
        variant, request = self.variant, self.request
        entry: dict[str, Any] = {
            "job": self.job,
            "variant": variant if type(variant) is dict else dict(variant),
            "repeat": self.repeat,
            "request": request if type(request) is dict else dict(request),
            "state": self.state,
            "task_id": self.task_id,
            "attempts": self.attempts,
            "submitted_at": self.submitted_at,
            "finished_at": self.finished_at,
            "images": [
                {"url": i.url, "path": i.path, "sha256": i.sha256, "bytes": i.bytes}
                for i in self.images
            ],
            "error": self.error,
            "credits_charged": self.credits_charged,
            "possible_double_charges": self.possible_double_charges,
        }
        if self.task_missing:
            entry["task_missing"] = self.task_missing
        if self.other_tasks:
            entry["other_tasks"] = list(self.other_tasks)
        return entry

    @classmethod
    def from_json(cls, job_id: str, entry: Mapping[str, Any]) -> JobRecord:
        """Build a record from a lockfile entry (already checked: see :func:`_job_problem`).

        A ``submitting`` entry with a task id reads as ``submitted``: the API answered, so the
        task is polled, never submitted again."""
        task_id = entry["task_id"]
        state = entry["state"]
        return cls(
            id=job_id,
            job=entry["job"],
            variant=entry["variant"],
            repeat=entry["repeat"],
            request=entry["request"],
            state="submitted" if state == "submitting" and task_id is not None else state,
            task_id=task_id,
            attempts=entry["attempts"],
            submitted_at=entry["submitted_at"],
            finished_at=entry["finished_at"],
            images=tuple(
                ImageRecord(url=i["url"], path=i["path"], sha256=i["sha256"], bytes=i["bytes"])
                for i in entry["images"]
            ),
            error=entry["error"],
            credits_charged=entry.get("credits_charged", 0),
            possible_double_charges=entry.get("possible_double_charges", 0),
            task_missing=entry.get("task_missing", 0),
            other_tasks=tuple(entry.get("other_tasks", ())),
        )


@dataclass(frozen=True, slots=True)
class JobState:
    """What ``plan`` reads of one entry: its state and what it was charged."""

    state: State
    credits_charged: int = 0
    possible_double_charges: int = 0


class PlannedJob(Protocol):
    """What :meth:`Lockfile.adopt_plan` needs of a planned job (the planner's ``Job`` fits)."""

    @property
    def id(self) -> str: ...
    @property
    def job(self) -> str: ...
    @property
    def variant(self) -> Mapping[str, str]: ...
    @property
    def repeat(self) -> int: ...
    @property
    def request(self) -> Mapping[str, Any]: ...
