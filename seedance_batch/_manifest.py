"""The manifest: YAML with positions, the JSON Schema, and the checks a schema cannot do.

``load_manifest(path)`` returns a :class:`Manifest` or raises :class:`ManifestError` carrying
every problem found, in file order, each pointing at a line and column. Warnings travel on the
manifest. Checks that need the expansion (size rules per combination, duplicate requests) are
the planner's.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import math
import os
import re
import stat
import string
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path as FsPath
from typing import Any

import jsonschema
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from seedance_batch import _rules
from seedance_batch._errors import Diagnostic, ManifestError
from seedance_batch._layout import slug_room
from seedance_batch._schemas import load_schema, pattern_keyword
from seedance_batch._yaml import Loaded, Path, Pos, format_path, load_yaml

__all__ = [
    "Axis",
    "Combination",
    "Execution",
    "JobSpec",
    "Manifest",
    "Origin",
    "Scalar",
    "load_manifest",
    "manifest_schema",
]

Scalar = str | int | float
#: A manifest is read whole; a larger file is refused before it is read (contract section 2).
MAX_MANIFEST_BYTES = 10 * 1024 * 1024
#: Jobs one manifest may plan, counted from its axis sizes before anything is expanded.
MAX_JOBS = 1_000_000
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
FIELD_AXES = ("model", "provider", "size", "resolution", "n")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_INHERITABLE = ("description", "model", "provider", "size", "resolution", "n", "repeat", "vars")


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
class Origin:
    """Where a value is written: its path in the manifest and its position."""

    path: str
    pos: Pos


@dataclass(frozen=True)
class Axis:
    """One axis of a job's matrix: its values, their labels for paths, and their origins."""

    name: str
    values: tuple[Scalar, ...]
    labels: tuple[str, ...]
    origins: tuple[Origin, ...]


@dataclass(frozen=True)
class Combination:
    """An ``include`` or ``exclude`` entry: axis (or field) values and where each is written."""

    values: Mapping[str, Scalar]
    origins: Mapping[str, Origin]
    origin: Origin


@dataclass(frozen=True)
class JobSpec:
    """One job of the manifest with its defaults applied, ready to expand."""

    index: int
    name: str
    description: str | None
    prompt: str | None
    prompts: Mapping[str, str] | None
    fields: Mapping[str, Scalar]
    field_origins: Mapping[str, Origin]
    repeat: int
    vars: Mapping[str, Scalar]
    axes: tuple[Axis, ...]
    include: tuple[Combination, ...]
    exclude: tuple[Combination, ...]
    origin: Origin

    @property
    def slug_room(self) -> int:
        """Characters a variant slug may take in this job's folder names."""
        return slug_room(self.name)

    def prompt_text(self, variant: str | None) -> str:
        """The prompt template of a named variant (or the job's single prompt)."""
        if self.prompts is not None and variant is not None:
            return self.prompts[variant]
        assert self.prompt is not None
        return self.prompt


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


def _is_strict_integer(_checker: object, instance: object) -> bool:
    return isinstance(instance, int) and not isinstance(instance, bool)


def _is_strict_number(_checker: object, instance: object) -> bool:
    return isinstance(instance, (int, float)) and not isinstance(instance, bool)


@functools.cache
def _validator() -> Draft202012Validator:
    checker = Draft202012Validator.TYPE_CHECKER.redefine_many(
        {"integer": _is_strict_integer, "number": _is_strict_number}
    )
    cls = jsonschema.validators.extend(  # type: ignore[no-untyped-call]
        Draft202012Validator, validators={"pattern": pattern_keyword}, type_checker=checker
    )
    validator: Draft202012Validator = cls(manifest_schema())
    return validator


def _describe(value: object) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


_TYPE_WORDS = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "object": "a mapping",
    "array": "a list",
    "boolean": "a boolean",
}
_PATTERN_WORDS = {
    "^[a-z0-9][a-z0-9._-]{0,63}$": "is not a valid name: use lowercase letters, digits, "
    "'.', '_' and '-', starting with a letter or digit, at most 64 characters",
    "^[14][kK]$": "is not a resolution: use 1k or 4k",
    "^[A-Za-z_][A-Za-z0-9_]*$": "is not a variable name: use letters, digits and '_'",
    "^[^\\u0000-\\u001f\\u007f]*$": "holds a control character, which no path may hold",
}


class _Collector:
    def __init__(self, file: str, loaded: Loaded) -> None:
        self.file = file
        self.loaded = loaded
        self.items: list[Diagnostic] = list(loaded.errors)

    def add(self, pos: Pos, path: Path, message: str, severity: str = "error") -> None:
        self.items.append(
            Diagnostic(self.file, pos.line, pos.col, format_path(path), message, severity)  # type: ignore[arg-type]
        )

    def at_value(self, path: Path, message: str) -> None:
        self.add(self.loaded.value_pos(path), path, message)

    def at_key(self, path: Path, message: str) -> None:
        self.add(self.loaded.key_pos(path), path, message)

    def warn(self, path: Path, message: str) -> None:
        self.add(self.loaded.value_pos(path), path, message, "warning")

    @property
    def errors(self) -> list[Diagnostic]:
        return sorted(d for d in self.items if d.severity == "error")

    @property
    def warnings(self) -> list[Diagnostic]:
        return sorted(d for d in self.items if d.severity == "warning")


def _schema_errors(data: object, out: _Collector, skip: Collection[str] = ()) -> None:
    """The schema's errors, but none at a value already reported (``skip``: its paths)."""
    errors = [
        e for e in _validator().iter_errors(data) if format_path(tuple(e.absolute_path)) not in skip
    ]
    # A value of the wrong type says so once, not also that it is not among the allowed values.
    mistyped = {tuple(e.absolute_path) for e in errors if e.validator == "type"}
    for error in errors:
        path: Path = tuple(error.absolute_path)
        if path in mistyped and error.validator != "type":
            continue
        for leaf, message in _explain(error):
            full = (*path, *leaf)
            if error.validator in ("required", "additionalProperties"):
                out.at_key(full, message)
            else:
                out.at_value(full, message)


def _explain(error: ValidationError) -> Iterator[tuple[Path, str]]:
    value = error.instance
    kind = str(error.validator)
    rule: Any = error.validator_value
    schema: Any = error.schema
    if kind == "required" and isinstance(value, dict):
        for name in rule:
            if name not in value:
                yield (), f"missing required field {name!r}"
    elif kind == "additionalProperties" and isinstance(value, dict):
        known = list(schema.get("properties", {}))
        for key in value:
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(known)}"
                yield (key,), f"unknown field {key!r}{hint}"
    elif kind == "type":
        expected = rule
        types: list[str] = expected if isinstance(expected, list) else [expected]
        words = " or ".join(_TYPE_WORDS.get(t, t) for t in types)
        hint = ""
        if expected == "string" and isinstance(value, int) and error.absolute_path:
            hint = " (quote ratios: YAML reads a bare 1:1 as the number 61)"
        yield (), f"expected {words}, got {_describe(value)}{hint}"
    elif kind == "enum":
        allowed = ", ".join(str(v) for v in rule)
        yield (), f"{value!r} is not one of {allowed}"
    elif kind == "const":
        yield (), f"unsupported version {value!r}: this tool reads version 1"
    elif kind == "pattern":
        words = _PATTERN_WORDS.get(rule, f"does not match {rule}")
        yield (), f"{value!r} {words}"
    elif kind in ("minItems", "minProperties"):
        yield (), "must not be empty"
    elif kind == "minLength":
        yield (), "must not be an empty string"
    elif kind in ("exclusiveMinimum", "minimum"):
        bound = rule
        relation = "greater than" if kind == "exclusiveMinimum" else "at least"
        yield (), f"must be {relation} {bound}, got {value}"
    elif kind == "propertyNames":
        yield (), error.message
    else:
        yield (), error.message


def _placeholders(text: str) -> list[tuple[str, str]]:
    """Each placeholder's field name and, when it is more than a plain ``{name}``, its text."""
    found = []
    for _literal, field_name, spec, conversion in string.Formatter().parse(text):
        if field_name is None:
            continue
        extra = (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
        found.append((field_name, f"{{{field_name}{extra}}}" if extra else ""))
    return found


def _whole_file(file: str, message: str) -> ManifestError:
    return ManifestError([Diagnostic(file, 0, 0, "", message)])


def read_manifest_bytes(path: str | FsPath) -> bytes:
    """The manifest's bytes: a regular file of at most :data:`MAX_MANIFEST_BYTES`, checked
    before reading (a FIFO, a device or a folder is refused at once, never waited on)."""
    file = str(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise _whole_file(file, f"cannot read: {exc.strerror or exc}") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file"
            raise _whole_file(file, f"cannot read: {kind}; a manifest is a YAML file")
        if info.st_size > MAX_MANIFEST_BYTES:
            raise _whole_file(file, _too_big(info.st_size))
        with os.fdopen(fd, "rb", closefd=False) as stream:
            raw = stream.read(MAX_MANIFEST_BYTES + 1)
    except OSError as exc:
        raise _whole_file(file, f"cannot read: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)
    if len(raw) > MAX_MANIFEST_BYTES:
        raise _whole_file(file, _too_big(len(raw)))
    return raw


def _too_big(size: int) -> str:
    return (
        f"{size:,} bytes is more than a manifest may hold ({MAX_MANIFEST_BYTES // 2**20} MB); "
        "split the campaign"
    )


def load_manifest(path: str | FsPath) -> Manifest:
    """Read, validate and check a manifest; raise :class:`ManifestError` with every problem."""
    fs_path = FsPath(path)
    file = str(path)
    raw = read_manifest_bytes(path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ManifestError([Diagnostic(file, line, col, "", "not UTF-8 text")]) from exc
    loaded = load_yaml(text, file)
    out = _Collector(file, loaded)
    if loaded.errors:
        raise ManifestError(out.errors)
    if not isinstance(loaded.data, dict):
        got = _describe(loaded.data)
        out.at_value((), f"a manifest is a mapping (version, name, jobs), got {got}")
        raise ManifestError(out.errors)
    out.items.extend(loaded.problems)
    _schema_errors(loaded.data, out, skip={d.path for d in loaded.problems})
    if out.errors:
        raise ManifestError(out.errors)
    manifest = _build(fs_path, file, loaded, loaded.data, out, hashlib.sha256(raw).hexdigest())
    if out.errors:
        raise ManifestError(out.errors)
    return manifest


def _build(
    fs_path: FsPath,
    file: str,
    loaded: Loaded,
    data: dict[str, Any],
    out: _Collector,
    sha256: str,
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
        spec = _job(index, job, defaults, manifest_vars, loaded, out, used_manifest_vars)
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
        out.warn(("defaults", "model"), _unknown_model(default_model))
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
    return (math.prod(len(axis.values) for axis in spec.axes) + len(spec.include)) * spec.repeat


def _check_output_dir(data: dict[str, Any], out: _Collector) -> None:
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


def _job(
    index: int,
    job: dict[str, Any],
    defaults: dict[str, Any],
    manifest_vars: Mapping[str, Scalar],
    loaded: Loaded,
    out: _Collector,
    used_manifest_vars: set[str],
) -> JobSpec | None:
    here: Path = ("jobs", index)
    # A job's own field replaces the default's whole; prompt and prompts are one slot.
    own_prompt = "prompt" in job or "prompts" in job
    if "prompt" in job and "prompts" in job:
        out.at_key((*here, "prompts"), "a job has either 'prompt' or 'prompts', not both")
        return None
    prompt_source = job if own_prompt else defaults
    prompt_path: Path = here if own_prompt else ("defaults",)
    prompt: str | None = prompt_source.get("prompt")
    prompts: dict[str, str] | None = prompt_source.get("prompts")
    if prompt is None and prompts is None:
        out.at_key(here, "missing required field 'prompt' (or 'prompts')")
        return None
    fields: dict[str, Scalar] = {}
    field_origins: dict[str, Origin] = {}
    inherited: dict[str, Any] = {}
    for key in _INHERITABLE:
        if key in job:
            inherited[key] = job[key]
            source: Path = (*here, key)
        elif key in defaults:
            inherited[key] = defaults[key]
            source = ("defaults", key)
        else:
            continue
        if key in FIELD_AXES:
            fields[key] = inherited[key]
            field_origins[key] = _origin(loaded, source)
    job_vars: dict[str, Scalar] = inherited.get("vars", {})
    vars_path: Path = (*here, "vars") if "vars" in job else ("defaults", "vars")

    axes: list[Axis] = []
    if prompts is not None:
        axes.append(
            Axis(
                name="prompt",
                values=tuple(prompts),
                labels=tuple(prompts),
                origins=tuple(
                    Origin(format_path(p), loaded.key_pos(p))
                    for p in ((*prompt_path, "prompts", k) for k in prompts)
                ),
            )
        )
    for axis_name, values in job.get("matrix", {}).items():
        axis_path: Path = (*here, "matrix", axis_name)
        if axis_name == "prompt":
            out.at_key(axis_path, "'prompt' cannot be a matrix axis; use 'prompts' for variants")
            continue
        if axis_name not in FIELD_AXES and not _IDENTIFIER.match(axis_name):
            out.at_key(axis_path, f"{axis_name!r} is not a variable name: use letters, digits, '_'")
            continue
        seen_values: dict[Scalar, int] = {}
        for i, value in enumerate(values):
            if value in seen_values:
                out.at_value((*axis_path, i), f"{value!r} is already a value of this axis")
            seen_values.setdefault(value, i)
        axes.append(
            Axis(
                name=axis_name,
                values=tuple(values),
                labels=tuple(str(v) for v in values),
                origins=tuple(_origin(loaded, (*axis_path, i)) for i in range(len(values))),
            )
        )
    axis_names = {a.name for a in axes}

    templates: list[tuple[Path, str]] = []
    if prompts is not None:
        templates = [((*prompt_path, "prompts", k), v) for k, v in prompts.items()]
    elif prompt is not None:
        templates = [((*prompt_path, "prompt"), prompt)]
    named: set[str] = set()
    for template_path, template in templates:
        try:
            names = _placeholders(template)
        except ValueError as exc:
            out.at_value(template_path, f"bad placeholder syntax: {exc} (write {{{{ for a brace)")
            continue
        for placeholder, extra in names:
            if extra:
                out.at_value(
                    template_path,
                    f"placeholder {extra} has a conversion or a format spec; only plain "
                    f"{{name}} placeholders are allowed: write {{{placeholder}}}"
                    if _IDENTIFIER.match(placeholder)
                    else f"placeholder {extra} is not a plain name; use {{name}}",
                )
                continue
            if not _IDENTIFIER.match(placeholder):
                out.at_value(
                    template_path,
                    f"placeholder {{{placeholder}}} is not a plain name; use {{name}}",
                )
                continue
            named.add(placeholder)
            known = placeholder in job_vars or placeholder in manifest_vars
            in_axes = placeholder in axis_names and placeholder not in FIELD_AXES
            if not (known or in_axes):
                out.at_value(
                    template_path,
                    f"placeholder {{{placeholder}}} has no value: not a matrix axis, "
                    "nor in the job's or the manifest's vars",
                )
    used_manifest_vars.update(named)
    for axis in axes:
        if axis.name not in FIELD_AXES and axis.name != "prompt" and axis.name not in named:
            out.at_key(
                (*here, "matrix", axis.name),
                f"matrix axis {axis.name!r} is not named by any prompt of job {job['name']!r}",
            )
    for var in job_vars:
        if var not in named:
            out.at_key((*vars_path, var), f"variable {var!r} is not named by any prompt of the job")

    include, exclude = (
        tuple(
            _combination(loaded, out, (*here, kind, i), entry, prompts, axis_names, named, kind)
            for i, entry in enumerate(job.get(kind, []))
        )
        for kind in ("include", "exclude")
    )
    _check_fields(loaded, out, here, job, fields, axes, include)
    return JobSpec(
        index=index,
        name=job["name"],
        description=inherited.get("description"),
        prompt=prompt,
        prompts=prompts,
        fields=fields,
        field_origins=field_origins,
        repeat=inherited.get("repeat", 1),
        vars=job_vars,
        axes=tuple(axes),
        include=include,
        exclude=exclude,
        origin=_origin(loaded, here),
    )


def _origin(loaded: Loaded, path: Path) -> Origin:
    return Origin(format_path(path), loaded.value_pos(path))


def _combination(
    loaded: Loaded,
    out: _Collector,
    path: Path,
    entry: dict[str, Scalar],
    prompts: Mapping[str, str] | None,
    axis_names: set[str],
    named: set[str],
    kind: str,
) -> Combination:
    for key, value in entry.items():
        if key == "prompt":
            if prompts is None:
                out.at_key((*path, key), f"'prompt' in {kind} needs named prompts ('prompts')")
            elif value not in prompts:
                out.at_value(
                    (*path, key),
                    f"{value!r} is not a prompt variant; known: {', '.join(prompts)}",
                )
        elif kind == "exclude" and key not in axis_names:
            out.at_key((*path, key), f"{key!r} is not an axis of this job's matrix")
        elif kind == "include" and not (key in axis_names or key in FIELD_AXES or key in named):
            out.at_key(
                (*path, key),
                f"{key!r} is neither an axis, a request field nor a variable of this job's prompts",
            )
    if kind == "include" and prompts is not None and "prompt" not in entry:
        out.at_value(path, "an include entry of a job with named prompts must name its 'prompt'")
    return Combination(
        values=dict(entry),
        origins={k: _origin(loaded, (*path, k)) for k in entry},
        origin=_origin(loaded, path),
    )


def _check_fields(
    loaded: Loaded,
    out: _Collector,
    here: Path,
    job: dict[str, Any],
    fields: Mapping[str, Scalar],
    axes: list[Axis],
    include: tuple[Combination, ...],
) -> None:
    """Warn about unknown models, wherever a model is written for this job."""
    models: list[tuple[Origin, Scalar]] = []
    if "model" in fields and "model" in job:
        models.append((_origin(loaded, (*here, "model")), fields["model"]))
    for axis in axes:
        if axis.name == "model":
            models.extend(zip(axis.origins, axis.values, strict=True))
    for combination in include:
        if "model" in combination.values:
            models.append((combination.origins["model"], combination.values["model"]))
    for origin, model in models:
        if model not in _rules.KNOWN_MODELS:
            out.items.append(
                Diagnostic(
                    out.file,
                    origin.pos.line,
                    origin.pos.col,
                    origin.path,
                    _unknown_model(model),
                    "warning",
                )
            )


def _unknown_model(model: Scalar) -> str:
    known = ", ".join(_rules.KNOWN_MODELS)
    return f"unknown model {model!r} (known: {known}); the API may reject it"
