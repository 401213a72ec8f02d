"""What a run reports as it goes: small frozen events for a callback (the CLI draws them)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "Event",
    "EventCallback",
    "ImageSaved",
    "JobFinished",
    "JobSubmitted",
    "Notice",
    "RequestRetried",
    "RunStarted",
    "deliver",
]


@dataclass(frozen=True)
class RunStarted:
    """The run's work: jobs selected, to submit, to poll, to download, and credits to spend;
    ``out``, the folder the images land in."""

    jobs: int
    to_submit: int
    to_poll: int
    images: int
    credits_to_spend: int
    out: str = ""


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
    """An image was downloaded, checked and renamed into place: ``path`` is relative to the
    output folder (with ``/``), ``sha256`` the hash of its bytes."""

    job_id: str
    path: str
    bytes: int
    sha256: str = ""


@dataclass(frozen=True)
class Notice:
    """Something a person should read: a warning, a retry, a refusal."""

    level: str
    message: str


@dataclass(frozen=True)
class RequestRetried:
    """A request failed and is sent again after ``delay`` seconds (a 429 or 5xx answer, a
    connection failure, a timeout, a truncated image). ``operation`` is ``create``,
    ``get_task`` or ``download``, ``reason`` what went wrong (``HTTP 503``, ``ReadTimeout``),
    ``attempt`` the number of the attempt that failed; ``count`` is how many retries of this
    kind (operation and reason) the run has made so far: 1 is the first, which the command
    line says, the rest it counts."""

    operation: str
    reason: str
    attempt: int
    delay: float
    count: int
    possible_double_charge: bool = False


Event = RunStarted | JobSubmitted | JobFinished | ImageSaved | Notice | RequestRetried
EventCallback = Callable[[Event], None]


def deliver(on_event: EventCallback | None, event: Event) -> EventCallback | None:
    """Give ``event`` to the callback; the callback to use from now on: None once it raised (a
    broken pipe, anything), since printing must never change a run."""
    if on_event is None:
        return None
    try:
        on_event(event)
    except Exception:
        return None
    return on_event
