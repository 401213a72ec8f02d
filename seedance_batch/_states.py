"""Job states: the words a lockfile records, and the sets of them each step acts on."""

from __future__ import annotations

from typing import Final, Literal

State = Literal["new", "submitting", "submitted", "succeeded", "failed"]

#: Every state, in the order a job moves through them.
STATES: Final[tuple[State, ...]] = ("new", "submitting", "submitted", "succeeded", "failed")
#: States a plain ``run`` submits: never sent, or interrupted before the API answered.
TO_SPEND: Final = frozenset({"new", "submitting"})
#: States that still need a run to finish them (without ``--retry-failed``).
NEEDS_WORK: Final = frozenset({"new", "submitting", "submitted"})
#: States whose job has a task id the API gave.
WITH_TASK_ID: Final = frozenset({"submitted", "succeeded"})


def needs_work(*, retry_failed: bool) -> frozenset[str]:
    """The states a run works on: :data:`NEEDS_WORK`, and ``failed`` with ``--retry-failed``."""
    return NEEDS_WORK | {"failed"} if retry_failed else NEEDS_WORK
