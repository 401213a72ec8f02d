"""The manifest as a whole: ``load_manifest(path)`` reads it, checks it, and returns a
:class:`Manifest` (or raises :class:`ManifestError` with every problem, in file order).

Its parts have their own modules: the files it is read from (``_sources``), the problems in
words (``_problems``), one job (``_jobs``). Warnings travel on the manifest. Checks that need
the expansion (size rules per combination, duplicate requests) are the planner's.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path as FsPath
from typing import Any

from seedance_batch import _rules
from seedance_batch._delivery_spec import Delivery, read_delivery
from seedance_batch._errors import Diagnostic, ManifestError
from seedance_batch._job_spec import JobSpec, Scalar
from seedance_batch._jobs import build_job, check_sizes
from seedance_batch._problems import (
    Problems,
    describe,
    manifest_validator,
    schema_errors,
    unknown_model,
)
from seedance_batch._schemas import load_schema
from seedance_batch._sources import SourceError, read_source_bytes, read_source_text
from seedance_batch._yaml import Path, load_yaml

__all__ = [
    "DEFAULT_MAX_TAKES",
    "MAX_JOBS",
    "Execution",
    "Manifest",
    "load_manifest",
    "manifest_schema",
    "read_manifest",
]

#: Jobs one manifest may plan, counted from its axis sizes before anything is expanded.
MAX_JOBS = 1_000_000
#: Takes per job that `run --reroll-rejected` may make when the manifest does not say.
DEFAULT_MAX_TAKES = 3
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Execution:
    """How a run paces itself (the manifest's ``execution``, with the contract's defaults)."""

    concurrency: int = 8
    requests_per_second: float = 10.0
    poll_interval: float = 2.0
    poll_max: float = 15.0
    task_timeout: float = 900.0
    max_attempts: int = 3


@dataclass(frozen=True)
class Manifest:
    """A valid manifest, version 1."""

    path: FsPath
    file: str
    name: str
    description: str | None
    vars: Mapping[str, Scalar]
    max_credits: int | None
    output_dir: FsPath
    execution: Execution
    jobs: tuple[JobSpec, ...]
    sha256: str
    warnings: tuple[Diagnostic, ...]
    #: Takes per job that ``run --reroll-rejected`` may make, the first included.
    max_takes: int = DEFAULT_MAX_TAKES
    #: How ``export`` names and shapes what it delivers (its defaults when not written).
    delivery: Delivery = dataclasses.field(default_factory=Delivery)


def manifest_schema() -> dict[str, Any]:
    """The manifest's JSON Schema (``seedance_batch/schemas/manifest.schema.json``)."""
    return load_schema("manifest")


def load_manifest(path: str | FsPath) -> Manifest:
    """Read, validate and check a manifest; raise :class:`ManifestError` with every problem."""
    manifest, diagnostics = read_manifest(path)
    errors = [d for d in diagnostics if d.severity == "error"]
    if errors or manifest is None:
        raise ManifestError(errors)
    return manifest


def read_manifest(path: str | FsPath) -> tuple[Manifest | None, list[Diagnostic]]:
    """Every problem of a manifest in one pass (its fragments' and rows' too), in file order,
    and the manifest built from its jobs that have none (None when nothing can be built: bad
    YAML, or a problem outside the jobs that every job depends on).

    Values the schema refuses are left out, so that the rest is still checked: a job with such
    a value in its matrix, prompts, rows, include or exclude is left out whole.
    """
    fs_path = FsPath(path)
    file = str(path)
    try:
        raw = read_source_bytes(path)
        text = read_source_text(raw)
    except SourceError as exc:
        return None, [Diagnostic(file, exc.line, exc.col, "", exc.message)]
    loaded = load_yaml(text, file)
    out = Problems(file, loaded)
    if loaded.errors:
        return None, out.errors
    if not isinstance(loaded.data, dict):
        got = describe(loaded.data)
        out.at_value((), f"a manifest is a mapping (version, name, jobs), got {got}")
        return None, out.errors
    out.take(loaded.problems)
    data = loaded.data
    before = len(out.items)
    schema_errors(manifest_validator(), data, out, skip={d.path for d in loaded.problems})
    refused = _refused_paths(loaded.problems, out.items[before:])
    if "extends" in data and not any(p[:1] == ("extends",) for p in refused):
        from seedance_batch._fragments import merge_fragments  # only for a manifest that extends

        merged = merge_fragments(data, out, fs_path.parent)
        out.owners = merged.owners
        data = {**data, **merged.sections}
    if any(d.severity == "error" and d.file != file for d in out.items):
        return None, sorted(out.items)  # a fragment's problem: its values cannot be trusted
    usable = _without(data, refused)
    if usable is None:
        return None, sorted(out.items)
    manifest = _build(fs_path, file, usable, out, hashlib.sha256(raw).hexdigest())
    return manifest, sorted(out.items)


#: The values of a job the builder can do without: left out, the job is still checked.
_PLAIN_FIELDS = ("description", "model", "provider", "size", "resolution", "n", "repeat")


def _refused_paths(*groups: list[Diagnostic]) -> set[Path]:
    """The paths of the values the diagnostics refuse, as tuples (``jobs[0].n``)."""
    found: set[Path] = set()
    for diagnostics in groups:
        for diagnostic in diagnostics:
            if diagnostic.severity == "error":
                found.add(_parse_path(diagnostic.path))
    return found


def _parse_path(text: str) -> Path:
    parts: list[str | int] = []
    for match in re.finditer(r"([^.\[\]]+)|\[(\d+)\]", text):
        parts.append(int(match[2]) if match[2] is not None else match[1])
    return tuple(parts)


def _without(data: dict[str, Any], refused: set[Path]) -> dict[str, Any] | None:
    """``data`` without the values the schema refused (None when what is left cannot be
    built); a job that would lose more than a plain field is marked to be left out."""
    usable = dict(data)
    for path in sorted(refused, key=len):
        head = path[0] if path else None
        if head is None or head == "name" or path == ("jobs",):
            if head is None and "jobs" in data and "name" in data:
                continue  # a missing version: nothing depends on it
            return None  # the jobs, or the name every job's folder is under
        if head == "jobs":
            index = path[1]
            if not isinstance(index, int):
                return None
            jobs = usable["jobs"] = list(usable["jobs"])
            field = path[2] if len(path) > 2 else None
            if jobs[index] is _LEFT_OUT:
                continue
            if not isinstance(jobs[index], dict):
                jobs[index] = _LEFT_OUT
            elif field in _PLAIN_FIELDS and len(path) == 3:
                jobs[index] = {k: v for k, v in jobs[index].items() if k != field}
            else:  # a needed value, or an unknown key that may misspell one
                jobs[index] = _LEFT_OUT
        elif head in ("execution", "budget", "output", "delivery") or (
            head == "defaults" and len(path) == 2 and path[1] in _PLAIN_FIELDS
        ):
            section = usable.get(head)
            if len(path) == 1 or not isinstance(section, dict):
                usable.pop(head, None)
            else:
                usable[head] = {k: v for k, v in section.items() if k != path[1]}
        elif head in ("defaults", "vars"):
            return None  # every job reads them: left out, each would report a false problem
    if not isinstance(usable.get("jobs"), list) or not isinstance(usable.get("name"), str):
        return None
    return usable


#: A job whose values the schema refused where the builder needs them: not built.
_LEFT_OUT: dict[str, Any] = {}


def _build(
    fs_path: FsPath, file: str, data: dict[str, Any], out: Problems, sha256: str
) -> Manifest:
    defaults: dict[str, Any] = data.get("defaults", {})
    manifest_vars: dict[str, Scalar] = data.get("vars", {})
    jobs: list[JobSpec] = []
    seen_names: dict[str, int] = {}
    used_manifest_vars: set[str] = set()
    planned = 0
    for index, job in enumerate(data["jobs"]):
        if job is _LEFT_OUT:
            continue
        name = job["name"]
        if name in seen_names:
            out.at_value(
                ("jobs", index, "name"),
                f"job name {name!r} is already used by jobs[{seen_names[name]}]",
            )
        seen_names.setdefault(name, index)
        errors_before = _error_count(out)
        spec = build_job(
            index, job, defaults, manifest_vars, out, used_manifest_vars, fs_path.parent
        )
        if spec is not None and _error_count(out) > errors_before:
            check_sizes(spec, out)  # the planner's rule, for it will not expand this job
        if spec is None or _error_count(out) > errors_before:
            continue  # its problems are reported; the planner would only repeat them
        jobs.append(spec)
        before, planned = planned, planned + _most_jobs(spec)
        if before <= MAX_JOBS < planned:
            out.at_value(
                ("jobs", index),
                f"this job brings the manifest to up to {planned:,} jobs, more than "
                f"{MAX_JOBS:,}; split the campaign into several manifests",
            )
            jobs = []  # nothing is planned past the limit
            break
    if not any(job is _LEFT_OUT for job in data["jobs"]):  # a job left out may name them
        for var in manifest_vars:
            if var not in used_manifest_vars and out.owner_of(("vars", var)) is out:
                out.at_key(("vars", var), f"variable {var!r} is not named by any prompt")
    default_model = defaults.get("model")
    if default_model is not None and default_model not in _rules.KNOWN_MODELS:
        out.warn(("defaults", "model"), unknown_model(default_model))
    _check_output_dir(data, out)
    delivery = read_delivery(data.get("delivery"), jobs, out)
    return Manifest(
        path=fs_path,
        file=file,
        name=data["name"],
        description=data.get("description"),
        vars=manifest_vars,
        max_credits=data.get("budget", {}).get("max_credits"),
        output_dir=fs_path.parent / data.get("output", {}).get("dir", f"outputs/{data['name']}"),
        execution=Execution(**data.get("execution", {})),
        jobs=tuple(jobs),
        sha256=sha256,
        warnings=tuple(out.warnings),
        max_takes=data.get("budget", {}).get("max_takes", DEFAULT_MAX_TAKES),
        delivery=delivery,
    )


def _error_count(out: Problems) -> int:
    return sum(1 for d in out.items if d.severity == "error")


def _most_jobs(spec: JobSpec) -> int:
    """The jobs a job may plan (before exclude and duplicates): its product, its includes,
    times its repeats; computed from the sizes, never expanded."""
    rows = len(spec.rows.rows) if spec.rows is not None else 1
    product = rows * math.prod(len(axis.values) for axis in spec.axes)
    return (product + len(spec.include)) * spec.repeat


def _check_output_dir(data: dict[str, Any], out: Problems) -> None:
    directory = data.get("output", {}).get("dir")
    if directory is None:
        return
    if _CONTROL.search(directory):
        out.at_value(("output", "dir"), "holds a control character, which no path may hold")
        return
    parts = FsPath(directory).parts
    if FsPath(directory).is_absolute() or ".." in parts or directory.startswith("~"):
        out.at_value(
            ("output", "dir"),
            f"{directory!r} leaves the manifest's folder; use a relative path inside it "
            "(or pass --out)",
        )
