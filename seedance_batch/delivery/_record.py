"""What an export delivered: ``DEST/delivery.json`` and ``DEST/delivery.csv``, one entry per
file in plan order, read back by the next export (what it may skip or remove) and by verify.

No timestamps: an unchanged export renders both byte for byte, and so writes neither.
``recipe`` is what the file was made from besides its source (the profile's settings and the
provenance packet): an entry whose source and recipe are unchanged, and whose file still has
its SHA-256, is kept without reading or re-encoding anything.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields

import orjson

from seedance_batch._errors import DeliveryError
from seedance_batch._labels import variant_text
from seedance_batch.delivery._target import Target

__all__ = ["CSV_NAME", "JSON_NAME", "Entry", "read_record", "render_csv", "render_json"]

JSON_NAME = "delivery.json"
CSV_NAME = "delivery.csv"
VERSION = 1
_CSV_COLUMNS = (
    "name",
    "profile",
    "sha256",
    "bytes",
    "source_sha256",
    "job",
    "job_id",
    "variant",
    "take",
    "index",
    "prompt",
)


@dataclass(frozen=True)
class Entry:
    """One delivered file: its name in DEST, its profile, its own SHA-256 and size, and the
    image it was made from."""

    name: str
    profile: str
    sha256: str
    bytes: int
    source_sha256: str
    job: str
    job_id: str
    variant: Mapping[str, str]
    take: int
    index: int
    prompt: str
    recipe: str


_FIELDS = tuple(f.name for f in fields(Entry))


def _fields(entry: Entry) -> dict[str, object]:
    values = {name: getattr(entry, name) for name in _FIELDS}
    values["variant"] = dict(entry.variant)
    return values


def render_json(campaign: str, tool: str, entries: Iterable[Entry]) -> bytes:
    """The record as JSON: pretty (two spaces), stable, one file after another."""
    files = [_fields(e) for e in entries]
    record = {"version": VERSION, "campaign": campaign, "tool": tool, "files": files}
    return orjson.dumps(record, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)


def render_csv(entries: Iterable[Entry]) -> bytes:
    """The record as CSV (UTF-8, a header row; the variant as ``axis=value, ...``)."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(_CSV_COLUMNS)
    for e in entries:
        row = _fields(e)
        row["variant"] = variant_text(e.variant, empty="")
        writer.writerow([row[column] for column in _CSV_COLUMNS])
    return text.getvalue().encode("utf-8")


def read_record(target: Target) -> dict[str, Entry]:
    """The entries of the destination's ``delivery.json`` by name; empty when there is none.
    A file that is no record is refused (one line): what it lists cannot be trusted, so
    nothing is removed on its word."""
    data = target.read(JSON_NAME)
    if data is None:
        return {}
    where = f"{target.describe().rstrip('/')}/{JSON_NAME}"
    try:
        record = orjson.loads(data)
        if record.get("version") != VERSION:
            raise ValueError(f"version {record.get('version')!r}, not {VERSION}")
        entries = [_entry(item) for item in record["files"]]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:  # orjson's is a ValueError
        raise DeliveryError(
            f"{where}: not a delivery record ({exc}); move it away to export afresh"
        ) from None
    return {e.name: e for e in entries}


def _entry(item: Mapping[str, object]) -> Entry:
    values = {field: item[field] for field in _FIELDS}
    for field in ("bytes", "take", "index"):
        if not isinstance(values[field], int):
            raise TypeError(f"{field} is no integer")
    for field in ("name", "profile", "sha256", "source_sha256", "job", "job_id", "prompt"):
        if not isinstance(values[field], str):
            raise TypeError(f"{field} is no string")
    if not isinstance(values["variant"], dict):
        raise TypeError("variant is no mapping")
    return Entry(**values)  # type: ignore[arg-type]
