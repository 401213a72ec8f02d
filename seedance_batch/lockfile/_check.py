"""The fast check beside ``lockfile.schema.json``: hand-written, it refuses what the schema refuses.

Loading a lockfile checks every entry; jsonschema itself takes seconds over 10,000 of them, so
this module's functions mirror the schema (``tests/test_fast_paths.py`` holds the two in
agreement, with a property test), and jsonschema is asked only to word a problem found.
"""

from __future__ import annotations

import re
import sys
from typing import TYPE_CHECKING, Any, Final

from seedance_batch._errors import LockfileError
from seedance_batch._schemas import load_schema, schema_resource
from seedance_batch._states import STATES, WITH_TASK_ID
from seedance_batch.lockfile._records import ImageRecord, JobRecord, TakeRecord

if TYPE_CHECKING:
    if sys.version_info >= (3, 11):
        from importlib.resources.abc import Traversable
    else:
        from importlib.abc import Traversable

__all__ = [
    "JOB_ID",
    "LOCKFILE_VERSION",
    "check_document",
    "document_problem",
    "is_count",
    "job_problem",
    "record_problem",
    "schema_message",
    "schema_path",
    "spent_problem",
    "top_problem",
]

LOCKFILE_VERSION: Final = 1
#: A job id: 16 lowercase hex digits.
JOB_ID: Final = re.compile(r"[0-9a-f]{16}\Z")

_STATE_SET: Final = frozenset(STATES)
_SLUG: Final = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}\Z")
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
#: Task ids of the job made from other lockfiles (shards) and folded in by ``merge``.
_OTHER_TASKS: Final = "other_tasks"
_TAKE_FIELDS: Final = (
    "take",
    "task_id",
    "state",
    "attempts",
    "submitted_at",
    "finished_at",
    "images",
    "error",
)
_ALL_FIELDS: Final = frozenset(
    (*_REQUIRED_FIELDS, *_OPTIONAL_FIELDS, _OTHER_TASKS, "takes", "nonce")
)
_IMAGE_FIELDS: Final = ("url", "path", "sha256", "bytes")
_TOP_REQUIRED: Final = ("version", "manifest", "jobs")
_TOP_FIELDS: Final = frozenset({*_TOP_REQUIRED, "nonce", "output", "spent"})
_NONCE: Final = re.compile(r"[0-9a-f]{16}\Z")


def schema_path() -> Traversable:
    """The package resource ``seedance_batch/schemas/lockfile.schema.json`` (``read_text``)."""
    return schema_resource("lockfile")


def is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_timestamp(value: object) -> bool:
    return value is None or (isinstance(value, str) and _TIMESTAMP.match(value) is not None)


def _exact_fields_problem(value: object, fields: tuple[str, ...]) -> str | None:
    """What keeps ``value`` from being an object of exactly ``fields``, or None."""
    if not isinstance(value, dict):
        return "is not an object"
    for name in fields:
        if name not in value:
            return f"'{name}' is a required property"
    if len(value) != len(fields):
        extra = sorted(set(value) - set(fields))
        return f"unexpected properties: {', '.join(extra)}"
    return None


def _image_problem(image: object) -> str | None:
    if (problem := _exact_fields_problem(image, _IMAGE_FIELDS)) is not None:
        return problem
    assert isinstance(image, dict)
    url, path, sha, size = image["url"], image["path"], image["sha256"], image["bytes"]
    if not isinstance(url, str) or not url:
        return "url: must be a non-empty string"
    if not isinstance(path, str) or not path:
        return "path: must be a non-empty string"
    if not isinstance(sha, str) or _SHA256.match(sha) is None:
        return "sha256: must be 64 lowercase hex digits"
    if not is_count(size):
        return "bytes: must be an integer >= 0"
    return None


def job_problem(entry: object) -> str | None:
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
    if not is_count(entry["repeat"]):
        return "repeat: must be an integer >= 0"
    request = entry["request"]
    if not isinstance(request, dict):
        return "request: must be an object"
    if not isinstance(request.get("prompt"), str):
        return "request: 'prompt' is a required string"
    if not _CREDENTIAL_KEYS.isdisjoint(request):
        return "request: holds a credential; the lockfile never stores one"
    return _changing_problem(entry)


def _changing_problem(entry: dict[str, Any]) -> str | None:
    """What is wrong with the fields of an entry that change as its job goes, or None."""
    if (problem := _progress_problem(entry)) is not None:
        return problem
    for name in _OPTIONAL_FIELDS:
        if name in entry and not is_count(entry[name]):
            return f"{name}: must be an integer >= 0"
    if "takes" in entry:
        return _takes_problem(entry["takes"])
    return None


def _takes_problem(takes: object) -> str | None:
    """What is wrong with a job's ``takes``, or None. Mirrors ``$defs/take`` of the schema."""
    if not isinstance(takes, list):
        return "takes: must be an array"
    for index, take in enumerate(takes):
        if (problem := _exact_fields_problem(take, _TAKE_FIELDS)) is not None:
            return f"takes[{index}]: {problem}"
        assert isinstance(take, dict)
        number = take["take"]
        if not is_count(number) or number < 1:
            return f"takes[{index}]: take: must be an integer >= 1"
        if (problem := _progress_problem(take)) is not None:
            return f"takes[{index}]: {problem}"
    return None


def _progress_problem(entry: dict[str, Any]) -> str | None:
    """What is wrong with how far a job or take got (state, task, attempts, times, images,
    error), or None."""
    state = entry["state"]
    if not isinstance(state, str) or state not in _STATE_SET:
        return f"state: {state!r} is not one of {', '.join(STATES)}"
    task_id = entry["task_id"]
    if task_id is None:
        if state in WITH_TASK_ID:
            return f"task_id: a job in state {state} must have a task id"
    elif not isinstance(task_id, str) or not task_id:
        return "task_id: must be a non-empty string or null"
    if not is_count(entry["attempts"]):
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
    others = entry.get(_OTHER_TASKS, ())
    if not isinstance(others, (list, tuple)) or not all(isinstance(t, str) and t for t in others):
        return f"{_OTHER_TASKS}: must be an array of non-empty strings"
    if "nonce" in entry and not _is_nonce(entry["nonce"]):
        return f"nonce: {entry['nonce']!r} is not 16 lowercase hex digits"
    return None


def _is_nonce(value: object) -> bool:
    return isinstance(value, str) and _NONCE.match(value) is not None


def document_problem(doc: object) -> tuple[str | None, str] | None:
    """The first problem of a lockfile document as (job id or None, message), or None."""
    found = top_problem(doc)
    if found is not None or not isinstance(doc, dict):
        return None, found or "the lockfile is not a JSON object"
    jobs = doc["jobs"]
    for job_id, entry in jobs.items():
        if JOB_ID.match(job_id) is None:
            return job_id, f"jobs: {job_id!r} is not a job id (16 lowercase hex digits)"
        if (problem := job_problem(entry)) is not None:
            return job_id, f"jobs.{job_id}: {problem}"
    return None


def spent_problem(spent: object) -> str | None:
    if not isinstance(spent, dict) or set(spent) != {"credits", "possible_double_charges"}:
        return "spent: must be an object with exactly 'credits' and 'possible_double_charges'"
    if not all(is_count(v) for v in spent.values()):
        return "spent: credits and possible_double_charges must be integers >= 0"
    return None


def top_problem(doc: object) -> str | None:
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
    if "nonce" in doc and not _is_nonce(nonce):
        return f"nonce: {nonce!r} is not 16 lowercase hex digits"
    output = doc.get("output")
    if output is not None and (not isinstance(output, str) or not output):
        return "output: must be a non-empty string or null"
    if "spent" in doc and (problem := spent_problem(doc["spent"])) is not None:
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


def schema_message(instance: Any, kind: str, prefix: str = "") -> str | None:
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


def check_document(doc: Any, where: str) -> None:
    """Raise :class:`LockfileError` naming ``where`` and the first problem of ``doc``."""
    found = document_problem(doc)
    if found is None:
        return
    job_id, message = found
    if job_id is not None and JOB_ID.match(job_id):  # one entry is wrong: word just that one
        words = schema_message(doc["jobs"][job_id], "job", f"jobs.{job_id}")
    else:
        jobs = doc.get("jobs") if isinstance(doc, dict) else None
        part = (
            {**doc, "jobs": {job_id: jobs[job_id]} if job_id else {}}
            if isinstance(jobs, dict)
            else doc
        )
        words = schema_message(part, "document")
    raise LockfileError(f"{where}: {words or message}")


def record_problem(
    record: JobRecord, entry: dict[str, Any], *, progress_only: bool = False
) -> str | None:
    """What the schema would refuse in ``record`` (whose ``to_json()`` is ``entry``), or None.

    ``progress_only``: the plan fields were checked already (a record of the same job with
    the same objects, see :meth:`JobRecord.same_plan`), and ``entry`` is its
    :meth:`~JobRecord.progress_json`: only those fields are checked."""
    if not isinstance(record.id, str) or JOB_ID.match(record.id) is None:
        return f"{record.id!r} is not a job id (16 lowercase hex digits)"
    if not isinstance(record.images, tuple) or not all(
        isinstance(i, ImageRecord) for i in record.images
    ):
        return "images: must be a tuple of ImageRecord"
    if not isinstance(record.takes, tuple) or not all(
        isinstance(t, TakeRecord) and isinstance(t.images, tuple) for t in record.takes
    ):
        return "takes: must be a tuple of TakeRecord"
    return _changing_problem(entry) if progress_only else job_problem(entry)
