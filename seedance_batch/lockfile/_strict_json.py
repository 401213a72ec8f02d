"""Reading JSON strictly: duplicate keys and git conflict markers refused, each with one line."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Final

from seedance_batch._errors import LockfileError

__all__ = [
    "DuplicateKeyError",
    "check_conflict_markers",
    "parse_json",
    "parse_json_fast",
    "read_bytes",
    "unique_object",
]

_CONFLICT_MARKER: Final = re.compile(rb"^(?:<{7}|={7}|>{7})(?:[ \t\r\n]|$)", re.MULTILINE)
#: How a colon (or any of U+0030..U+003F) is escaped inside a JSON string.
_ESCAPED_COLON: Final = b"\\u003"


class DuplicateKeyError(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """json's object hook that refuses a key seen twice in one object (as cheap as ``dict``)."""
    made = dict(pairs)
    if len(made) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKeyError(key)
            seen.add(key)
    return made


def parse_json(data: bytes, where: str) -> Any:
    """``data`` as JSON, refusing duplicate keys and git conflict markers; a
    :class:`LockfileError` naming ``where``.

    Markers are looked for only when the parse fails: one at the start of a line is never valid
    JSON (a string holds no raw newline), so a document that parses has none.
    """
    try:
        return json.loads(data, object_pairs_hook=unique_object)
    except ValueError as exc:
        check_conflict_markers(data, where)
        if isinstance(exc, DuplicateKeyError):
            raise LockfileError(
                f"{where}: duplicate key {exc.key!r}: a key appears twice in one object (a hand "
                "edit or a bad merge?); refused, since either copy could be lost; keep one"
            ) from None
        raise LockfileError(f"{where}: not valid JSON: {exc}") from exc


def parse_json_fast(data: bytes) -> dict[str, Any] | None:
    """The JSON object ``data`` holds, parsed by orjson, when that is sure to be what
    :func:`parse_json` gives; None otherwise (not an object, orjson refuses the bytes, or a
    duplicate key could hide), and the caller then parses strictly, which words any problem.

    orjson keeps the last of a key seen twice, so duplicates are found by counting: every ``:``
    of a JSON text outside its strings separates one key from its value, so the text has as
    many pairs as ``:`` bytes less those inside strings. Serialised again, the parsed document
    holds each surviving pair once and the same strings; a duplicate dropped one pair (and its
    strings' colons), so the two counts agree exactly when no key was dropped. A colon written
    as an escape (``\\u003a``) inside a string would spoil the count: then None.

    One value differs: an integer beyond 64 bits, which orjson reads as a float. Use this only
    where every number read is checked to be an ``int`` (a float is then refused, and the strict
    parse decides).
    """
    import orjson

    if _ESCAPED_COLON in data:
        return None
    try:
        doc = orjson.loads(data)
        again = orjson.dumps(doc)
    except (ValueError, TypeError):  # orjson's decode and encode errors
        return None
    if not isinstance(doc, dict) or again.count(b":") != data.count(b":"):
        return None
    return doc


def check_conflict_markers(data: bytes, where: str) -> None:
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


def read_bytes(path: Path, what: str) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise LockfileError(f"{path}: cannot read {what}: {exc.strerror or exc}") from exc
