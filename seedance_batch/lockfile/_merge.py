"""Two lockfiles' records of a job folded into one: the most advanced state wins, no task lost.

The order of states, most advanced first: ``succeeded > submitted > submitting > failed >
new``. A task in flight (``submitted``) beats a failure elsewhere, since it may still succeed
and is polled, never submitted again; a failure beats ``new``, since it records what was
charged and why. Between two records in the same state, the one with more attempts wins, then
the one that finished (or was submitted) later; a full tie keeps the campaign's own record, so
that folding the same record twice changes nothing.

Charges: two records of the same task (or where one has no task) are one history, so the
fold keeps the larger count; two records with different task ids are two tasks the API made
(a job two shards both submitted), so their charges add up, and the loser's task id is kept in
the winner's ``other_tasks``. Once folded, a task id is known to the record, and folding it
again adds nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from seedance_batch._states import State
from seedance_batch.lockfile._records import JobRecord

__all__ = ["STATE_RANK", "Folded", "fold_records"]

#: How advanced each state is: the higher wins a merge.
STATE_RANK: dict[State, int] = {
    "succeeded": 4,
    "submitted": 3,
    "submitting": 2,
    "failed": 1,
    "new": 0,
}


@dataclass(frozen=True)
class Folded:
    """The fold of two records: the record to keep, whether it came from ``incoming``, and the
    task ids of the other record that were not yet known (a job both lockfiles submitted)."""

    record: JobRecord
    took_incoming: bool
    overlap: tuple[str, ...] = ()


def _known_tasks(record: JobRecord) -> tuple[str, ...]:
    known = (record.task_id,) if record.task_id is not None else ()
    return (*known, *record.other_tasks)


def _order(record: JobRecord) -> tuple[int, int, str, str]:
    return (
        STATE_RANK[record.state],
        record.attempts,
        record.finished_at or "",
        record.submitted_at or "",
    )


def fold_records(current: JobRecord | None, incoming: JobRecord) -> Folded:
    """``current`` (the campaign's record, or None) and ``incoming`` (a shard's) as one record.

    Every field of the winner is kept as it is (by name, through :meth:`JobRecord.replace`),
    but the charges and ``other_tasks``, which count both records.
    """
    if current is None:
        return Folded(incoming, took_incoming=True)
    known = _known_tasks(current)
    fresh = tuple(t for t in _known_tasks(incoming) if t not in known)
    two_tasks = bool(known) and bool(fresh)
    take = _order(incoming) > _order(current)
    winner, loser = (incoming, current) if take else (current, incoming)
    if two_tasks:  # each record's tasks were charged: both counts add up
        credits = current.credits_charged + incoming.credits_charged
        doubles = current.possible_double_charges + incoming.possible_double_charges
    else:  # one history seen twice: the further one has counted everything
        credits = max(current.credits_charged, incoming.credits_charged)
        doubles = max(current.possible_double_charges, incoming.possible_double_charges)
    every = dict.fromkeys((*_known_tasks(winner), *_known_tasks(loser)))
    every.pop(winner.task_id or "", None)
    record = winner.replace(
        credits_charged=credits,
        possible_double_charges=doubles,
        attempts=max(current.attempts, incoming.attempts),
        other_tasks=tuple(every),
    )
    overlap = fresh if two_tasks else ()
    return Folded(record, took_incoming=take, overlap=overlap)
