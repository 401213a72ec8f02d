"""The manifest as a whole: ``load_manifest(path)`` reads it, checks it, and returns a
:class:`Manifest` (or raises :class:`ManifestError` with every problem, in file order).

Its parts have their own modules: the files it is read from (``_sources``), the problems in
words (``_problems``), one job (``_jobs``). Warnings travel on the manifest. Checks that need
the expansion (size rules per combination, duplicate requests) are the planner's.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path as FsPath
from typing import Any

from jsonschema import Draft202012Validator

from seedance_batch import _rules
from seedance_batch._errors import Diagnostic, ManifestError
from seedance_batch._job_spec import JobSpec, Scalar
from seedance_batch._jobs import build_job
from seedance_batch._problems import (
    Problems,
    describe,
    schema_errors,
    strict_validator,
    unknown_model,
)
from seedance_batch._schemas import load_schema
from seedance_batch._sources import SourceError, read_source_bytes, read_source_text
from seedance_batch._yaml import load_yaml

__all__ = ["MAX_JOBS", "Execution", "Manifest", "load_manifest", "manifest_schema"]

#: Jobs one manifest may plan, counted from its axis sizes before anything is expanded.
MAX_JOBS = 1_000_000
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Execution:
    """How a run paces itself (the manifest's ``execution``, with the contract's defaults)."""

    concurrency: int = 8
    requests_per_second: float = 5.0
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


def manifest_schema() -> dict[str, Any]:
    """The manifest's JSON Schema (``seedance_batch/schemas/manifest.schema.json``)."""
    return load_schema("manifest")


@functools.cache
def _validator() -> Draft202012Validator:
    return strict_validator(manifest_schema())


def load_manifest(path: str | FsPath) -> Manifest:
    """Read, validate and check a manifest; raise :class:`ManifestError` with every problem."""
    fs_path = FsPath(path)
    file = str(path)
    try:
        raw = read_source_bytes(path)
        text = read_source_text(raw)
    except SourceError as exc:
        raise ManifestError([Diagnostic(file, exc.line, exc.col, "", exc.message)]) from exc
    loaded = load_yaml(text, file)
    out = Problems(file, loaded)
    if loaded.errors:
        raise ManifestError(out.errors)
    if not isinstance(loaded.data, dict):
        got = describe(loaded.data)
        out.at_value((), f"a manifest is a mapping (version, name, jobs), got {got}")
        raise ManifestError(out.errors)
    out.items.extend(loaded.problems)
    schema_errors(_validator(), loaded.data, out, skip={d.path for d in loaded.problems})
    if out.errors:
        raise ManifestError(out.errors)
    manifest = _build(fs_path, file, loaded.data, out, hashlib.sha256(raw).hexdigest())
    if out.errors:
        raise ManifestError(out.errors)
    return manifest


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
        name = job["name"]
        if name in seen_names:
            out.at_value(
                ("jobs", index, "name"),
                f"job name {name!r} is already used by jobs[{seen_names[name]}]",
            )
        seen_names.setdefault(name, index)
        spec = build_job(
            index, job, defaults, manifest_vars, out, used_manifest_vars, fs_path.parent
        )
        if spec is None:
            continue
        jobs.append(spec)
        before, planned = planned, planned + _most_jobs(spec)
        if before <= MAX_JOBS < planned:
            out.at_value(
                ("jobs", index),
                f"this job brings the manifest to up to {planned:,} jobs, more than "
                f"{MAX_JOBS:,}; split the campaign into several manifests",
            )
    for var in manifest_vars:
        if var not in used_manifest_vars:
            out.at_key(("vars", var), f"variable {var!r} is not named by any prompt")
    default_model = defaults.get("model")
    if default_model is not None and default_model not in _rules.KNOWN_MODELS:
        out.warn(("defaults", "model"), unknown_model(default_model))
    _check_output_dir(data, out)
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
    )


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
