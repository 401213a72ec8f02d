"""The journal: append-only lines of changes beside the lockfile, and their fold into its content.

Journal format::

    {"journal":1,"holder":{"pid":..,"host":..,"command":..,"since":..}}   <- padded to 512 bytes
    {"put":"3f9a2c1b0d4e5f60","record":{"job":..,"variant":..,...}}       <- one whole record
    {"remove":["3f9a2c1b0d4e5f60",...]}                                   <- prune
    {"output":"outputs/spring"}                                           <- set_output

A ``put`` line carries ``"spent"`` as it is after the put, so folding a journal twice (a crash
between the save and the cut) never counts a charge twice. A torn last line (a write cut short
by a crash) is ignored; duplicate keys in any line are refused.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from seedance_batch._errors import LockfileError
from seedance_batch.lockfile._check import JOB_ID, job_problem, schema_message, spent_problem
from seedance_batch.lockfile._records import JobRecord, JobState, Spent
from seedance_batch.lockfile._strict_json import DuplicateKeyError, read_bytes, unique_object

__all__ = [
    "HEADER_SIZE",
    "Content",
    "Journal",
    "fold",
    "header_bytes",
    "is_header_slot",
    "journal_path",
    "parse_header",
    "parse_journal",
    "read_journal",
]

#: Size in bytes of the journal's first line (the holder header), newline included.
HEADER_SIZE: Final = 512
JOURNAL_SUFFIX: Final = ".journal"


def journal_path(lockfile_path: str | os.PathLike[str]) -> Path:
    """The journal (and run lock) beside a lockfile: ``spring.lock.json.journal``."""
    path = Path(lockfile_path)
    return path.with_name(path.name + JOURNAL_SUFFIX)


@dataclass
class Content:
    """A lockfile's content as folding goes: top level and entries (records or lean states)."""

    name: str | None
    sha256: str | None
    nonce: str | None
    output: str | None
    spent: Spent
    jobs: dict[str, Any]

    @classmethod
    def empty(cls) -> Content:
        """No lockfile yet: no top level, no entries."""
        return cls(name=None, sha256=None, nonce=None, output=None, spent=Spent(), jobs={})


@dataclass(frozen=True)
class _Put:
    record: JobRecord
    spent: Spent | None  # as it was after the put; None in journals older than ``spent``


@dataclass(frozen=True)
class _Remove:
    ids: list[str]


@dataclass(frozen=True)
class _SetOutput:
    output: str | None


_Op = _Put | _Remove | _SetOutput


@dataclass(frozen=True)
class Journal:
    """A parsed journal: its operations, whether its tail is torn, its header."""

    ops: list[_Op]
    torn: bool
    header: dict[str, Any] | None


def parse_header(line: bytes) -> dict[str, Any] | None:
    try:
        header = json.loads(line)
    except ValueError:
        return None
    if isinstance(header, dict) and header.get("journal") == 1:
        return header
    return None


def parse_journal(data: bytes, where: str) -> Journal:
    if not data:
        return Journal(ops=[], torn=False, header=None)
    newline = data.find(b"\n")
    if newline < 0:  # a header cut short by a crash: nothing can follow it
        return Journal(ops=[], torn=True, header=None)
    header = parse_header(data[:newline])
    if header is None and not is_header_slot(data[:newline]):
        raise LockfileError(f"{where}:1: not a seedance-batch journal header")
    ops: list[_Op] = []
    lines = data[newline + 1 :].split(b"\n")
    tail = lines.pop()  # after the last newline: empty, or a line cut short by a crash
    torn = bool(tail)
    last = len(lines) - 1
    for index, raw in enumerate(lines):
        lineno = index + 2
        try:
            entry = json.loads(raw, object_pairs_hook=unique_object)
        except DuplicateKeyError as exc:
            raise LockfileError(
                f"{where}:{lineno}: duplicate key {exc.key!r} in a journal line; refused"
            ) from None
        except ValueError as exc:
            if index == last and not torn:  # the last line, garbled by a crash: ignore it
                torn = True
                break
            raise LockfileError(f"{where}:{lineno}: not valid JSON: {exc}") from exc
        ops.append(_journal_op(entry, f"{where}:{lineno}"))
    return Journal(ops=ops, torn=torn, header=header)


_PUT_KEYS: Final = (frozenset({"put", "record"}), frozenset({"put", "record", "spent"}))


def _journal_op(entry: Any, where: str) -> _Op:
    keys = set(entry) if isinstance(entry, dict) else set()
    if keys in _PUT_KEYS:
        job_id = entry["put"]
        if not isinstance(job_id, str) or JOB_ID.match(job_id) is None:
            raise LockfileError(f"{where}: {job_id!r} is not a job id")
        if (problem := job_problem(entry["record"])) is not None:
            message = schema_message(entry["record"], "job", "record") or f"record: {problem}"
            raise LockfileError(f"{where}: {job_id}: {message}")
        spent = entry.get("spent")
        if spent is not None and (problem := spent_problem(spent)) is not None:
            raise LockfileError(f"{where}: {problem}")
        record = JobRecord.from_json(job_id, entry["record"])
        return _Put(record=record, spent=Spent(**spent) if spent is not None else None)
    if keys == {"remove"}:
        ids = entry["remove"]
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise LockfileError(f"{where}: 'remove' must be a list of job ids")
        return _Remove(ids=ids)
    if keys == {"output"}:
        output = entry["output"]
        if output is not None and (not isinstance(output, str) or not output):
            raise LockfileError(f"{where}: 'output' must be a non-empty string or null")
        return _SetOutput(output=output)
    raise LockfileError(
        f"{where}: not a journal entry (expected 'put' and 'record', 'remove' or 'output')"
    )


def fold(state: Content, ops: Iterable[_Op], lean: bool = False) -> None:
    """Apply a journal's operations to ``state`` (with :class:`JobState` entries if ``lean``).

    A put line's ``spent`` is the total after it, so folding the same lines again (a crash
    between the save and the cut) adds nothing; a line without one adds its record's rise."""
    jobs = state.jobs
    for op in ops:
        if isinstance(op, _Put):
            record = op.record
            previous = jobs.get(record.id)
            jobs[record.id] = (
                JobState(
                    state=record.state,
                    credits_charged=record.credits_charged,
                    possible_double_charges=record.possible_double_charges,
                )
                if lean
                else record
            )
            if op.spent is not None:
                state.spent = state.spent.at_least(op.spent)
            else:
                state.spent = state.spent.plus_rise(previous, record)
        elif isinstance(op, _Remove):
            for job_id in op.ids:
                jobs.pop(job_id, None)
        else:
            state.output = op.output


def read_journal(path: Path) -> Journal:
    data = read_bytes(path, "the journal")
    if data is None:
        return Journal(ops=[], torn=False, header=None)
    return parse_journal(data, str(path))


def header_bytes(holder: Mapping[str, Any]) -> bytes:
    """The journal's first line: the holder, as ASCII JSON padded to ``HEADER_SIZE`` bytes."""
    room = HEADER_SIZE - 1
    info = {**holder, "host": str(holder.get("host", ""))[:64]}
    command = str(info.get("command", ""))

    def text(keep: int) -> str:
        cut = command if keep >= len(command) else command[:keep] + "..."
        return json.dumps({"journal": 1, "holder": {**info, "command": cut}}, separators=(",", ":"))

    low, high = 0, len(command)  # the longest prefix of the command that fits
    while low < high:
        middle = (low + high + 1) // 2
        if len(text(middle)) <= room:
            low = middle
        else:
            high = middle - 1
    line = text(low)[:room]
    return (line + " " * (room - len(line)) + "\n").encode("ascii")


def is_header_slot(line: bytes) -> bool:
    """Whether the journal's first line (without its newline) is a holder header: a valid one,
    or one being rewritten in place by a new holder (the same size)."""
    return parse_header(line) is not None or len(line) == HEADER_SIZE - 1
