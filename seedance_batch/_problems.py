"""A manifest's problems in words: collected with their positions, the schema's errors explained,
and the hints ("did you mean") that fit each mistake."""

from __future__ import annotations

import functools
from collections.abc import Collection, Iterable, Iterator
from typing import Any

import jsonschema
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from seedance_batch import _rules
from seedance_batch._errors import Diagnostic, Severity
from seedance_batch._job_spec import Origin
from seedance_batch._schemas import load_schema, pattern_keyword
from seedance_batch._yaml import Loaded, Path, Pos, format_path

__all__ = [
    "MANIFEST_ONLY",
    "Problems",
    "close_match",
    "describe",
    "did_you_mean",
    "fragment_validator",
    "manifest_validator",
    "schema_errors",
    "strict_validator",
    "unknown_model",
]


def _is_strict_integer(_checker: object, instance: object) -> bool:
    return isinstance(instance, int) and not isinstance(instance, bool)


def _is_strict_number(_checker: object, instance: object) -> bool:
    return isinstance(instance, (int, float)) and not isinstance(instance, bool)


def strict_validator(schema: dict[str, Any]) -> Draft202012Validator:
    """A validator for ``schema`` where a boolean is no integer and patterns end as ECMA's."""
    checker = Draft202012Validator.TYPE_CHECKER.redefine_many(
        {"integer": _is_strict_integer, "number": _is_strict_number}
    )
    cls = jsonschema.validators.extend(  # type: ignore[no-untyped-call]
        Draft202012Validator, validators={"pattern": pattern_keyword}, type_checker=checker
    )
    validator: Draft202012Validator = cls(schema)
    return validator


#: The fields a manifest has and a fragment may not (``extends`` brings the rest).
MANIFEST_ONLY = ("version", "name", "jobs")


@functools.cache
def manifest_validator() -> Draft202012Validator:
    """The manifest's schema, read as a manifest: version, name and jobs required."""
    schema = {k: v for k, v in load_schema("manifest").items() if k not in ("if", "then")}
    return strict_validator({**schema, "required": list(MANIFEST_ONLY)})


@functools.cache
def fragment_validator() -> Draft202012Validator:
    """The manifest's schema, read as a fragment: no version, name or jobs."""
    schema = {k: v for k, v in load_schema("manifest").items() if k not in ("if", "then")}
    properties = {k: v for k, v in schema["properties"].items() if k not in MANIFEST_ONLY}
    return strict_validator({**schema, "properties": properties})


def describe(value: object) -> str:
    """A value as a sentence names it: ``the string '2'``, ``nothing (null)``."""
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


def close_match(word: str, known: Iterable[str], cutoff: float = 0.6) -> str | None:
    """The known word ``word`` most likely misspells, if one is close enough."""
    import difflib  # only when a word is unknown: a good manifest never needs it

    close = difflib.get_close_matches(word, list(known), n=1, cutoff=cutoff)
    return close[0] if close else None


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """``; did you mean 'size'?`` when a known word is close, else ``""``."""
    close = close_match(word, known)
    return f"; did you mean {close!r}?" if close else ""


def unknown_model(model: object) -> str:
    """The warning for a model the API's page does not list."""
    known = ", ".join(_rules.KNOWN_MODELS)
    hint = did_you_mean(model, _rules.KNOWN_MODELS) if isinstance(model, str) else ""
    return f"unknown model {model!r}{hint} (known: {known}); the API may reject it"


class Problems:
    """The diagnostics of one file, each at the position of the value (or key) it is about."""

    def __init__(
        self, file: str, loaded: Loaded, via: str = "", items: list[Diagnostic] | None = None
    ) -> None:
        self.file = file
        self.loaded = loaded
        #: Where the manifest brings this file in (``m.yaml:9:11: jobs[0].rows``), or "".
        self.via = via
        self.items: list[Diagnostic] = items if items is not None else []
        self.items.extend(_brought_in(d, via) if via else d for d in loaded.errors)
        #: For a manifest: the fragment (its problems) that set each key of a merged section.
        self.owners: dict[Path, Problems] = {}

    def child(self, file: str, loaded: Loaded, via: str) -> Problems:
        """The problems of a file this one brings in (a rows file, a fragment), kept here."""
        return Problems(file, loaded, via, self.items)

    def owner_of(self, path: Path) -> Problems:
        """The problems of the file that wrote the value at ``path``: a fragment's, for a key
        of a merged section it set (see :attr:`owners`), else this file's."""
        if self.owners and len(path) >= 2:
            return self.owners.get(path[:2], self)
        return self

    def take(self, diagnostics: Iterable[Diagnostic]) -> None:
        """Keep diagnostics found in this file by others (the YAML reader)."""
        self.items.extend(_brought_in(d, self.via) if self.via else d for d in diagnostics)

    def add(self, pos: Pos, path: Path, message: str, severity: Severity = "error") -> None:
        if self.via:
            message = f"{message} (brought in by {self.via})"
        self.items.append(
            Diagnostic(self.file, pos.line, pos.col, format_path(path), message, severity)
        )

    def at_origin(self, where: Origin, message: str, severity: Severity = "error") -> None:
        if where.via:
            message = f"{message} (brought in by {where.via})"
        file = where.file or self.file
        pos = where.pos
        self.items.append(Diagnostic(file, pos.line, pos.col, where.path, message, severity))

    def origin(self, path: Path) -> Origin:
        """The origin of the value at ``path``."""
        owner = self.owner_of(path)
        file = owner.file if owner.via else ""
        return Origin(format_path(path), owner.loaded.value_pos(path), file, owner.via)

    def key_origin(self, path: Path) -> Origin:
        """The origin of the key of the value at ``path``."""
        owner = self.owner_of(path)
        file = owner.file if owner.via else ""
        return Origin(format_path(path), owner.loaded.key_pos(path), file, owner.via)

    def at_value(self, path: Path, message: str) -> None:
        owner = self.owner_of(path)
        owner.add(owner.loaded.value_pos(path), path, message)

    def at_key(self, path: Path, message: str) -> None:
        owner = self.owner_of(path)
        owner.add(owner.loaded.key_pos(path), path, message)

    def warn(self, path: Path, message: str) -> None:
        owner = self.owner_of(path)
        owner.add(owner.loaded.value_pos(path), path, message, "warning")

    @property
    def errors(self) -> list[Diagnostic]:
        return sorted(d for d in self.items if d.severity == "error")

    @property
    def warnings(self) -> list[Diagnostic]:
        return sorted(d for d in self.items if d.severity == "warning")


def _brought_in(diagnostic: Diagnostic, via: str) -> Diagnostic:
    message = f"{diagnostic.message} (brought in by {via})"
    return Diagnostic(
        diagnostic.file,
        diagnostic.line,
        diagnostic.col,
        diagnostic.path,
        message,
        diagnostic.severity,
    )


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


def schema_errors(
    validator: Draft202012Validator,
    data: object,
    out: Problems,
    skip: Collection[str] = (),
    prefix: Path = (),
) -> None:
    """The schema's errors, but none at a value already reported (``skip``: its paths); the
    paths of ``data`` are under ``prefix`` in ``out``'s file."""
    errors = [
        e
        for e in validator.iter_errors(data)
        if format_path((*prefix, *e.absolute_path)) not in skip
    ]
    # A value of the wrong type says so once, not also that it is not among the allowed values.
    mistyped = {(*prefix, *e.absolute_path) for e in errors if e.validator == "type"}
    for error in errors:
        path: Path = (*prefix, *error.absolute_path)
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
                hint = did_you_mean(key, known) or f"; known: {', '.join(known)}"
                yield (key,), f"unknown field {key!r}{hint}"
    elif kind == "type":
        expected = rule
        types: list[str] = expected if isinstance(expected, list) else [expected]
        words = " or ".join(_TYPE_WORDS.get(t, t) for t in types)
        hint = ""
        if "string" in types and isinstance(value, bool):
            hint = (
                " (YAML reads yes, no, on, off, true and false as booleans: quote the text, "
                "as in 'yes')"
            )
        elif "string" in types and isinstance(value, int) and "size" in error.absolute_path:
            hint = " (quote ratios: YAML reads a bare 1:1 as the number 61)"
        yield (), f"expected {words}, got {describe(value)}{hint}"
    elif kind == "enum":
        allowed = ", ".join(str(v) for v in rule)
        yield (), f"{value!r} is not one of {allowed}"
    elif kind == "const" and isinstance(value, str) and value.strip() == str(rule):
        yield (), f"expected the integer {rule}, got the string {value!r}: write version: {rule}"
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
    else:
        yield (), error.message
