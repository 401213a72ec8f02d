"""One job of a manifest built from its YAML: defaults applied, axes, placeholders checked,
``include`` and ``exclude`` read, each value kept with where it is written."""

from __future__ import annotations

import re
import string
from collections.abc import Collection, Mapping
from pathlib import Path as FsPath
from typing import Any

from seedance_batch import _rules
from seedance_batch._job_spec import FIELD_AXES, Axis, Combination, JobSpec, Origin, Scalar
from seedance_batch._problems import Problems, did_you_mean, unknown_model
from seedance_batch._yaml import Path

__all__ = ["IDENTIFIER", "build_job", "check_sizes", "placeholders"]

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_INHERITABLE = ("description", "model", "provider", "size", "resolution", "n", "repeat", "vars")


def placeholders(text: str) -> list[tuple[str, str]]:
    """Each placeholder's field name and, when it is more than a plain ``{name}``, its text."""
    found = []
    for _literal, field_name, spec, conversion in string.Formatter().parse(text):
        if field_name is None:
            continue
        extra = (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
        found.append((field_name, f"{{{field_name}{extra}}}" if extra else ""))
    return found


def build_job(
    index: int,
    job: dict[str, Any],
    defaults: dict[str, Any],
    manifest_vars: Mapping[str, Scalar],
    out: Problems,
    used_manifest_vars: set[str],
    folder: FsPath,
) -> JobSpec | None:
    """The job at ``jobs[index]``, or None when it cannot be built (its problems are in ``out``);
    ``folder`` is the manifest's, where rows files lie."""
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
            field_origins[key] = out.origin(source)
    job_vars: dict[str, Scalar] = inherited.get("vars", {})
    vars_path: Path = (*here, "vars") if "vars" in job else ("defaults", "vars")

    axes: list[Axis] = []
    if prompts is not None:
        axes.append(
            Axis(
                name="prompt",
                values=tuple(prompts),
                labels=tuple(prompts),
                origins=tuple(out.key_origin((*prompt_path, "prompts", k)) for k in prompts),
                named=True,
            )
        )
    axes.extend(_matrix_axes(here, job.get("matrix", {}), out))
    axis_names = {a.name for a in axes}

    templates: list[tuple[Path, str]] = []
    if prompts is not None:
        templates = [((*prompt_path, "prompts", k), v) for k, v in prompts.items()]
    elif prompt is not None:
        templates = [((*prompt_path, "prompt"), prompt)]
    occurrences = _plain_placeholders(templates, out)
    named = {name for name, _ in occurrences}
    rows = None
    if "rows" in job:
        from seedance_batch._rows import build_rows, rows_source  # csv, only for rows

        rows_from = rows_source(job["rows"], here, out, folder)
        rows = build_rows(rows_from, named, axis_names) if rows_from is not None else None
        if rows is None:
            return None
    row_keys = set(rows.keys) if rows is not None else set()
    for name, template_path in occurrences:
        known = name in job_vars or name in manifest_vars or name in row_keys
        in_axes = name in axis_names and name not in FIELD_AXES
        if not (known or in_axes):
            hint = did_you_mean(name, {*job_vars, *manifest_vars, *row_keys, *axis_names})
            out.at_value(
                template_path,
                f"placeholder {{{name}}} has no value: not a matrix axis, "
                f"nor in the job's or the manifest's vars{hint}",
            )
    used_manifest_vars.update(named)
    for axis in axes:
        if axis.name not in FIELD_AXES and axis.name != "prompt" and axis.name not in named:
            out.at_key(
                (*here, "matrix", axis.name),
                f"matrix axis {axis.name!r} is not named by any prompt of job {job['name']!r}",
            )
    kit_vars = out.owner_of(vars_path) is not out  # a fragment's serve many manifests
    for var in job_vars:
        if var not in named and not kit_vars:
            out.at_key((*vars_path, var), f"variable {var!r} is not named by any prompt of the job")

    if rows is not None:
        axis_names |= row_keys | ({"id"} if rows.has_id else set())
    names = {axis.name: axis.labels for axis in axes if axis.named and axis.name != "prompt"}
    include, exclude = (
        tuple(
            _combination(out, (*here, kind, i), entry, prompts, axis_names, named, kind, names)
            for i, entry in enumerate(job.get(kind, []))
        )
        for kind in ("include", "exclude")
    )
    _warn_unknown_models(out, here, job, fields, axes, include)
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
        origin=out.origin(here),
        rows=rows,
    )


def _matrix_axes(here: Path, matrix: dict[str, Any], out: Problems) -> list[Axis]:
    axes = []
    for axis_name, values in matrix.items():
        axis_path: Path = (*here, "matrix", axis_name)
        if axis_name == "prompt":
            out.at_key(axis_path, "'prompt' cannot be a matrix axis; use 'prompts' for variants")
            continue
        if axis_name not in FIELD_AXES and not IDENTIFIER.match(axis_name):
            out.at_key(axis_path, f"{axis_name!r} is not a variable name: use letters, digits, '_'")
            continue
        if isinstance(values, dict):
            axes.append(
                Axis(
                    name=axis_name,
                    values=tuple(values.values()),
                    labels=tuple(values),
                    origins=tuple(out.origin((*axis_path, name)) for name in values),
                    named=True,
                )
            )
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
                origins=tuple(out.origin((*axis_path, i)) for i in range(len(values))),
            )
        )
    return axes


def _plain_placeholders(templates: list[tuple[Path, str]], out: Problems) -> list[tuple[str, Path]]:
    """Each plain placeholder the templates name, with the template naming it; the others (bad
    syntax, attributes, conversions, format specs) are reported."""
    named: list[tuple[str, Path]] = []
    for template_path, template in templates:
        try:
            names = placeholders(template)
        except ValueError as exc:
            out.at_value(template_path, f"bad placeholder syntax: {exc} (write {{{{ for a brace)")
            continue
        for placeholder, extra in names:
            if extra:
                out.at_value(
                    template_path,
                    f"placeholder {extra} has a conversion or a format spec; only plain "
                    f"{{name}} placeholders are allowed: write {{{placeholder}}}"
                    if IDENTIFIER.match(placeholder)
                    else f"placeholder {extra} is not a plain name; use {{name}}",
                )
            elif not IDENTIFIER.match(placeholder):
                out.at_value(
                    template_path,
                    f"placeholder {{{placeholder}}} is not a plain name; use {{name}}",
                )
            else:
                named.append((placeholder, template_path))
    return named


def _combination(
    out: Problems,
    path: Path,
    entry: dict[str, Scalar],
    prompts: Mapping[str, str] | None,
    axis_names: set[str],
    named: set[str],
    kind: str,
    names: Mapping[str, Collection[str]],
) -> Combination:
    for key, value in entry.items():
        if key in names and value not in names[key]:
            out.at_value(
                (*path, key),
                f"{value!r} is not a name of axis {key!r}"
                f"{did_you_mean(str(value), names[key])}; names: {', '.join(names[key])}",
            )
        elif key == "prompt":
            if prompts is None:
                out.at_key((*path, key), f"'prompt' in {kind} needs named prompts ('prompts')")
            elif value not in prompts:
                out.at_value(
                    (*path, key),
                    f"{value!r} is not a prompt variant; known: {', '.join(prompts)}",
                )
        elif kind == "exclude" and key not in axis_names:
            hint = did_you_mean(key, axis_names)
            out.at_key((*path, key), f"{key!r} is not an axis of this job's matrix{hint}")
        elif kind == "include" and not (key in axis_names or key in FIELD_AXES or key in named):
            hint = did_you_mean(key, {*axis_names, *FIELD_AXES, *named})
            out.at_key(
                (*path, key),
                f"{key!r} is neither an axis, a request field nor a variable of this job's "
                f"prompts{hint}",
            )
    if kind == "include" and prompts is not None and "prompt" not in entry:
        out.at_value(path, "an include entry of a job with named prompts must name its 'prompt'")
    return Combination(
        values=dict(entry),
        origins={k: out.origin((*path, k)) for k in entry},
        origin=out.origin(path),
    )


def _warn_unknown_models(
    out: Problems,
    here: Path,
    job: dict[str, Any],
    fields: Mapping[str, Scalar],
    axes: list[Axis],
    include: tuple[Combination, ...],
) -> None:
    """Warn about unknown models, wherever a model is written for this job."""
    models: list[tuple[Origin, Scalar]] = []
    if "model" in fields and "model" in job:
        models.append((out.origin((*here, "model")), fields["model"]))
    for axis in axes:
        if axis.name == "model":
            models.extend(zip(axis.origins, axis.values, strict=True))
    for combination in include:
        if "model" in combination.values:
            models.append((combination.origins["model"], combination.values["model"]))
    for where, model in models:
        if model not in _rules.KNOWN_MODELS:
            out.at_origin(where, unknown_model(model), "warning")


def check_sizes(spec: JobSpec, out: Problems) -> None:
    """The API's size rules for a job the planner will not expand (it has other problems), so
    that they come in the same pass: its size field and size axis, at its one resolution (none
    when resolution is an axis: the planner pairs those)."""
    if any(axis.name == "resolution" for axis in spec.axes):
        return
    resolution = str(spec.fields.get("resolution", _rules.DEFAULT_RESOLUTION)).lower()
    sizes: list[tuple[Scalar, Origin]] = []
    if "size" in spec.fields:
        sizes.append((spec.fields["size"], spec.field_origins["size"]))
    for axis in spec.axes:
        if axis.name == "size":
            sizes.extend(zip(axis.values, axis.origins, strict=True))
    for size, where in sizes:
        check = _rules.check_size(str(size), resolution)
        if check.outcome != "ok":
            out.at_origin(where, check.message, check.outcome)
