"""A job's ``rows``: one combination per row, read from the manifest or from a ``.csv``,
``.jsonl`` or ``.yaml`` file beside it, every cell kept with its line and column.

CSV is read by the csv module (the excel dialect, UTF-8, a BOM allowed). It gives cells, not
their columns, so each record's physical lines are kept: a record on one line without a quote
has its columns added up from the cells' lengths; any other is re-read by a small scanner of
that dialect's quoting (searching a line for a cell's text would find the wrong one whenever
a value repeats or is quoted).
"""

from __future__ import annotations

import csv
import functools
import io
import json
import os
import re
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path as FsPath
from typing import Any

from jsonschema import Draft202012Validator

from seedance_batch._errors import Diagnostic
from seedance_batch._job_spec import FIELD_AXES, Origin, Scalar
from seedance_batch._problems import (
    Problems,
    close_match,
    describe,
    schema_errors,
    strict_validator,
)
from seedance_batch._schemas import load_schema
from seedance_batch._sources import SourceError, read_source_bytes, read_source_text
from seedance_batch._yaml import Loaded, Path, Pos, format_path, load_yaml

__all__ = ["Row", "Rows", "RowsSource", "build_rows", "read_rows", "rows_source"]

#: What a rows file may be, by its extension.
ROWS_FILE_KINDS = {".csv": "csv", ".jsonl": "jsonl", ".yaml": "yaml", ".yml": "yaml"}
_NEAR_FIELDS = (*FIELD_AXES, "id")


@dataclass(frozen=True)
class Row:
    """One row of a job's ``rows``: its ``id`` (or None), its values paired with the keys, and
    its other columns' values (not sent; ``delivery.name`` may name them), with where each of
    those that is empty is written."""

    id: str | None
    values: tuple[Scalar, ...]
    origins: tuple[Origin, ...]
    origin: Origin
    extra: tuple[Scalar, ...] = ()
    blanks: tuple[tuple[str, Origin], ...] = ()


@dataclass(frozen=True)
class Rows:
    """A job's rows, in file order: the keys each row sets (fields and the variables its
    prompts name), the other columns (not sent), and the rows themselves."""

    keys: tuple[str, ...]
    rows: tuple[Row, ...]
    has_id: bool
    extra_keys: tuple[str, ...] = ()


class RowsSource:
    """Where a job's rows are: the mappings, the path prefix of their values and the problems
    of the file holding them (the manifest's own, for inline rows)."""

    def __init__(self, rows: list[dict[str, Any] | None], prefix: Path, out: Problems) -> None:
        self.rows = rows
        self.prefix = prefix
        self.out = out


@functools.cache
def _validator(pointer: str) -> Draft202012Validator:
    """A validator of one part of the manifest's schema (``$defs/row/properties/size``)."""
    schema = load_schema("manifest")
    return strict_validator({"$ref": f"#/{pointer}", "$defs": schema["$defs"]})


@functools.cache
def _row_keys() -> frozenset[str]:
    """The keys a row's schema defines (the fields and ``id``)."""
    return frozenset(load_schema("manifest")["$defs"]["row"]["properties"])


@functools.lru_cache(maxsize=4096)
def _field_is_valid(key: str, kind: str, value: object) -> bool:
    """Whether the field ``key`` may hold ``value`` (of type ``kind``: 1 is not True): asked
    of the schema once per value, for a catalogue repeats its sizes and models on every row."""
    return _validator(f"$defs/row/properties/{key}").is_valid(value)


def _check_row(row: dict[str, Any], here: Path, out: Problems) -> None:
    """The schema's word on one row of a file, asked of the schema only where a value may be
    wrong: a field's value (once per distinct value), or a value that is no plain scalar; the
    schema's own validation of the row agrees (a test pins it)."""
    fields = _row_keys()
    for key, value in row.items():
        scalar = isinstance(value, (str, int, float)) and not isinstance(value, bool)
        if key == "id":
            if (isinstance(value, str) and value) or (scalar and isinstance(value, int)):
                continue  # ids are unique: the schema's rule, written out, not asked per row
            validator = _validator("$defs/row/properties/id")
        elif key in fields:
            if scalar and _field_is_valid(key, type(value).__name__, value):
                continue
            validator = _validator(f"$defs/row/properties/{key}")
        elif scalar:
            continue
        else:
            validator = _validator("$defs/scalar")
        schema_errors(validator, value, out, prefix=(*here, key))


def rows_source(value: Any, here: Path, out: Problems, folder: FsPath) -> RowsSource | None:
    """The rows a job's ``rows`` value gives (a list, or a file's name), or None when they
    cannot be read (the problem is in ``out``)."""
    rows_path: Path = (*here, "rows")
    if isinstance(value, list):
        return RowsSource(list(value), rows_path, out)
    return read_rows(str(value), rows_path, out, folder)


def read_rows(name: str, rows_path: Path, out: Problems, folder: FsPath) -> RowsSource | None:
    """The rows of the file ``name`` (relative to ``folder``, the manifest's, and inside it)."""
    parts = FsPath(name).parts
    if FsPath(name).is_absolute() or ".." in parts or name.startswith("~"):
        out.at_value(rows_path, f"{name!r} leaves the manifest's folder; a rows file lies in it")
        return None
    path = folder / name
    real_folder = os.path.realpath(folder)
    if os.path.commonpath([real_folder, os.path.realpath(path)]) != real_folder:
        out.at_value(rows_path, f"{name!r} is a link out of the manifest's folder")
        return None
    file = str(FsPath(out.file).parent / name)
    pos = out.loaded.value_pos(rows_path)
    via = f"{out.file}:{pos.line}:{pos.col}: {format_path(rows_path)}"
    try:
        raw = read_source_bytes(path, "a rows file is a .csv, .jsonl or .yaml file")
        text = read_source_text(raw, drop_bom=True)
    except SourceError as exc:
        where = Loaded(data=None, values={(): Pos(exc.line, exc.col)})
        line = out.child(file, where, via)
        if exc.line:
            line.add(Pos(exc.line, exc.col), (), exc.message)
        else:
            line.items.append(_whole_file(file, exc.message, via))
        return None
    kind = ROWS_FILE_KINDS[FsPath(name).suffix.lower()]
    loaded = {"csv": _csv, "jsonl": _jsonl, "yaml": _yaml}[kind](text, file)
    problems = out.child(file, loaded, via)
    problems.items.extend(loaded.problems)
    rows: list[dict[str, Any] | None] = loaded.data if isinstance(loaded.data, list) else []
    for i, row in enumerate(rows):
        if row is not None:
            _check_row(row, ("rows", i), problems)
    return RowsSource(rows, ("rows",), problems)


def _whole_file(file: str, message: str, via: str) -> Diagnostic:
    return Diagnostic(file, 0, 0, "", f"{message} (brought in by {via})")


def build_rows(
    source: RowsSource, named: Collection[str], axis_names: Collection[str]
) -> Rows | None:
    """The job's :class:`Rows`: the keys of its first row, checked on every row."""
    out, prefix = source.out, source.prefix
    valid = [(i, row) for i, row in enumerate(source.rows) if row is not None]
    if not valid:
        out.at_value(prefix, "no rows: a rows file holds a header and at least one row")
        return None
    first_index, first = valid[0]
    keys = list(first)
    used = tuple(k for k in keys if k not in ("id", "prompt") and (k in FIELD_AXES or k in named))
    extra_keys = tuple(k for k in keys if k not in used and k != "id")
    for key in keys:
        where = (*prefix, first_index, key)
        if key in axis_names:
            out.at_key(where, f"{key!r} is both a key of the rows and an axis of the matrix")
        elif key not in used and key != "id":
            near = (
                key.lower() if key.lower() in _NEAR_FIELDS else close_match(key, _NEAR_FIELDS, 0.8)
            )
            if near is not None:
                out.at_key(
                    where,
                    f"column {key!r} is no field and no prompt names it; did you mean {near!r}?",
                )
    built: list[Row] = []
    ids: dict[str, int] = {}
    origin = _Origins(out, prefix)
    for i, row in valid:
        here = (*prefix, i)
        missing = [k for k in keys if k not in row]
        if missing:
            out.at_value(here, f"missing {_keys(missing)}: every row has the first row's keys")
        if len(row) > len(keys) - len(missing):
            for key in row:
                if key not in first:
                    out.at_key((*here, key), f"{key!r} is not a key of the first row")
        row_id = row.get("id")
        if row_id is not None:
            text = str(row_id)
            if text in ids:
                first_line = out.loaded.value_pos((*prefix, ids[text], "id")).line
                out.at_value(
                    (*here, "id"),
                    f"id {text!r} is already the id of rows[{ids[text]}] (line {first_line})",
                )
            ids.setdefault(text, i)
        for key in used:
            if row.get(key) == "":
                what = "the field" if key in FIELD_AXES else "a prompt names"
                out.at_value((*here, key), f"empty cell: {what} {key!r}")
        if missing:
            continue
        extra = tuple(row[k] for k in extra_keys) if extra_keys else ()
        built.append(
            Row(
                id=None if row_id is None else str(row_id),
                values=tuple(row[k] for k in used),
                origins=tuple(origin(i, k) for k in used),
                origin=origin(i, "id" if "id" in row else None),
                extra=extra,
                blanks=_blanks(extra_keys, extra, i, origin) if "" in extra else (),
            )
        )
    return Rows(keys=used, rows=tuple(built), has_id="id" in first, extra_keys=extra_keys)


def _blanks(
    keys: tuple[str, ...], values: tuple[Any, ...], index: int, origin: _Origins
) -> tuple[tuple[str, Origin], ...]:
    """Where a row's empty cells among ``keys`` are written (``delivery.name`` may not use them)."""
    return tuple((k, origin(index, k)) for k, v in zip(keys, values, strict=True) if v == "")


class _Origins:
    """The origins of the cells of many rows, made without formatting each path anew."""

    def __init__(self, out: Problems, prefix: Path) -> None:
        self.out = out
        self.prefix = prefix
        self.text = format_path(prefix)
        self.file = out.file if out.via else ""

    def __call__(self, index: int, key: str | None) -> Origin:
        path: Path = (*self.prefix, index) if key is None else (*self.prefix, index, key)
        pos = self.out.loaded.values.get(path) or self.out.loaded.value_pos(path)
        text = f"{self.text}[{index}]" + ("" if key is None else f".{key}")
        return Origin(text, pos, self.file, self.out.via)


def _keys(keys: list[str]) -> str:
    return ", ".join(repr(k) for k in keys)


def _csv(text: str, file: str) -> Loaded:
    """A CSV file as ``{"rows": [...]}``: one mapping per record (None for a record of the wrong
    width, reported), every cell at its line and character column."""
    loaded = Loaded(data=None)
    lines = list(io.StringIO(text, newline=""))
    reader = csv.reader(lines)
    rows: list[dict[str, Any] | None] = []
    header: list[str] = []
    header_columns: list[Pos] = []
    before = 0
    try:
        for record in reader:
            record_lines, line = lines[before : reader.line_num], before + 1
            before = reader.line_num
            if not record:
                continue  # a blank line
            columns = _columns(record, record_lines, line)
            if not header:
                header, header_columns = _header(record, columns, loaded, file), columns
                continue
            rows.append(_record(len(rows), record, columns, header, header_columns, loaded, file))
    except csv.Error as exc:
        loaded.errors.append(_diagnostic(file, Pos(reader.line_num, 1), f"not CSV: {exc}"))
    if not header and not loaded.errors:
        loaded.errors.append(_diagnostic(file, Pos(1, 1), "the file is empty; it needs a header"))
    loaded.data = rows
    return loaded


def _header(record: list[str], columns: list[Pos], loaded: Loaded, file: str) -> list[str]:
    seen: set[str] = set()
    for name, pos in zip(record, columns, strict=True):
        if not name:
            loaded.errors.append(_diagnostic(file, pos, "empty column name in the header"))
        elif name in seen:
            loaded.errors.append(_diagnostic(file, pos, f"column {name!r} is named twice"))
        seen.add(name)
    return record


def _record(
    index: int,
    record: list[str],
    columns: list[Pos],
    header: list[str],
    header_columns: list[Pos],
    loaded: Loaded,
    file: str,
) -> dict[str, Any] | None:
    """One record as a mapping (its keys at the header's cells), or None if its width is not
    the header's (reported)."""
    here: Path = ("rows", index)
    loaded.values[here] = columns[0]
    if len(record) != len(header):
        if len(record) > len(header):
            pos, words = (
                columns[len(header)],
                f"an extra cell: the header has {len(header)} columns",
            )
        else:
            last = columns[-1]
            pos = Pos(last.line, last.col + len(record[-1]))
            words = f"missing {_keys(header[len(record) :])}: the header has {len(header)} columns"
        loaded.errors.append(_diagnostic(file, pos, f"{format_path(here)}: {words}"))
        return None
    row: dict[str, Any] = {}
    for name, cell, pos, key_pos in zip(header, record, columns, header_columns, strict=True):
        cell_path: Path = (*here, name)
        loaded.values[cell_path] = pos
        loaded.keys[cell_path] = key_pos
        row[name] = int(cell) if name == "n" and cell.isdigit() else cell
    return row


def _columns(record: list[str], lines: list[str], line: int) -> list[Pos]:
    """Where each cell of a record starts (1-based), from the physical lines it was read from."""
    if len(lines) == 1 and '"' not in lines[0]:
        columns, col = [], 1
        for cell in record:
            columns.append(Pos(line, col))
            col += len(cell) + 1
        return columns
    return _scan("".join(lines), line)


_START, _PLAIN, _QUOTED, _QUOTE = range(4)


def _scan(text: str, line: int) -> list[Pos]:
    """Cell starts in one record, by the excel dialect: a quote opens a cell only at its start,
    a doubled quote inside one is a quote, a comma outside quotes ends a cell."""
    starts = [Pos(line, 1)]
    col, state = 1, _START
    for ch in text:
        if state == _QUOTED:
            if ch == '"':
                state = _QUOTE
        else:
            if state == _QUOTE:
                state = _QUOTED if ch == '"' else _PLAIN
            if state in (_START, _PLAIN):
                if ch == ",":
                    starts.append(Pos(line, col + 1))
                    state = _START
                elif ch == '"' and state == _START:
                    state = _QUOTED
                else:
                    state = _PLAIN
        if ch == "\n":
            line, col = line + 1, 0
        col += 1
    return starts


def _jsonl(text: str, file: str) -> Loaded:
    """A JSON Lines file: one object per non-blank line, each value at its line and column."""
    loaded = Loaded(data=None)
    rows: list[dict[str, Any] | None] = []
    decoder = json.JSONDecoder(parse_constant=_not_finite)
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        here: Path = ("rows", len(rows))
        loaded.values[here] = Pos(number, 1)
        try:
            value = decoder.decode(line)
        except json.JSONDecodeError as exc:
            loaded.errors.append(_diagnostic(file, Pos(number, exc.colno), f"not JSON: {exc.msg}"))
            rows.append(None)
            continue
        except ValueError as exc:  # NaN, Infinity
            loaded.errors.append(_diagnostic(file, Pos(number, 1), str(exc)))
            rows.append(None)
            continue
        if not isinstance(value, dict):
            words = f"a row is a JSON object, got {describe(value)}"
            loaded.errors.append(_diagnostic(file, Pos(number, 1), words))
            rows.append(None)
            continue
        for key in value:
            found = re.search(re.escape(json.dumps(key)) + r"\s*:\s*", line)
            cell_path: Path = (*here, key)
            loaded.keys[cell_path] = Pos(number, found.start() + 1 if found else 1)
            loaded.values[cell_path] = Pos(number, found.end() + 1 if found else 1)
        rows.append(value)
    loaded.data = rows
    return loaded


def _not_finite(word: str) -> object:
    raise ValueError(f"{word} is not a finite number")


def _yaml(text: str, file: str) -> Loaded:
    """A YAML file holding a list of mappings, its positions under ``rows``."""
    inner = load_yaml(text, file)
    loaded = Loaded(data=[], errors=inner.errors, problems=inner.problems)
    loaded.values = {("rows", *p): pos for p, pos in inner.values.items()}
    loaded.keys = {("rows", *p): pos for p, pos in inner.keys.items()}
    data = inner.data
    if inner.errors:
        return loaded
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        words = f"a rows file holds a list of mappings, got {describe(data)}"
        loaded.errors.append(_diagnostic(file, Pos(1, 1), words))
        return loaded
    loaded.data = data
    return loaded


def _diagnostic(file: str, pos: Pos, message: str) -> Diagnostic:
    return Diagnostic(file, pos.line, pos.col, "", message)
