"""The lockfile's records: frozen values for a job's entry, its images, spend and lock holder."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from seedance_batch._states import State

__all__ = ["Holder", "ImageRecord", "JobRecord", "JobState", "PlannedJob", "Spent", "TakeRecord"]


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

    def to_json(self) -> dict[str, Any]:
        """``{"url", "path", "sha256", "bytes"}``, as written in the lockfile."""
        return {"url": self.url, "path": self.path, "sha256": self.sha256, "bytes": self.bytes}

    @classmethod
    def from_json(cls, entry: Mapping[str, Any]) -> ImageRecord:
        """Build an image from its (checked) lockfile entry."""
        return cls(
            url=entry["url"], path=entry["path"], sha256=entry["sha256"], bytes=entry["bytes"]
        )


@dataclass(frozen=True, slots=True)
class TakeRecord:
    """An earlier take of a rerolled job (contract, section 10): its number (from 1), how far it
    got and the images it delivered. The job's own fields are its latest take."""

    take: int
    task_id: str | None
    state: State
    attempts: int
    submitted_at: str | None
    finished_at: str | None
    images: tuple[ImageRecord, ...] = ()
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The take as written in its job's ``takes``, in the file's field order."""
        return {
            "take": self.take,
            "task_id": self.task_id,
            "state": self.state,
            "attempts": self.attempts,
            "submitted_at": self.submitted_at,
            "finished_at": self.finished_at,
            "images": [image.to_json() for image in self.images],
            "error": self.error,
        }

    @classmethod
    def from_json(cls, entry: Mapping[str, Any]) -> TakeRecord:
        """Build a take from its (checked) lockfile entry."""
        return cls(
            take=entry["take"],
            task_id=entry["task_id"],
            state=entry["state"],
            attempts=entry["attempts"],
            submitted_at=entry["submitted_at"],
            finished_at=entry["finished_at"],
            images=tuple(ImageRecord.from_json(i) for i in entry["images"]),
            error=entry["error"],
        )


@dataclass(frozen=True, slots=True)
class JobRecord:
    """One job's entry in the lockfile. Immutable: make the next state with :meth:`replace`.

    ``variant`` and ``request`` are stored as given (and as loaded); do not mutate them.
    ``credits_charged`` and ``possible_double_charges`` are additions to the contract's fields:
    credits presumed charged for the job over all its tasks (a failed task counts), and creates
    sent again after an attempt that may have reached the API. ``task_missing`` counts the runs
    in which a poll of its task answered 404 (left out of the JSON when 0). ``other_tasks``
    are the job's task ids that other lockfiles made and ``merge`` folded in (a job two
    shards both submitted: each task was charged; left out when empty). ``takes`` holds
    the earlier takes of a rerolled job, earliest first (left out of the JSON when empty); the
    job's own fields are its latest take, number :attr:`take`. The create's Idempotency-Key is
    the lockfile's (:meth:`Lockfile.idempotency_key`), made with the lockfile's nonce unless
    ``nonce`` names another: the nonce of the lockfile whose run sent the job's current create
    (a shard's, folded in by ``merge``, or the campaign's, carried into a shard's lockfile), so
    that the create is sent again under the key it was sent with (left out when None).
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
    takes: tuple[TakeRecord, ...] = ()
    nonce: str | None = None

    @property
    def take(self) -> int:
        """The number of the job's current (latest) take: 1 until it is rerolled."""
        return len(self.takes) + 1

    def all_images(self) -> tuple[tuple[int, ImageRecord], ...]:
        """Every take's images as (take number, image), earliest take first."""
        if not self.takes:
            return tuple((1, image) for image in self.images)
        found = [(take.take, image) for take in self.takes for image in take.images]
        current = self.take
        found.extend((current, image) for image in self.images)
        return tuple(found)

    def rerolled(self) -> JobRecord:
        """The job with its current take moved into :attr:`takes` and a new take begun: ``new``,
        no attempts, task, images or error (its charges are kept: they only grow)."""
        done = TakeRecord(
            take=self.take,
            task_id=self.task_id,
            state=self.state,
            attempts=self.attempts,
            submitted_at=self.submitted_at,
            finished_at=self.finished_at,
            images=self.images,
            error=self.error,
        )
        return dataclasses.replace(
            self,
            takes=(*self.takes, done),
            state="new",
            task_id=None,
            attempts=0,
            submitted_at=None,
            finished_at=None,
            images=(),
            error=None,
            task_missing=0,
            nonce=None,
        )

    def replace(self, **changes: Any) -> JobRecord:
        """A copy with ``changes`` applied (as ``dataclasses.replace``, a third of its CPU: a
        run makes five of these per job)."""
        values = {name: getattr(self, name) for name in _JOB_FIELDS}
        if not changes.keys() <= values.keys():
            unknown = ", ".join(sorted(changes.keys() - values.keys()))
            raise TypeError(f"JobRecord has no field {unknown}")
        values.update(changes)
        return JobRecord(**values)

    def to_json(self) -> dict[str, Any]:
        """The entry as written under ``jobs[id]``, in the file's field order (no ``id``)."""
        entry = self.plan_json()
        entry.update(self.progress_json())
        return entry

    def plan_json(self) -> dict[str, Any]:
        """The entry's first fields, the plan's (job, variant, repeat, request), as written."""
        variant, request = self.variant, self.request
        return {
            "job": self.job,
            "variant": variant if type(variant) is dict else dict(variant),
            "repeat": self.repeat,
            "request": request if type(request) is dict else dict(request),
        }

    def same_plan(self, other: JobRecord) -> bool:
        """``other`` is this job with the very same plan fields (the objects, not copies): what
        was checked and encoded of them holds for both."""
        return (
            other.request is self.request
            and other.variant is self.variant
            and other.job == self.job
            and other.repeat == self.repeat
        )

    def progress_json(self) -> dict[str, Any]:
        """The entry's other fields, how far the job got, as written after :meth:`plan_json`."""
        entry: dict[str, Any] = {
            "state": self.state,
            "task_id": self.task_id,
            "attempts": self.attempts,
            "submitted_at": self.submitted_at,
            "finished_at": self.finished_at,
            "images": [image.to_json() for image in self.images],
            "error": self.error,
            "credits_charged": self.credits_charged,
            "possible_double_charges": self.possible_double_charges,
        }
        if self.task_missing:
            entry["task_missing"] = self.task_missing
        if self.other_tasks:
            entry["other_tasks"] = list(self.other_tasks)
        if self.takes:
            entry["takes"] = [take.to_json() for take in self.takes]
        if self.nonce is not None:
            entry["nonce"] = self.nonce
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
            # positional, not ImageRecord.from_json: the hot path of a 100,000-job load
            images=tuple(
                ImageRecord(i["url"], i["path"], i["sha256"], i["bytes"]) for i in entry["images"]
            ),
            error=entry["error"],
            credits_charged=entry.get("credits_charged", 0),
            possible_double_charges=entry.get("possible_double_charges", 0),
            task_missing=entry.get("task_missing", 0),
            other_tasks=tuple(entry.get("other_tasks", ())),
            takes=tuple(TakeRecord.from_json(t) for t in entry["takes"])
            if "takes" in entry
            else (),
            nonce=entry.get("nonce"),
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


_JOB_FIELDS: tuple[str, ...] = tuple(field.name for field in dataclasses.fields(JobRecord))
