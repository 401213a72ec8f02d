"""What a run reports as it goes: small frozen events for a callback (the CLI draws them)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "Event",
    "ImageSaved",
    "JobFinished",
    "JobSubmitted",
    "Notice",
    "RunStarted",
]


@dataclass(frozen=True)
class RunStarted:
    """The run's work: jobs selected, to submit, to poll, to download, and credits to spend."""

    jobs: int
    to_submit: int
    to_poll: int
    images: int
    credits_to_spend: int


@dataclass(frozen=True)
class JobSubmitted:
    """The API gave a task id for a job; ``credits`` are presumed charged from now on
    (possible double charges included). ``resubmission``: the job was submitted before (a
    failed task, ``--retry-failed``), so a bar of jobs to submit does not count it again."""

    job_id: str
    task_id: str
    credits: int
    possible_double_charge: bool
    resubmission: bool = False


@dataclass(frozen=True)
class JobFinished:
    """A job reached an end in this run: ``succeeded``, ``failed`` or ``timed_out``."""

    job_id: str
    outcome: str
    images_asked: int
    images_delivered: int
    message: str | None = None


@dataclass(frozen=True)
class ImageSaved:
    """An image was downloaded, checked and renamed into place."""

    job_id: str
    path: str
    bytes: int


@dataclass(frozen=True)
class Notice:
    """Something a person should read: a warning, a retry, a refusal."""

    level: str
    message: str


Event = RunStarted | JobSubmitted | JobFinished | ImageSaved | Notice
