"""The lockfile: a campaign's resumable state (contract, section 5).

``spring.lock.json`` sits beside ``spring.yaml``: ``{"version": 1, "manifest": {"name", "sha256"},
"jobs": {ID: {...}}}``, pretty-printed with a fixed key order, planned jobs in plan order, then the
orphans. It is committed with the manifest and validated against ``schemas/lockfile.schema.json``.

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

POSIX only (``flock``, ``pread``/``pwrite``), like the rest of the tool's file handling.

Loading validates with a hand-written check that mirrors the schema (the tests hold the two in
agreement); jsonschema itself, which takes seconds over 10,000 entries, only words the error.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import re
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Any, Final, Literal, Protocol, get_args

from seedance_batch._errors import LockfileError, LockfileWriteError, LockHeldError

__all__ = [
    "HEADER_SIZE",
    "LOCKFILE_VERSION",
    "STATES",
    "ImageRecord",
    "JobRecord",
    "Lockfile",
    "LockfileSnapshot",
    "PlannedJob",
    "State",
    "default_lockfile_path",
    "journal_path",
    "read_lockfile",
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


def schema_path() -> Path:
    """Where ``lockfile.schema.json`` is (``seedance_batch/schemas`` links to ``schemas/``)."""
    return Path(__file__).resolve().parent / "schemas" / "lockfile.schema.json"


# --------------------------------------------------------------------------------------------
# Records


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
    sent again after an attempt that may have reached the API.
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
    task_missing: int = 0  # STUB of LOCK's interface 1 (EXEC branch): runs whose poll got 404

    def replace(self, **changes: Any) -> JobRecord:
        """A copy with ``changes`` applied (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)

    @property
    def idempotency_key(self) -> str:
        """The ``Idempotency-Key`` of the create for the current attempt: ``<id>-<attempts>``."""
        return f"{self.id}-{self.attempts}"

    def to_json(self) -> dict[str, Any]:
        """The entry as written under ``jobs[id]``, in the file's field order (no ``id``)."""
        variant, request = self.variant, self.request
        return {
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
        } | ({"task_missing": self.task_missing} if self.task_missing else {})

    @classmethod
    def from_json(cls, job_id: str, entry: Mapping[str, Any]) -> JobRecord:
        """Build a record from a lockfile entry (already checked: see :func:`_job_problem`)."""
        return cls(
            id=job_id,
            job=entry["job"],
            variant=entry["variant"],
            repeat=entry["repeat"],
            request=entry["request"],
            state=entry["state"],
            task_id=entry["task_id"],
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


@dataclass(frozen=True)
class Spent:
    """STUB of LOCK's interface 1: what a campaign was ever charged."""

    credits: int
    possible_double_charges: int


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
    if not isinstance(doc, dict):
        return None, "the lockfile is not a JSON object"
    for name in ("version", "manifest", "jobs"):
        if name not in doc:
            return None, f"'{name}' is a required property"
    if len(doc) != 3:
        extra = sorted(set(doc) - {"version", "manifest", "jobs"})
        return None, f"unexpected properties: {', '.join(extra)}"
    version = doc["version"]
    if version != LOCKFILE_VERSION or isinstance(version, bool):
        return None, f"version: {version!r} is not supported (this tool reads version 1)"
    manifest = doc["manifest"]
    if not isinstance(manifest, dict) or set(manifest) != {"name", "sha256"}:
        return None, "manifest: must be an object with exactly 'name' and 'sha256'"
    name, sha = manifest["name"], manifest["sha256"]
    if not isinstance(name, str) or _SLUG.match(name) is None:
        return None, f"manifest.name: {name!r} is not a manifest name (a slug)"
    if not isinstance(sha, str) or _SHA256.match(sha) is None:
        return None, "manifest.sha256: must be 64 lowercase hex digits"
    jobs = doc["jobs"]
    if not isinstance(jobs, dict):
        return None, "jobs: must be an object"
    for job_id, entry in jobs.items():
        if _JOB_ID.match(job_id) is None:
            return job_id, f"jobs: {job_id!r} is not a job id (16 lowercase hex digits)"
        if (problem := _job_problem(entry)) is not None:
            return job_id, f"jobs.{job_id}: {problem}"
    return None


_validators: dict[str, Any] = {}


def _validator(kind: str) -> Any:
    """jsonschema's Draft202012Validator for the whole document or for ``$defs/job``."""
    if not _validators:
        import jsonschema

        schema = json.loads(schema_path().read_text(encoding="utf-8"))
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


def render_lockfile(manifest_name: str, manifest_sha256: str, jobs: Iterable[JobRecord]) -> bytes:
    """The lockfile's bytes: 2-space indented JSON, fixed key order, a trailing newline.

    Byte for byte what ``json.dumps(document, indent=2, ensure_ascii=False) + "\\n"`` gives, but
    faster: each job is rendered on its own.
    """
    out = [
        '{\n  "version": 1,\n  "manifest": {\n    "name": ',
        _scalar(manifest_name),
        ',\n    "sha256": ',
        _scalar(manifest_sha256),
        '\n  },\n  "jobs": ',
    ]
    first = True
    for record in jobs:
        out.append("{\n    " if first else ",\n    ")
        first = False
        out.append(_scalar(record.id))
        out.append(": ")
        _pretty(record.to_json(), "    ", out)
    out.append("{}\n}\n" if first else "\n  }\n}\n")
    return "".join(out).encode("utf-8")


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory descriptors
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some filesystems refuse
        pass
    finally:
        os.close(fd)


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a crash leaves the old file or the new one, whole."""
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    try:
        try:
            mode = os.stat(path).st_mode & 0o7777
        except FileNotFoundError:
            mode = None
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        try:
            if mode is not None:
                with contextlib.suppress(OSError):
                    os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise LockfileError(f"{path}: cannot write the lockfile: {exc.strerror or exc}") from exc
    _fsync_directory(path.parent)


# --------------------------------------------------------------------------------------------
# Reading


def _load_document(path: Path) -> tuple[str, str, dict[str, JobRecord]] | None:
    """The lockfile's manifest name, hash and records, or None when there is no file."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise LockfileError(f"{path}: cannot read the lockfile: {exc.strerror or exc}") from exc
    try:
        doc = json.loads(data)
    except ValueError as exc:
        raise LockfileError(f"{path}: not valid JSON: {exc}") from exc
    _check_document(doc, str(path))
    from_json = JobRecord.from_json
    jobs = {job_id: from_json(job_id, entry) for job_id, entry in doc["jobs"].items()}
    return doc["manifest"]["name"], doc["manifest"]["sha256"], jobs


@dataclass(frozen=True)
class _Journal:
    """A parsed journal: its operations, whether its tail is torn, its header."""

    ops: list[tuple[str, Any]]
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
    ops: list[tuple[str, Any]] = []
    lines = data[newline + 1 :].split(b"\n")
    tail = lines.pop()  # after the last newline: empty, or a line cut short by a crash
    torn = bool(tail)
    last = len(lines) - 1
    for index, raw in enumerate(lines):
        lineno = index + 2
        try:
            entry = json.loads(raw)
        except ValueError as exc:
            if index == last and not torn:  # the last line, garbled by a crash: ignore it
                torn = True
                break
            raise LockfileError(f"{where}:{lineno}: not valid JSON: {exc}") from exc
        ops.append(_journal_op(entry, f"{where}:{lineno}"))
    return _Journal(ops, torn, header)


def _journal_op(entry: Any, where: str) -> tuple[str, Any]:
    if isinstance(entry, dict) and set(entry) == {"put", "record"}:
        job_id = entry["put"]
        if not isinstance(job_id, str) or _JOB_ID.match(job_id) is None:
            raise LockfileError(f"{where}: {job_id!r} is not a job id")
        if (problem := _job_problem(entry["record"])) is not None:
            message = _schema_message(entry["record"], "job", "record") or f"record: {problem}"
            raise LockfileError(f"{where}: {job_id}: {message}")
        return "put", JobRecord.from_json(job_id, entry["record"])
    if isinstance(entry, dict) and set(entry) == {"remove"}:
        ids = entry["remove"]
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise LockfileError(f"{where}: 'remove' must be a list of job ids")
        return "remove", ids
    raise LockfileError(f"{where}: not a journal entry (expected 'put' and 'record', or 'remove')")


def _fold(jobs: dict[str, JobRecord], ops: Iterable[tuple[str, Any]]) -> None:
    for kind, value in ops:
        if kind == "put":
            jobs[value.id] = value
        else:
            for job_id in value:
                jobs.pop(job_id, None)


def _read_journal(path: Path) -> _Journal:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return _Journal([], False, None)
    except OSError as exc:
        raise LockfileError(f"{path}: cannot read the journal: {exc.strerror or exc}") from exc
    return _parse_journal(data, str(path))


@dataclass(frozen=True)
class LockfileSnapshot:
    """A read-only view of a lockfile with its journal folded in, for ``plan`` and ``status``.

    ``jobs`` is in file order (journal additions last). ``journal_entries`` counts the changes
    found in the journal: a run is in progress, or was interrupted and the next one folds them.
    """

    path: Path
    manifest_name: str | None
    manifest_sha256: str | None
    jobs: Mapping[str, JobRecord]
    journal_entries: int = 0


def _file_identity(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise LockfileError(f"{path}: cannot read the lockfile: {exc.strerror or exc}") from exc
    return st.st_dev, st.st_ino, st.st_mtime_ns


def read_lockfile(path: str | os.PathLike[str]) -> LockfileSnapshot | None:
    """Read a lockfile and fold its journal in memory, without the lock and without writing.

    Works while a run holds the lock. None when there is neither a lockfile nor a journal with
    changes. Raises :class:`LockfileError` naming the file (and journal line) and the problem.
    """
    path = Path(path)
    journal = journal_path(path)
    for _ in range(20):
        before = _file_identity(path)
        loaded = _load_document(path)
        parsed = _read_journal(journal)
        if _file_identity(path) == before:  # not compacted meanwhile: the two agree
            break
        time.sleep(0.01)
    if loaded is None and not parsed.ops:
        return None
    name, sha, jobs = loaded if loaded is not None else (None, None, {})
    _fold(jobs, parsed.ops)
    return LockfileSnapshot(path, name, sha, MappingProxyType(jobs), len(parsed.ops))


# --------------------------------------------------------------------------------------------
# The run lock and its holder


def _command() -> str:
    argv = [os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "python"]
    argv += sys.argv[1:]
    return " ".join(argv)


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


# --------------------------------------------------------------------------------------------
# The writable lockfile


class Lockfile:
    """A lockfile opened for a run: holds the run lock until :meth:`close`. A context manager.

    Open with :meth:`Lockfile.open`. ``jobs`` is a live read-only view, in file order (take a
    :meth:`snapshot` to iterate while other threads put). Every method is thread-safe.
    """

    def __init__(
        self,
        path: Path,
        *,
        manifest_name: str,
        manifest_sha256: str,
        durable_within: float,
        lock: _RunLock,
    ) -> None:
        self.path = path
        self.journal_path = journal_path(path)
        self.manifest_name = manifest_name
        self.manifest_sha256 = manifest_sha256
        self._lock = lock
        self._mutex = threading.RLock()
        self._closed = False
        self._jobs: dict[str, JobRecord] = {}
        self._fd = -1
        self._syncer: _Syncer | None = None
        self._dirty = False  # the lockfile on disk lacks changes that the journal has
        self._journal_size = HEADER_SIZE
        #: bytes written to the lockfile and the journal by this object (for benchmarks)
        self.bytes_written = 0
        self._output_stub: str | None = None  # STUB of LOCK's interface 1 (EXEC branch)
        self._load(durable_within)

    # -- opening -------------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        manifest_name: str,
        manifest_sha256: str,
        durable_within: float = 1.0,
        adopt: bool = False,  # STUB of LOCK's interface 1 (EXEC branch): not checked here
    ) -> Lockfile:
        """Take the run lock, load the lockfile, fold a leftover journal and save the result.

        Raises :class:`LockHeldError` at once (exit 4) when another process holds the lock,
        naming it, and :class:`LockfileError` when the lockfile or journal is unreadable.
        """
        from filelock import lock_descriptor

        if not durable_within > 0:
            raise ValueError("durable_within must be > 0")
        path = Path(path)
        journal = journal_path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LockfileError(f"{path}: cannot create its folder: {exc.strerror or exc}") from exc
        holder = {"pid": os.getpid(), "host": socket.gethostname(), "command": _command()}
        holder["since"] = utc_now()
        # The lock is taken on a descriptor of our own, never through filelock's FileLock: some
        # of its versions truncate the file they lock, and this file is the journal.
        try:
            fd = os.open(journal, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise LockfileError(f"{journal}: cannot lock: {exc.strerror or exc}") from exc
        try:
            held = lock_descriptor(fd, blocking=False)
        except OSError as exc:
            os.close(fd)
            raise LockfileError(f"{journal}: cannot lock: {exc.strerror or exc}") from exc
        if not held:
            os.close(fd)
            raise LockHeldError(str(path), _describe_holder(_read_holder(journal)))
        lock = _RunLock(fd)
        try:
            _header_writer(holder)(fd)
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
            )
        except BaseException:
            lock.release()
            raise

    def _load(self, durable_within: float) -> None:
        loaded = _load_document(self.path)
        parsed = _read_journal(self.journal_path)
        if parsed.header is None:  # filelock's callback wrote one unless the file is foreign
            raise LockfileError(f"{self.journal_path}:1: not a seedance-batch journal header")
        jobs = loaded[2] if loaded is not None else {}
        _fold(jobs, parsed.ops)
        self._jobs = jobs
        self._remove_stale_temporaries()
        self._fd = self._open_journal()
        try:
            changed = (
                loaded is None
                or bool(parsed.ops)
                or parsed.torn
                or (loaded[0], loaded[1]) != (self.manifest_name, self.manifest_sha256)
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
            return os.open(self.journal_path, os.O_WRONLY | os.O_APPEND)
        except OSError as exc:
            raise LockfileError(
                f"{self.journal_path}: cannot open the journal: {exc.strerror or exc}"
            ) from exc

    def _remove_stale_temporaries(self) -> None:
        prefix = f"{self.path.name}.tmp-"
        with contextlib.suppress(OSError):
            for entry in os.scandir(self.path.parent):
                if entry.name.startswith(prefix):
                    with contextlib.suppress(OSError):
                        os.unlink(entry.path)

    # -- reading -------------------------------------------------------------------------------

    @property
    def jobs(self) -> Mapping[str, JobRecord]:
        """Every record, in file order: a live, read-only view."""
        return MappingProxyType(self._jobs)

    def get(self, job_id: str) -> JobRecord | None:
        """The record of ``job_id``, or None."""
        return self._jobs.get(job_id)

    def snapshot(self) -> LockfileSnapshot:
        """A frozen copy of the current state."""
        with self._mutex:
            jobs = MappingProxyType(dict(self._jobs))
        return LockfileSnapshot(self.path, self.manifest_name, self.manifest_sha256, jobs, 0)

    # -- STUBS of LOCK's interface 1 (EXEC branch only; LOCK's real ones replace them) --------

    @property
    def nonce(self) -> str:
        """STUB: stable per campaign name (LOCK's is random and kept in the lockfile)."""
        return hashlib.sha256(self.manifest_name.encode()).hexdigest()[:16]

    def idempotency_key(self, record: JobRecord) -> str:
        """``<nonce>-<job id>-<attempt>``."""
        return f"{self.nonce}-{record.id}-{record.attempts}"

    @property
    def spent(self) -> Spent:
        """STUB: the sum over the records (LOCK's only grows and survives prune)."""
        jobs = list(self._jobs.values())
        return Spent(
            sum(r.credits_charged for r in jobs), sum(r.possible_double_charges for r in jobs)
        )

    @property
    def output(self) -> str | None:
        """STUB: in memory only (LOCK's is kept in the lockfile)."""
        return self._output_stub

    def set_output(self, out: Path) -> None:
        """STUB: in memory only."""
        self._output_stub = os.path.relpath(out, self.path.parent).replace(os.sep, "/")

    # -- changing ------------------------------------------------------------------------------

    def put(self, record: JobRecord, *, sync: bool = False) -> None:
        """Record one job's new state: one journal line, on disk within ``durable_within`` s.

        When this returns, the change survives a ``kill -9`` of this process; ``sync=True``
        also waits for the disk (``fdatasync``). A record equal to the current one writes
        nothing. Raises ``ValueError`` for a record the schema would refuse.
        """
        entry = record.to_json()
        if (problem := _record_problem(record, entry)) is not None:
            raise ValueError(f"invalid lockfile record {record.id!r}: {problem}")
        line = _compact({"put": record.id, "record": entry}) + "\n"
        with self._mutex:
            self._check_open()
            previous = self._jobs.get(record.id)
            if previous == record:
                return
            self._jobs[record.id] = record  # first: an interrupt after the write keeps it
            try:
                self._append(line.encode("utf-8"))
            except BaseException:
                if previous is None:
                    self._jobs.pop(record.id, None)
                else:
                    self._jobs[record.id] = previous
                raise
        self._after_change(sync)

    def remove(self, ids: Iterable[str], *, sync: bool = False) -> None:
        """Drop the entries of ``ids`` (for ``prune``); unknown ids are ignored."""
        with self._mutex:
            self._check_open()
            present = [job_id for job_id in dict.fromkeys(ids) if job_id in self._jobs]
            if not present:
                return
            self._append((_compact({"remove": present}) + "\n").encode("utf-8"))
            for job_id in present:
                del self._jobs[job_id]
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
                raise LockfileError(f"{self.journal_path}: cannot sync: {exc.strerror}") from exc

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
            raise LockfileError(f"{self.journal_path}: cannot sync: {error.strerror or error}")

    def _reordered(self, order: Iterable[str]) -> list[str]:
        jobs = self._jobs
        first = [job_id for job_id in dict.fromkeys(order) if job_id in jobs]
        chosen = set(first)
        return first + [job_id for job_id in jobs if job_id not in chosen]

    def _append(self, data: bytes) -> None:
        size = self._journal_size
        try:
            written = os.write(self._fd, data)
        except OSError as exc:
            self._repair(size)
            # STUB of LOCK's interface 1 (EXEC branch): a journal write failure is no bad input
            raise LockfileWriteError(
                str(self.journal_path), f"cannot write: {exc.strerror}"
            ) from exc
        if written != len(data):
            self._repair(size)
            raise LockfileWriteError(
                str(self.journal_path), "cannot write: short write (disk full?)"
            )
        self._journal_size = size + written
        self.bytes_written += written
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
        data = render_lockfile(self.manifest_name, self.manifest_sha256, self._jobs.values())
        _atomic_write(self.path, data)
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
            raise LockfileError(f"{self.journal_path}: cannot cut: {exc.strerror}") from exc
        self._journal_size = HEADER_SIZE
