"""The lockfile: a campaign's resumable state (contract, section 5).

``spring.lock.json`` sits beside ``spring.yaml``: ``{"version": 1, "manifest": {"name", "sha256"},
"nonce", "output", "spent": {"credits", "possible_double_charges"}, "jobs": {ID: {...}}}``,
pretty-printed with a fixed key order, planned jobs in plan order, then the orphans. It is committed
with the manifest and validated against ``schemas/lockfile.schema.json``. ``nonce`` is random, made
when the lockfile is created and kept: it makes the Idempotency-Keys of this campaign its own.
``spent`` only grows (every rise of a record's charges adds to it; a prune never lowers it).

During a run every state change is one line appended to a journal beside it,
``spring.lock.json.journal`` (JSON Lines, ignored by git), with a single ``os.write`` on an
``O_APPEND`` descriptor: once :meth:`Lockfile.put` returns, a ``kill -9`` loses nothing, and a
background thread ``fdatasync``\\ s the journal within ``durable_within`` seconds (1 s) of a change.
A change costs one record, never O(jobs). The journal is folded into the lockfile (atomic replace:
temporary file, fsync, ``os.replace``, fsync of the folder, then the journal is cut back) when the
run ends and when the next one starts; a reader folds it in memory. Folding is idempotent (each
line is a whole record), so a crash between the replace and the cut is harmless, and a torn last
line (a write cut short by a crash) is ignored.

The journal file is also the run lock: an OS lock (``flock``, through :mod:`filelock`'s
``lock_descriptor`` on a descriptor this module opens; never its ``FileLock``, which in some
versions truncates the file it locks) that the kernel releases when its process dies, so a killed
run never blocks the next one. Its first line is a fixed-size header naming the holder (pid,
host, command, since), rewritten in place by each new holder as soon as it has the lock; a second
run reads it to say who holds the lock. Stale holder information never blocks anything: only
the OS lock decides.

Journal format::

    {"journal":1,"holder":{"pid":..,"host":..,"command":..,"since":..}}   <- padded to 512 bytes
    {"put":"3f9a2c1b0d4e5f60","record":{"job":..,"variant":..,...}}       <- one whole record
    {"remove":["3f9a2c1b0d4e5f60",...]}                                   <- prune
    {"output":"outputs/spring"}                                           <- set_output

A ``put`` line carries ``"spent"`` as it is after the put, so folding a journal twice (a crash
between the save and the cut) never counts a charge twice.

POSIX only (``flock``, ``pread``/``pwrite``), like the rest of the tool's file handling.

Loading validates with a hand-written check that mirrors the schema (the tests hold the two in
agreement); jsonschema itself, which takes seconds over 10,000 entries, only words the error.
Nothing read is trusted: git conflict markers and duplicate keys (anywhere, lockfile or journal)
are refused with one line, and a ``submitting`` entry with a task id reads as ``submitted``.
:func:`read_lockfile_states` is the lean reader of ``plan``: states, spent and the top level only,
with the same refusals.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import json
import operator
import os
import re
import secrets
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import TYPE_CHECKING, Any, Final, Literal, NamedTuple, Protocol, get_args

from seedance_batch import _background, _files, _halves
from seedance_batch._errors import (
    LockfileError,
    LockfileMismatchError,
    LockfileWriteError,
    LockHeldError,
    OutputError,
)
from seedance_batch._redact import redact
from seedance_batch._schemas import load_schema, schema_resource

if TYPE_CHECKING:
    if sys.version_info >= (3, 11):
        from importlib.resources.abc import Traversable
    else:
        from importlib.abc import Traversable

__all__ = [
    "HEADER_SIZE",
    "LOCKFILE_VERSION",
    "STATES",
    "Holder",
    "ImageRecord",
    "JobRecord",
    "JobState",
    "Lockfile",
    "LockfileSnapshot",
    "LockfileStates",
    "PlannedJob",
    "Spent",
    "State",
    "default_lockfile_path",
    "journal_path",
    "lock_holder",
    "read_lockfile",
    "read_lockfile_states",
    "render_lockfile",
    "schema_path",
    "utc_now",
]

State = Literal["new", "submitting", "submitted", "succeeded", "failed"]
#: Every state, in the order a job moves through them.
STATES: Final[tuple[State, ...]] = get_args(State)
LOCKFILE_VERSION: Final = 1
#: Size in bytes of the journal's first line (the holder header), newline included.
HEADER_SIZE: Final = 512
JOURNAL_SUFFIX: Final = ".journal"

_STATE_SET: Final = frozenset(STATES)
_NEEDS_TASK_ID: Final = frozenset({"submitted", "succeeded"})
_SLUG: Final = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}\Z")
_JOB_ID: Final = re.compile(r"[0-9a-f]{16}\Z")
_SHA256: Final = re.compile(r"[0-9a-f]{64}\Z")
_TIMESTAMP: Final = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|\+00:00)\Z"
)
#: Request keys that would carry a credential; never stored (the schema lists the same names).
_CREDENTIAL_KEYS: Final = frozenset(
    {"Authorization", "authorization", "api_key", "apiKey", "api-key", "x-api-key", "X-API-Key"}
)
_REQUIRED_FIELDS: Final = (
    "job",
    "variant",
    "repeat",
    "request",
    "state",
    "task_id",
    "attempts",
    "submitted_at",
    "finished_at",
    "images",
    "error",
)
_OPTIONAL_FIELDS: Final = ("credits_charged", "possible_double_charges", "task_missing")
_ALL_FIELDS: Final = frozenset(_REQUIRED_FIELDS + _OPTIONAL_FIELDS)
_IMAGE_FIELDS: Final = ("url", "path", "sha256", "bytes")
_TOP_REQUIRED: Final = ("version", "manifest", "jobs")
_TOP_FIELDS: Final = frozenset({*_TOP_REQUIRED, "nonce", "output", "spent"})
_NONCE: Final = re.compile(r"[0-9a-f]{16}\Z")
_CONFLICT_MARKER: Final = re.compile(rb"^(?:<{7}|={7}|>{7})(?:[ \t\r\n]|$)", re.MULTILINE)
_API_KEY_VARIABLE: Final = "SEEDANCE_API_KEY"

_compact: Final = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_scalar: Final = json.JSONEncoder(ensure_ascii=False).encode


def utc_now() -> str:
    """The current instant as ISO 8601 UTC with a ``Z``, to the second: ``2025-11-25T16:18:00Z``."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def default_lockfile_path(manifest_path: str | os.PathLike[str]) -> Path:
    """``spring.yaml`` -> ``spring.lock.json``, beside the manifest."""
    manifest = Path(manifest_path)
    return manifest.with_name(f"{manifest.stem}.lock.json")


def journal_path(lockfile_path: str | os.PathLike[str]) -> Path:
    """The journal (and run lock) beside a lockfile: ``spring.lock.json.journal``."""
    path = Path(lockfile_path)
    return path.with_name(path.name + JOURNAL_SUFFIX)


def schema_path() -> Traversable:
    """The package resource ``seedance_batch/schemas/lockfile.schema.json`` (``read_text``)."""
    return schema_resource("lockfile")


# --------------------------------------------------------------------------------------------
# Records


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
        return Spent(self.credits + max(credits, 0), self.possible_double_charges + max(doubles, 0))

    def at_least(self, other: Spent) -> Spent:
        """The larger of the two, field by field."""
        if other.credits <= self.credits and other.possible_double_charges <= (
            self.possible_double_charges
        ):
            return self
        return Spent(
            max(self.credits, other.credits),
            max(self.possible_double_charges, other.possible_double_charges),
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
        return cls(credits, doubles)


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
    in which a poll of its task answered 404 (left out of the JSON when 0). The create's
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
                ImageRecord(i["url"], i["path"], i["sha256"], i["bytes"]) for i in entry["images"]
            ),
            error=entry["error"],
            credits_charged=entry.get("credits_charged", 0),
            possible_double_charges=entry.get("possible_double_charges", 0),
            task_missing=entry.get("task_missing", 0),
        )


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


# --------------------------------------------------------------------------------------------
# Validation: a fast check that mirrors the schema; jsonschema words the error.


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_timestamp(value: object) -> bool:
    return value is None or (isinstance(value, str) and _TIMESTAMP.match(value) is not None)


def _image_problem(image: object) -> str | None:
    if not isinstance(image, dict):
        return "is not an object"
    for name in _IMAGE_FIELDS:
        if name not in image:
            return f"'{name}' is a required property"
    if len(image) != len(_IMAGE_FIELDS):
        extra = sorted(set(image) - set(_IMAGE_FIELDS))
        return f"unexpected properties: {', '.join(extra)}"
    url, path, sha, size = image["url"], image["path"], image["sha256"], image["bytes"]
    if not isinstance(url, str) or not url:
        return "url: must be a non-empty string"
    if not isinstance(path, str) or not path:
        return "path: must be a non-empty string"
    if not isinstance(sha, str) or _SHA256.match(sha) is None:
        return "sha256: must be 64 lowercase hex digits"
    if not _is_count(size):
        return "bytes: must be an integer >= 0"
    return None


def _job_problem(entry: object) -> str | None:
    """What is wrong with one ``jobs[id]`` entry, or None. Mirrors ``$defs/job`` of the schema."""
    if not isinstance(entry, dict):
        return "is not an object"
    for name in _REQUIRED_FIELDS:
        if name not in entry:
            return f"'{name}' is a required property"
    if len(entry) > len(_REQUIRED_FIELDS) and not _ALL_FIELDS.issuperset(entry):
        extra = sorted(set(entry) - _ALL_FIELDS)
        return f"unexpected properties: {', '.join(extra)}"
    job = entry["job"]
    if not isinstance(job, str) or _SLUG.match(job) is None:
        return f"job: {job!r} is not a job name (a slug)"
    variant = entry["variant"]
    if not isinstance(variant, dict) or not all(isinstance(v, str) for v in variant.values()):
        return "variant: must be an object of strings"
    if not _is_count(entry["repeat"]):
        return "repeat: must be an integer >= 0"
    request = entry["request"]
    if not isinstance(request, dict):
        return "request: must be an object"
    if not isinstance(request.get("prompt"), str):
        return "request: 'prompt' is a required string"
    if not _CREDENTIAL_KEYS.isdisjoint(request):
        return "request: holds a credential; the lockfile never stores one"
    state = entry["state"]
    if not isinstance(state, str) or state not in _STATE_SET:
        return f"state: {state!r} is not one of {', '.join(STATES)}"
    task_id = entry["task_id"]
    if task_id is None:
        if state in _NEEDS_TASK_ID:
            return f"task_id: a job in state {state} must have a task id"
    elif not isinstance(task_id, str) or not task_id:
        return "task_id: must be a non-empty string or null"
    if not _is_count(entry["attempts"]):
        return "attempts: must be an integer >= 0"
    for name in ("submitted_at", "finished_at"):
        if not _is_timestamp(entry[name]):
            return f"{name}: {entry[name]!r} is not an ISO 8601 UTC timestamp or null"
    images = entry["images"]
    if not isinstance(images, list):
        return "images: must be an array"
    for index, image in enumerate(images):
        if (problem := _image_problem(image)) is not None:
            return f"images[{index}]: {problem}"
    error = entry["error"]
    if error is not None and not isinstance(error, str):
        return "error: must be a string or null"
    for name in _OPTIONAL_FIELDS:
        if name in entry and not _is_count(entry[name]):
            return f"{name}: must be an integer >= 0"
    return None


def _document_problem(doc: object) -> tuple[str | None, str] | None:
    """The first problem of a lockfile document as (job id or None, message), or None."""
    found = _top_problem(doc)
    if found is not None or not isinstance(doc, dict):
        return None, found or "the lockfile is not a JSON object"
    jobs = doc["jobs"]
    for job_id, entry in jobs.items():
        if _JOB_ID.match(job_id) is None:
            return job_id, f"jobs: {job_id!r} is not a job id (16 lowercase hex digits)"
        if (problem := _job_problem(entry)) is not None:
            return job_id, f"jobs.{job_id}: {problem}"
    return None


def _spent_problem(spent: object) -> str | None:
    if not isinstance(spent, dict) or set(spent) != {"credits", "possible_double_charges"}:
        return "spent: must be an object with exactly 'credits' and 'possible_double_charges'"
    if not all(_is_count(v) for v in spent.values()):
        return "spent: credits and possible_double_charges must be integers >= 0"
    return None


def _top_problem(doc: object) -> str | None:
    """What is wrong with the document's top level (all but the job entries), or None."""
    if not isinstance(doc, dict):
        return "the lockfile is not a JSON object"
    for name in _TOP_REQUIRED:
        if name not in doc:
            return f"'{name}' is a required property"
    if not _TOP_FIELDS.issuperset(doc):
        extra = sorted(set(doc) - _TOP_FIELDS)
        return f"unexpected properties: {', '.join(extra)}"
    version = doc["version"]
    if version != LOCKFILE_VERSION or isinstance(version, bool):
        return f"version: {version!r} is not supported (this tool reads version 1)"
    manifest = doc["manifest"]
    if not isinstance(manifest, dict) or set(manifest) != {"name", "sha256"}:
        return "manifest: must be an object with exactly 'name' and 'sha256'"
    name, sha = manifest["name"], manifest["sha256"]
    if not isinstance(name, str) or _SLUG.match(name) is None:
        return f"manifest.name: {name!r} is not a manifest name (a slug)"
    if not isinstance(sha, str) or _SHA256.match(sha) is None:
        return "manifest.sha256: must be 64 lowercase hex digits"
    nonce = doc.get("nonce")
    if "nonce" in doc and (not isinstance(nonce, str) or _NONCE.match(nonce) is None):
        return f"nonce: {nonce!r} is not 16 lowercase hex digits"
    output = doc.get("output")
    if output is not None and (not isinstance(output, str) or not output):
        return "output: must be a non-empty string or null"
    if "spent" in doc and (problem := _spent_problem(doc["spent"])) is not None:
        return problem
    if not isinstance(doc["jobs"], dict):
        return "jobs: must be an object"
    return None


_validators: dict[str, Any] = {}


def _validator(kind: str) -> Any:
    """jsonschema's Draft202012Validator for the whole document or for ``$defs/job``."""
    if not _validators:
        import jsonschema

        schema = load_schema("lockfile")
        _validators["document"] = jsonschema.Draft202012Validator(schema)
        job_schema = {"$ref": "#/$defs/job", "$defs": schema["$defs"]}
        _validators["job"] = jsonschema.Draft202012Validator(job_schema)
    return _validators[kind]


def _schema_message(instance: Any, kind: str, prefix: str = "") -> str | None:
    """jsonschema's words for what is wrong with ``instance`` (a document, or one job entry)."""
    try:
        from jsonschema.exceptions import best_match

        error = best_match(_validator(kind).iter_errors(instance))
    except Exception:  # the fast check's message is good enough
        return None
    if error is None:
        return None
    where = prefix + "".join(
        f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path
    )
    message = error.message if len(error.message) <= 300 else error.message[:297] + "..."
    return f"{where.lstrip('.')}: {message}" if where else message


def _check_document(doc: Any, where: str) -> None:
    """Raise :class:`LockfileError` naming ``where`` and the first problem of ``doc``."""
    found = _document_problem(doc)
    if found is None:
        return
    job_id, message = found
    if job_id is not None and _JOB_ID.match(job_id):  # one entry is wrong: word just that one
        words = _schema_message(doc["jobs"][job_id], "job", f"jobs.{job_id}")
    else:
        jobs = doc.get("jobs") if isinstance(doc, dict) else None
        part = (
            {**doc, "jobs": {job_id: jobs[job_id]} if job_id else {}}
            if isinstance(jobs, dict)
            else doc
        )
        words = _schema_message(part, "document")
    raise LockfileError(f"{where}: {words or message}")


def _record_problem(record: JobRecord, entry: dict[str, Any]) -> str | None:
    """What the schema would refuse in ``record`` (whose ``to_json()`` is ``entry``), or None."""
    if not isinstance(record.id, str) or _JOB_ID.match(record.id) is None:
        return f"{record.id!r} is not a job id (16 lowercase hex digits)"
    if not isinstance(record.images, tuple) or not all(
        isinstance(i, ImageRecord) for i in record.images
    ):
        return "images: must be a tuple of ImageRecord"
    return _job_problem(entry)


# --------------------------------------------------------------------------------------------
# Rendering


def _pretty(value: Any, indent: str, out: list[str]) -> None:
    """Append ``value`` as ``json.dumps(indent=2, ensure_ascii=False)`` would, at ``indent``."""
    if isinstance(value, dict):
        if not value:
            out.append("{}")
            return
        inner = indent + "  "
        out.append("{")
        first = True
        for key, item in value.items():
            out.append("\n" + inner if first else ",\n" + inner)
            first = False
            out.append(_scalar(str(key)))
            out.append(": ")
            _pretty(item, inner, out)
        out.append("\n" + indent + "}")
    elif isinstance(value, (list, tuple)):
        if not value:
            out.append("[]")
            return
        inner = indent + "  "
        out.append("[")
        first = True
        for item in value:
            out.append("\n" + inner if first else ",\n" + inner)
            first = False
            _pretty(item, inner, out)
        out.append("\n" + indent + "]")
    else:
        out.append(_scalar(value))


def render_lockfile(
    manifest_name: str,
    manifest_sha256: str,
    jobs: Iterable[JobRecord],
    *,
    nonce: str | None = None,
    output: str | None = None,
    spent: Spent | None = None,
) -> bytes:
    """The lockfile's bytes: 2-space indented JSON, fixed key order, a trailing newline.

    Byte for byte what ``json.dumps(document, indent=2, ensure_ascii=False) + "\\n"`` gives, but
    faster: each job is rendered on its own. Without ``spent``, the sum over ``jobs``; without
    ``nonce``, none is written (a lockfile gets one when a run opens it).
    """
    if spent is None:
        jobs = list(jobs)
        spent = Spent.over(jobs)
    out = [
        '{\n  "version": 1,\n  "manifest": {\n    "name": ',
        _scalar(manifest_name),
        ',\n    "sha256": ',
        _scalar(manifest_sha256),
        "\n  },\n",
    ]
    if nonce is not None:
        out.append(f'  "nonce": {_scalar(nonce)},\n')
    out.append(f'  "output": {_scalar(output)},\n')
    out.append(
        f'  "spent": {{\n    "credits": {spent.credits},\n'
        f'    "possible_double_charges": {spent.possible_double_charges}\n  }},\n  "jobs": '
    )
    first = True
    for record in jobs:
        out.append("{\n    " if first else ",\n    ")
        first = False
        out.append(_scalar(record.id))
        out.append(": ")
        _pretty(record.to_json(), "    ", out)
    out.append("{}\n}\n" if first else "\n  }\n}\n")
    return "".join(out).encode("utf-8")


# --------------------------------------------------------------------------------------------
# Reading


class _DuplicateKeyError(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """json's object hook that refuses a key seen twice in one object (as cheap as ``dict``)."""
    made = dict(pairs)
    if len(made) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKeyError(key)
            seen.add(key)
    return made


@contextlib.contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Pause the cycle collector while a big document's acyclic objects are made: collecting
    over and over as they pile up costs a third of the time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _parse_json(data: bytes, where: str) -> Any:
    """``data`` as JSON, refusing duplicate keys and git conflict markers; a
    :class:`LockfileError` naming ``where``.

    Markers are looked for only when the parse fails: one at the start of a line is never valid
    JSON (a string holds no raw newline), so a document that parses has none.
    """
    try:
        return json.loads(data, object_pairs_hook=_unique_object)
    except ValueError as exc:
        _check_conflict_markers(data, where)
        if isinstance(exc, _DuplicateKeyError):
            raise LockfileError(
                f"{where}: duplicate key {exc.key!r}: a key appears twice in one object (a hand "
                "edit or a bad merge?); refused, since either copy could be lost; keep one"
            ) from None
        raise LockfileError(f"{where}: not valid JSON: {exc}") from exc


def _check_conflict_markers(data: bytes, where: str) -> None:
    """Refuse a lockfile left in the middle of a git merge, naming the first marker's line."""
    if b"<<<<<<<" not in data and b"=======" not in data and b">>>>>>>" not in data:
        return
    marker = _CONFLICT_MARKER.search(data)
    if marker is None:
        return
    line = data.count(b"\n", 0, marker.start()) + 1
    raise LockfileError(
        f"{where}:{line}: git conflict markers: the lockfile is in the middle of a git merge; "
        "finish the merge (keep one side, or both sides' job entries by hand), then run again"
    )


def _read_bytes(path: Path, what: str) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise LockfileError(f"{path}: cannot read {what}: {exc.strerror or exc}") from exc


def _document(data: bytes, where: str) -> dict[str, Any]:
    """The lockfile's bytes parsed, conflict markers and duplicate keys refused; the top level
    checked (the job entries are not)."""
    doc = _parse_json(data, where)
    if _top_problem(doc) is not None:
        _check_document(doc, where)
    checked: dict[str, Any] = doc
    return checked


@dataclass
class _State:
    """A lockfile's content as folding goes: top level and entries (records or lean states)."""

    name: str | None
    sha256: str | None
    nonce: str | None
    output: str | None
    spent: Spent
    jobs: dict[str, Any]


def _load_document(path: Path) -> _State | None:
    """The lockfile's content with its records, or None when there is no file."""
    data = _read_bytes(path, "the lockfile")
    return None if data is None else _content(data, str(path))


def _content(data: bytes, where: str) -> _State:
    """A lockfile's bytes, strictly checked, with its records."""
    with _no_cycle_collection():
        doc = _document(data, where)
        _check_document(doc, where)
        from_json = JobRecord.from_json
        jobs = {job_id: from_json(job_id, entry) for job_id, entry in doc["jobs"].items()}
        return _top_state(doc, jobs)


def _top_state(doc: dict[str, Any], jobs: dict[str, Any]) -> _State:
    spent = doc.get("spent")
    return _State(
        doc["manifest"]["name"],
        doc["manifest"]["sha256"],
        doc.get("nonce"),
        doc.get("output"),
        Spent(**spent) if spent is not None else Spent.over(jobs.values()),
        jobs,
    )


class JobState(NamedTuple):
    """What ``plan`` reads of one entry: its state and what it was charged. (A named tuple:
    immutable like the records, and a few shared instances pickle small across a fork.)"""

    state: State
    credits_charged: int = 0
    possible_double_charges: int = 0


_pick_lean: Final = operator.itemgetter(
    "state", "task_id", "credits_charged", "possible_double_charges"
)
_HEX_RUN: Final = re.compile(r"[0-9a-f]*\Z")


def _lean_jobs(jobs: dict[str, Any]) -> dict[str, JobState] | None:
    """Each entry's :class:`JobState`, checking what plan relies on (ids, states, task ids,
    charges); None at the first entry that fails a check (the full check then words it)."""
    if jobs and (set(map(len, jobs)) != {16} or _HEX_RUN.match("".join(jobs)) is None):
        return None
    shared: dict[tuple[Any, ...], JobState] = {}  # a few distinct values, shared
    lean: dict[str, JobState] = {}
    for job_id, entry in jobs.items():
        try:
            state, task_id, credits, doubles = _pick_lean(entry)
        except (KeyError, TypeError):  # an older entry without charges, or no object
            if type(entry) is not dict or "task_id" not in entry:
                return None
            state, task_id = entry.get("state"), entry["task_id"]
            credits = entry.get("credits_charged", 0)
            doubles = entry.get("possible_double_charges", 0)
        if task_id is not None and (type(task_id) is not str or not task_id):
            return None
        key = (state, task_id is None, credits, doubles)
        found = shared.get(key)
        if found is None:
            found = _lean_state(*key)
            if found is None:
                return None
            shared[key] = found
        lean[job_id] = found
    return lean


def _lean_state(state: Any, no_task: bool, credits: Any, doubles: Any) -> JobState | None:
    if not isinstance(state, str) or state not in _STATE_SET:
        return None
    if no_task and state in _NEEDS_TASK_ID:
        return None
    if not _is_count(credits) or not _is_count(doubles):
        return None
    if state == "submitting" and not no_task:
        state = "submitted"
    return JobState(state, credits, doubles)


def _lean_content(data: bytes, where: str) -> _State:
    """A lockfile's bytes read for plan: top level and :class:`JobState` entries."""
    with _no_cycle_collection():  # until the parsed document is freed: nothing left to collect
        doc = _document(data, where)
        jobs = _lean_jobs(doc["jobs"])
        if jobs is None:
            _check_document(doc, where)
            raise LockfileError(f"{where}: jobs: an entry does not match the schema")
        state = _top_state(doc, jobs)
        del doc
    return state


def _lean_half(text: bytes) -> dict[str, Any]:
    """One half of a lockfile (see :mod:`_halves`): parsed strictly, its top level with lean
    entries; raises on anything refused (the whole is then parsed in one piece)."""
    with _no_cycle_collection():
        doc = json.loads(text, object_pairs_hook=_unique_object)
        jobs = _lean_jobs(doc["jobs"]) if isinstance(doc, dict) else None
        if jobs is None:
            raise ValueError("not a lean lockfile half")
        doc["jobs"] = jobs
    made: dict[str, Any] = doc
    return made


class _LeanInBackground:
    """A lockfile's lean content computed by two child processes, one half each (see
    :mod:`_halves` and :mod:`_background`), while this process goes on; the whole is parsed
    here, in one piece, when the halves cannot be cut or joined or either failed."""

    def __init__(self, data: bytes, where: str) -> None:
        self._data = data
        self._where = where
        halves = _halves.cut(data, "jobs") if len(data) >= _background.MIN_SIZE else None
        self._halves = (
            None
            if halves is None
            else (
                _background.start(_lean_half, halves[0]),
                _background.start(_lean_half, halves[1]),
            )
        )

    def result(self) -> _State:
        joined = self._joined()
        if joined is not None and _top_problem(joined) is None:
            return _top_state(joined, joined["jobs"])
        return _lean_content(self._data, self._where)

    def _joined(self) -> dict[str, Any] | None:
        if self._halves is None:
            return None
        try:
            head, tail = (half.result() for half in self._halves)
        except Exception:  # the one-piece parse words it
            return None
        return _halves.join(head, tail, "jobs")


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
class _Journal:
    """A parsed journal: its operations, whether its tail is torn, its header."""

    ops: list[_Op]
    torn: bool
    header: dict[str, Any] | None


def _parse_header(line: bytes) -> dict[str, Any] | None:
    try:
        header = json.loads(line)
    except ValueError:
        return None
    if isinstance(header, dict) and header.get("journal") == 1:
        return header
    return None


def _parse_journal(data: bytes, where: str) -> _Journal:
    if not data:
        return _Journal([], False, None)
    newline = data.find(b"\n")
    if newline < 0:  # a header cut short by a crash: nothing can follow it
        return _Journal([], True, None)
    header = _parse_header(data[:newline])
    if header is None and not _is_header_slot(data[:newline]):
        raise LockfileError(f"{where}:1: not a seedance-batch journal header")
    ops: list[_Op] = []
    lines = data[newline + 1 :].split(b"\n")
    tail = lines.pop()  # after the last newline: empty, or a line cut short by a crash
    torn = bool(tail)
    last = len(lines) - 1
    for index, raw in enumerate(lines):
        lineno = index + 2
        try:
            entry = json.loads(raw, object_pairs_hook=_unique_object)
        except _DuplicateKeyError as exc:
            raise LockfileError(
                f"{where}:{lineno}: duplicate key {exc.key!r} in a journal line; refused"
            ) from None
        except ValueError as exc:
            if index == last and not torn:  # the last line, garbled by a crash: ignore it
                torn = True
                break
            raise LockfileError(f"{where}:{lineno}: not valid JSON: {exc}") from exc
        ops.append(_journal_op(entry, f"{where}:{lineno}"))
    return _Journal(ops, torn, header)


_PUT_KEYS: Final = (frozenset({"put", "record"}), frozenset({"put", "record", "spent"}))


def _journal_op(entry: Any, where: str) -> _Op:
    keys = set(entry) if isinstance(entry, dict) else set()
    if keys in _PUT_KEYS:
        job_id = entry["put"]
        if not isinstance(job_id, str) or _JOB_ID.match(job_id) is None:
            raise LockfileError(f"{where}: {job_id!r} is not a job id")
        if (problem := _job_problem(entry["record"])) is not None:
            message = _schema_message(entry["record"], "job", "record") or f"record: {problem}"
            raise LockfileError(f"{where}: {job_id}: {message}")
        spent = entry.get("spent")
        if spent is not None and (problem := _spent_problem(spent)) is not None:
            raise LockfileError(f"{where}: {problem}")
        record = JobRecord.from_json(job_id, entry["record"])
        return _Put(record, Spent(**spent) if spent is not None else None)
    if keys == {"remove"}:
        ids = entry["remove"]
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise LockfileError(f"{where}: 'remove' must be a list of job ids")
        return _Remove(ids)
    if keys == {"output"}:
        output = entry["output"]
        if output is not None and (not isinstance(output, str) or not output):
            raise LockfileError(f"{where}: 'output' must be a non-empty string or null")
        return _SetOutput(output)
    raise LockfileError(
        f"{where}: not a journal entry (expected 'put' and 'record', 'remove' or 'output')"
    )


def _fold(state: _State, ops: Iterable[_Op], lean: bool = False) -> None:
    """Apply a journal's operations to ``state`` (with :class:`JobState` entries if ``lean``).

    A put line's ``spent`` is the total after it, so folding the same lines again (a crash
    between the save and the cut) adds nothing; a line without one adds its record's rise."""
    jobs = state.jobs
    for op in ops:
        if isinstance(op, _Put):
            record = op.record
            previous = jobs.get(record.id)
            jobs[record.id] = (
                JobState(record.state, record.credits_charged, record.possible_double_charges)
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


def _read_journal(path: Path) -> _Journal:
    data = _read_bytes(path, "the journal")
    if data is None:
        return _Journal([], False, None)
    return _parse_journal(data, str(path))


@dataclass(frozen=True)
class LockfileSnapshot:
    """A read-only view of a lockfile with its journal folded in, for ``plan`` and ``status``.

    ``jobs`` is in file order (journal additions last). ``journal_entries`` counts the changes
    found in the journal: a run is in progress, or was interrupted and the next one folds them.
    ``nonce`` is None for a lockfile that no run has opened since nonces exist.
    """

    path: Path
    manifest_name: str | None
    manifest_sha256: str | None
    jobs: Mapping[str, JobRecord]
    journal_entries: int = 0
    nonce: str | None = None
    output: str | None = None
    spent: Spent = Spent()


class LockfileStates:
    """What :func:`read_lockfile_states` reads for ``plan``: a snapshot with lean entries.

    Read in the background, its content may still be arriving from a child process: every
    property but ``path`` and ``journal_entries`` waits for it, and raises what reading raised
    (:class:`LockfileError`, one line, as an eager read would).
    """

    def __init__(self, path: Path, content: Callable[[], _State], journal_entries: int) -> None:
        self.path = path
        self.journal_entries = journal_entries
        self._content = content
        self._state: _State | None = None

    def _resolved(self) -> _State:
        if self._state is None:
            self._state = self._content()
        return self._state

    @property
    def manifest_name(self) -> str | None:
        """The campaign's name recorded in the lockfile (None with a journal only)."""
        return self._resolved().name

    @property
    def manifest_sha256(self) -> str | None:
        """The manifest's hash recorded in the lockfile."""
        return self._resolved().sha256

    @property
    def nonce(self) -> str | None:
        """The campaign's nonce; None before a run opened this lockfile."""
        return self._resolved().nonce

    @property
    def output(self) -> str | None:
        """The output folder recorded, relative to the lockfile's folder."""
        return self._resolved().output

    @property
    def spent(self) -> Spent:
        """Everything the lockfile has recorded as charged."""
        return self._resolved().spent

    @property
    def jobs(self) -> Mapping[str, JobState]:
        """Each job's lean state, in file order (journal additions last)."""
        return MappingProxyType(self._resolved().jobs)


def _file_identity(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise LockfileError(f"{path}: cannot read the lockfile: {exc.strerror or exc}") from exc
    return st.st_dev, st.st_ino, st.st_mtime_ns


def _mismatch(path: Path, recorded: str, wanted: str) -> LockfileMismatchError:
    return LockfileMismatchError(
        f"{path}: this lockfile belongs to the campaign {recorded!r}, not to {wanted!r} (the "
        "manifest's name); `run --adopt` takes it over (a campaign renamed on purpose), "
        "or give this manifest a lockfile of its own with --lockfile"
    )


def _read_consistent(path: Path) -> tuple[bytes | None, _Journal]:
    """The lockfile's bytes and its parsed journal, read so that the two agree (a run that
    compacts meanwhile makes it read both again)."""
    journal = journal_path(path)
    for _ in range(20):
        before = _file_identity(path)
        data = _read_bytes(path, "the lockfile")
        parsed = _read_journal(journal)
        if _file_identity(path) == before:
            break
        time.sleep(0.01)
    return data, parsed


def _folded(
    path: Path, loaded: _State | None, parsed: _Journal, manifest_name: str | None, lean: bool
) -> _State:
    state = loaded or _State(None, None, None, None, Spent(), {})
    if manifest_name is not None and state.name is not None and state.name != manifest_name:
        raise _mismatch(path, state.name, manifest_name)
    _fold(state, parsed.ops, lean)
    return state


def read_lockfile(
    path: str | os.PathLike[str], manifest_name: str | None = None
) -> LockfileSnapshot | None:
    """Read a lockfile and fold its journal in memory, without the lock and without writing.

    Works while a run holds the lock. None when there is neither a lockfile nor a journal with
    changes. Raises :class:`LockfileError` naming the file (and journal line) and the problem,
    and :class:`LockfileMismatchError` when ``manifest_name`` is given and the lockfile is
    another campaign's.
    """
    path = Path(path)
    data, parsed = _read_consistent(path)
    if data is None and not parsed.ops:
        return None
    loaded = None if data is None else _content(data, str(path))
    state = _folded(path, loaded, parsed, manifest_name, lean=False)
    return LockfileSnapshot(
        path,
        state.name,
        state.sha256,
        MappingProxyType(state.jobs),
        len(parsed.ops),
        state.nonce,
        state.output,
        state.spent,
    )


def read_lockfile_states(
    path: str | os.PathLike[str], manifest_name: str | None = None, *, background: bool = False
) -> LockfileStates | None:
    """:func:`read_lockfile` for ``plan``: each job's state and charges, spent and the top
    level, without building records (a 100,000-job lockfile reads in a fraction of the time).

    As strict where plan relies on it: conflict markers, duplicate keys anywhere, a top level
    or a state the schema does not know are refused alike, and ``submitting`` with a task id
    reads as ``submitted``. The rest of each entry (images, timestamps) is checked by
    :func:`read_lockfile` and :meth:`Lockfile.open`.

    With ``background``, a big lockfile is parsed in a forked child process while the caller
    goes on (``plan`` expands the manifest meanwhile); the result's properties wait for it and
    raise what the parse raised. Whether there is a lockfile (None) is known at once.
    """
    path = Path(path)
    data, parsed = _read_consistent(path)
    if data is None and not parsed.ops:
        return None
    where = str(path)
    content: Callable[[], _State | None]
    if data is None:
        content = lambda: None  # noqa: E731 - a journal without a lockfile
    elif background:
        content = _LeanInBackground(data, where).result
    else:
        loaded = _lean_content(data, where)
        content = lambda: loaded  # noqa: E731
    states = LockfileStates(
        path,
        lambda: _folded(path, content(), parsed, manifest_name, lean=True),
        len(parsed.ops),
    )
    if not background:
        states.jobs  # noqa: B018 - read now: errors are raised here, as by read_lockfile
    return states


# --------------------------------------------------------------------------------------------
# The run lock and its holder


def _command() -> str:
    """This process's command line for the journal header, without the API key (from the
    environment) or URL user-info."""
    argv = [os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "python"]
    argv += sys.argv[1:]
    return redact(" ".join(argv), [os.environ.get(_API_KEY_VARIABLE, "")])


def _header_bytes(holder: Mapping[str, Any]) -> bytes:
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


def _is_header_slot(line: bytes) -> bool:
    """Whether the journal's first line (without its newline) is a holder header: a valid one,
    or one being rewritten in place by a new holder (the same size)."""
    return _parse_header(line) is not None or len(line) == HEADER_SIZE - 1


def _describe_holder(holder: Mapping[str, Any] | None) -> str:
    if not holder:
        return "holder unknown"
    text = f"pid {holder.get('pid')} on {holder.get('host')}"
    if holder.get("host") == socket.gethostname() and not _pid_alive(holder.get("pid")):
        text += " (no longer running: a process it started may hold the lock)"
    if holder.get("since"):
        text += f" since {holder['since']}"
    if holder.get("command"):
        text += f": {holder['command']}"
    return text


def _pid_alive(pid: object) -> bool:
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists
        return True
    return True


def _read_holder(journal: Path) -> dict[str, Any] | None:
    """The holder header of a journal, once it names a live process (a new holder writes it
    right after taking the lock), or whatever is there after a short wait."""
    holder: dict[str, Any] | None = None
    deadline = time.monotonic() + 0.5
    while True:
        try:
            with open(journal, "rb") as file:
                line = file.read(HEADER_SIZE)
        except OSError:
            line = b""
        header = _parse_header(line.split(b"\n", 1)[0]) if b"\n" in line else None
        found = header.get("holder") if header else None
        holder = found if isinstance(found, dict) else holder
        local = holder is not None and holder.get("host") == socket.gethostname()
        if holder is not None and (not local or _pid_alive(holder.get("pid"))):
            return holder
        if time.monotonic() >= deadline:
            return holder
        time.sleep(0.02)


def lock_holder(lockfile_path: str | os.PathLike[str]) -> Holder | None:
    """Who holds the run lock of ``lockfile_path`` now; None when nobody does.

    Asks the OS, not the header: a non-blocking ``flock`` on a descriptor of its own, released
    at once. (``flock`` locks belong to an open file description, so this works in the holder's
    own process too, and closing the probe never drops a lock held elsewhere.) The header then
    says who it is; pid 0 and empty strings when it cannot be read.
    """
    from filelock import lock_descriptor, unlock_descriptor

    journal = journal_path(lockfile_path)
    try:
        fd = os.open(journal, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise LockfileError(f"{journal}: cannot read the journal: {exc.strerror or exc}") from exc
    try:
        if lock_descriptor(fd, blocking=False):
            unlock_descriptor(fd)
            return None
    except OSError as exc:
        raise LockfileError(f"{journal}: cannot check the lock: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)
    return _holder(_read_holder(journal))


def _holder(header: Mapping[str, Any] | None) -> Holder:
    found = header or {}
    pid = found.get("pid")
    return Holder(
        pid if isinstance(pid, int) and not isinstance(pid, bool) else 0,
        str(found.get("host") or ""),
        str(found.get("since") or ""),
        str(found.get("command") or ""),
    )


class _RunLock:
    """The OS lock on the journal, held through a descriptor this object owns and closes."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def release(self) -> None:
        from filelock import unlock_descriptor

        try:
            unlock_descriptor(self._fd)
        finally:
            os.close(self._fd)


def _header_writer(holder: Mapping[str, Any]) -> Callable[[int], None]:
    header = _header_bytes(holder)

    def write_header(fd: int) -> None:
        # Called with the locked descriptor, before open() goes on. Overwrites the previous
        # holder's header in place (or a header cut short by a crash, or fills an empty file);
        # leaves any other content alone, for open() to report.
        current = os.pread(fd, HEADER_SIZE, 0)
        first = current.split(b"\n", 1)[0]
        whole = len(first) == HEADER_SIZE - 1 and _parse_header(first) is not None
        if current and not whole and b"\n" in current:
            return
        os.pwrite(fd, header, 0)
        os.fsync(fd)

    return write_header


class _Syncer:
    """A thread that fdatasyncs the journal at most ``interval`` seconds after a change."""

    def __init__(self, fd: int, interval: float) -> None:
        self._fd = fd
        self._batch = max(0.0, min(interval / 4, 0.25))
        self._wake = threading.Condition()
        self._dirty = False
        self._stopping = False
        self.error: OSError | None = None
        self.syncs = 0
        self._thread = threading.Thread(target=self._run, name="lockfile-fsync", daemon=True)
        self._thread.start()

    def mark(self) -> None:
        with self._wake:
            self._dirty = True
            self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._dirty and not self._stopping:
                    self._wake.wait()
                if not self._dirty:
                    return
                deadline = time.monotonic() + self._batch
                while not self._stopping:  # gather a few more changes into this sync
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._wake.wait(remaining)
                self._dirty = False
            self.sync()

    def sync(self) -> None:
        try:
            _datasync(self._fd)
            self.syncs += 1
        except OSError as exc:
            self.error = exc

    def stop(self) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify()
        self._thread.join()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()


_datasync: Callable[[int], None] = getattr(os, "fdatasync", os.fsync)


_NOFOLLOW: Final = getattr(os, "O_NOFOLLOW", 0)


def _relative_output(out: Path, folder: Path) -> str:
    try:
        relative = os.path.relpath(out, folder)
    except ValueError:  # another drive: no relative path leads there
        return Path(os.path.abspath(out)).as_posix()
    return Path(relative).as_posix()


# --------------------------------------------------------------------------------------------
# The writable lockfile


class Lockfile:
    """A lockfile opened for a run: holds the run lock until :meth:`close`. A context manager.

    Open with :meth:`Lockfile.open`. ``jobs`` is a live read-only view, in file order (take a
    :meth:`snapshot` to iterate while other threads put). Every method is thread-safe. A change
    that cannot be written raises :class:`LockfileWriteError` and leaves memory as it was.
    """

    def __init__(
        self,
        path: Path,
        *,
        manifest_name: str,
        manifest_sha256: str,
        durable_within: float,
        lock: _RunLock,
        adopt: bool = False,
    ) -> None:
        self.path = path
        self.journal_path = journal_path(path)
        self.manifest_name = manifest_name
        self.manifest_sha256 = manifest_sha256
        self._lock = lock
        self._mutex = threading.RLock()
        self._closed = False
        self._jobs: dict[str, JobRecord] = {}
        self._nonce = ""
        self._spent = Spent()
        self._output: str | None = None
        self._fd = -1
        self._syncer: _Syncer | None = None
        self._dirty = False  # the lockfile on disk lacks changes that the journal has
        self._journal_size = HEADER_SIZE
        #: bytes written to the lockfile and the journal by this object (for benchmarks)
        self.bytes_written = 0
        self._load(durable_within, adopt)

    # -- opening -------------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        manifest_name: str,
        manifest_sha256: str,
        adopt: bool = False,
        durable_within: float = 1.0,
    ) -> Lockfile:
        """Take the run lock, load the lockfile, fold a leftover journal and save the result.

        Raises :class:`LockHeldError` at once (exit 4) when another process holds the lock,
        naming it; :class:`LockfileMismatchError` when the lockfile is another campaign's
        (another manifest name) unless ``adopt``, which takes it over under the new name;
        :class:`LockfileError` when the lockfile or journal is unreadable; and
        :class:`OutputError` (exit 1) when the journal (the lock) cannot be created or locked,
        as in a read-only folder.
        """
        from filelock import lock_descriptor

        if not durable_within > 0:
            raise ValueError("durable_within must be > 0")
        path = Path(path)
        journal = journal_path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError.from_os_error(path.parent, exc, "cannot create the folder") from exc
        holder = {"pid": os.getpid(), "host": socket.gethostname(), "command": _command()}
        holder["since"] = utc_now()
        # The lock is taken on a descriptor of our own, never through filelock's FileLock: some
        # of its versions truncate the file they lock, and this file is the journal.
        doing = "cannot create the journal (the run lock)"
        try:
            fd = os.open(journal, os.O_RDWR | os.O_CREAT | _NOFOLLOW, 0o644)
        except OSError as exc:
            raise OutputError.from_os_error(journal, exc, doing) from exc
        try:
            held = lock_descriptor(fd, blocking=False)
        except OSError as exc:
            os.close(fd)
            raise OutputError.from_os_error(journal, exc, "cannot lock the journal") from exc
        if not held:
            os.close(fd)
            raise LockHeldError(str(path), _describe_holder(_read_holder(journal)))
        lock = _RunLock(fd)
        try:
            _header_writer(holder)(fd)
        except OSError as exc:
            lock.release()
            raise OutputError.from_os_error(journal, exc, "cannot write the journal") from exc
        except BaseException:
            lock.release()
            raise
        try:
            return cls(
                path,
                manifest_name=manifest_name,
                manifest_sha256=manifest_sha256,
                durable_within=durable_within,
                lock=lock,
                adopt=adopt,
            )
        except BaseException:
            lock.release()
            raise

    def _load(self, durable_within: float, adopt: bool) -> None:
        loaded = _load_document(self.path)
        if loaded is not None and loaded.name != self.manifest_name and not adopt:
            raise _mismatch(self.path, str(loaded.name), self.manifest_name)
        parsed = _read_journal(self.journal_path)
        if parsed.header is None:  # the header writer wrote one unless the file is foreign
            raise LockfileError(f"{self.journal_path}:1: not a seedance-batch journal header")
        state = loaded or _State(None, None, None, None, Spent(), {})
        _fold(state, parsed.ops)
        self._jobs = state.jobs
        self._spent = state.spent
        self._output = state.output
        self._nonce = state.nonce or secrets.token_hex(8)
        self._remove_stale_temporaries()
        self._fd = self._open_journal()
        try:
            changed = (
                loaded is None
                or bool(parsed.ops)
                or parsed.torn
                or (loaded.name, loaded.sha256) != (self.manifest_name, self.manifest_sha256)
                or loaded.nonce is None
            )
            if changed:
                self._save()
            elif os.fstat(self._fd).st_size != HEADER_SIZE:
                self._cut_journal()
            self._syncer = _Syncer(self._fd, durable_within)
        except BaseException:
            os.close(self._fd)
            raise

    def _open_journal(self) -> int:
        try:
            return os.open(self.journal_path, os.O_WRONLY | os.O_APPEND | _NOFOLLOW)
        except OSError as exc:
            raise OutputError.from_os_error(
                self.journal_path, exc, "cannot open the journal"
            ) from exc

    def _remove_stale_temporaries(self) -> None:
        """Leftover temporaries of this lockfile's saves: ``.<name>.tmp-*`` (made by
        :func:`_files.atomic_write`) and ``<name>.tmp-*`` (the older naming)."""
        name = self.path.name
        prefixes = (f".{name}{_files.TEMPORARY_MARK}", f"{name}{_files.TEMPORARY_MARK}")
        with contextlib.suppress(OSError):
            for entry in os.scandir(self.path.parent):
                if entry.name.startswith(prefixes) and (
                    _files.is_temporary(entry.name) or entry.name.startswith(prefixes[1])
                ):
                    with contextlib.suppress(OSError):
                        os.unlink(entry.path)

    # -- reading -------------------------------------------------------------------------------

    @property
    def jobs(self) -> Mapping[str, JobRecord]:
        """Every record, in file order: a live, read-only view."""
        return MappingProxyType(self._jobs)

    @property
    def nonce(self) -> str:
        """The campaign's random nonce (16 hex digits), made with the lockfile and kept."""
        return self._nonce

    @property
    def spent(self) -> Spent:
        """Everything this lockfile has recorded as charged; only grows."""
        return self._spent

    @property
    def output(self) -> str | None:
        """The output folder of its runs, relative to the lockfile's folder, ``/``-separated
        (absolute when it cannot be made relative); None before a run recorded one."""
        return self._output

    def idempotency_key(self, record: JobRecord) -> str:
        """The ``Idempotency-Key`` of ``record``'s current create:
        ``<nonce>-<job id>-<attempt>``."""
        return f"{self._nonce}-{record.id}-{record.attempts}"

    def get(self, job_id: str) -> JobRecord | None:
        """The record of ``job_id``, or None."""
        return self._jobs.get(job_id)

    def snapshot(self) -> LockfileSnapshot:
        """A frozen copy of the current state."""
        with self._mutex:
            jobs = MappingProxyType(dict(self._jobs))
            return LockfileSnapshot(
                self.path,
                self.manifest_name,
                self.manifest_sha256,
                jobs,
                0,
                self._nonce,
                self._output,
                self._spent,
            )

    # -- changing ------------------------------------------------------------------------------

    def put(self, record: JobRecord, *, sync: bool = False) -> None:
        """Record one job's new state: one journal line, on disk within ``durable_within`` s.

        When this returns, the change survives a ``kill -9`` of this process; ``sync=True``
        also waits for the disk (``fdatasync``). A record equal to the current one writes
        nothing. A rise of its ``credits_charged`` or ``possible_double_charges`` adds to
        :attr:`spent`. Raises ``ValueError`` for a record the schema would refuse, and
        :class:`LockfileWriteError` when the journal cannot be written (memory unchanged).
        """
        entry = record.to_json()
        if (problem := _record_problem(record, entry)) is not None:
            raise ValueError(f"invalid lockfile record {record.id!r}: {problem}")
        with self._mutex:
            self._check_open()
            previous = self._jobs.get(record.id)
            if previous == record:
                return
            spent_before = self._spent
            spent = spent_before.plus_rise(previous, record)
            line = _compact({"put": record.id, "record": entry, "spent": spent.to_json()})
            self._jobs[record.id] = record  # first: an interrupt after the write keeps it
            self._spent = spent
            try:
                self._append((line + "\n").encode("utf-8"))
            except BaseException:
                if previous is None:
                    self._jobs.pop(record.id, None)
                else:
                    self._jobs[record.id] = previous
                self._spent = spent_before
                raise
        self._after_change(sync)

    def remove(self, ids: Iterable[str], *, sync: bool = False) -> None:
        """Drop the entries of ``ids`` (for ``prune``); unknown ids are ignored. What they
        cost stays in :attr:`spent`."""
        with self._mutex:
            self._check_open()
            present = [job_id for job_id in dict.fromkeys(ids) if job_id in self._jobs]
            if not present:
                return
            self._append((_compact({"remove": present}) + "\n").encode("utf-8"))
            for job_id in present:
                del self._jobs[job_id]
        self._after_change(sync)

    def set_output(self, out: Path, *, sync: bool = False) -> None:
        """Record the output folder of this run (relative to the lockfile's folder, with
        ``/``; absolute when no relative path leads there), written like any change."""
        output = _relative_output(Path(out), self.path.parent)
        with self._mutex:
            self._check_open()
            if output == self._output:
                return
            self._append((_compact({"output": output}) + "\n").encode("utf-8"))
            self._output = output
        self._after_change(sync)

    def adopt_plan(self, planned: Iterable[PlannedJob]) -> None:
        """Make the lockfile follow the plan: a ``new`` entry for each planned job it lacks,
        ``job`` and ``variant`` labels refreshed, planned jobs first in plan order, orphans
        after in their previous order. Rewrites the lockfile only when something changed.
        """
        with self._mutex:
            self._check_open()
            order: list[str] = []
            changed = False
            for job in planned:
                order.append(job.id)
                current = self._jobs.get(job.id)
                if current is None:
                    record = JobRecord(
                        job.id, job.job, dict(job.variant), job.repeat, dict(job.request)
                    )
                    if (problem := _record_problem(record, record.to_json())) is not None:
                        raise ValueError(f"invalid planned job {job.id!r}: {problem}")
                    self._jobs[job.id] = record
                    changed = True
                elif current.job != job.job or dict(current.variant) != dict(job.variant):
                    self._jobs[job.id] = current.replace(job=job.job, variant=dict(job.variant))
                    changed = True
            if changed or self._reordered(order) != list(self._jobs):
                self.compact(order)

    def compact(self, order: Sequence[str] | None = None) -> None:
        """Rewrite the lockfile atomically with every change folded in, then cut the journal.

        With ``order``: those ids first, in that order (unknown ones skipped), then every other
        entry in its previous order.
        """
        with self._mutex:
            self._check_open()
            if order is not None:
                reordered = {job_id: self._jobs[job_id] for job_id in self._reordered(order)}
                self._jobs.clear()  # in place: views handed out by `jobs` stay live
                self._jobs.update(reordered)
            self._save()

    def sync(self) -> None:
        """Wait until every change so far is on disk."""
        with self._mutex:
            self._check_open()
            try:
                _datasync(self._fd)
            except OSError as exc:
                raise self._write_error(self.journal_path, exc, "cannot sync the journal") from exc

    def close(self) -> None:
        """Fold the journal into the lockfile (if anything changed) and release the lock."""
        with self._mutex:
            if self._closed:
                return
            self._closed = True
            try:
                if self._syncer is not None:
                    self._syncer.stop()
                if self._dirty:
                    self._save()
            finally:
                try:
                    if self._dirty:  # the save failed: the journal must hold everything
                        with contextlib.suppress(OSError):
                            _datasync(self._fd)
                    os.close(self._fd)
                finally:
                    self._lock.release()

    def __enter__(self) -> Lockfile:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` ran (the lock is released)."""
        return self._closed

    # -- internals -----------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise LockfileError(f"{self.path}: the lockfile is closed")
        if self._syncer is not None and self._syncer.error is not None:
            error = self._syncer.error
            raise self._write_error(self.journal_path, error, "cannot sync the journal")

    @staticmethod
    def _write_error(path: Path, exc: OSError, doing: str) -> LockfileWriteError:
        reason = exc.strerror or str(exc) or type(exc).__name__
        return LockfileWriteError(str(path), f"{doing}: {reason}")

    def _reordered(self, order: Iterable[str]) -> list[str]:
        jobs = self._jobs
        first = [job_id for job_id in dict.fromkeys(order) if job_id in jobs]
        chosen = set(first)
        return first + [job_id for job_id in jobs if job_id not in chosen]

    def _append(self, data: bytes) -> None:
        # One write, normally; a short one (a disk filling up) is completed or, when the rest
        # fails too, cut off again so that no torn line stays in the middle of the journal.
        size = self._journal_size
        view = memoryview(data)
        try:
            while view:
                written = os.write(self._fd, view)
                if written == 0:
                    raise OSError(28, os.strerror(28))  # ENOSPC, as a write of 0 bytes means
                view = view[written:]
        except OSError as exc:
            self._repair(size)
            raise self._write_error(self.journal_path, exc, "cannot write the journal") from exc
        self._journal_size = size + len(data)
        self.bytes_written += len(data)
        self._dirty = True

    def _repair(self, size: int) -> None:
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, size)

    def _after_change(self, sync: bool) -> None:
        if sync:
            self.sync()
        elif self._syncer is not None:
            self._syncer.mark()

    def _save(self) -> None:
        data = render_lockfile(
            self.manifest_name,
            self.manifest_sha256,
            self._jobs.values(),
            nonce=self._nonce,
            output=self._output,
            spent=self._spent,
        )
        try:
            _files.atomic_write(self.path, data, what="the lockfile")
        except OutputError as exc:
            raise LockfileWriteError(exc.path, exc.reason) from exc
        self.bytes_written += len(data)
        self._cut_journal()
        self._dirty = False

    def _cut_journal(self) -> None:
        # After the lockfile holds every change. A crash before this line is harmless: folding
        # the journal again over the new lockfile gives the same state.
        try:
            os.ftruncate(self._fd, HEADER_SIZE)
            _datasync(self._fd)
        except OSError as exc:
            raise self._write_error(self.journal_path, exc, "cannot cut the journal") from exc
        self._journal_size = HEADER_SIZE
