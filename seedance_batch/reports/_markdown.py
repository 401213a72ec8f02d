"""Markdown for reports: one escape for every value (no value renders as markup), tables and
folded sections."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

__all__ = ["md_code", "md_details", "md_row", "md_table", "md_text"]

_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}
#: Characters that start Markdown markup inline (links, emphasis, code, tables, strike-through).
_PUNCTUATION = frozenset("\\`*_[]|~!#")
_BREAKS = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]+")


def md_text(value: object) -> str:
    """``value`` as literal text in a Markdown paragraph or table cell: HTML escaped, markup
    characters backslash-escaped, and line breaks and control characters folded to a space."""
    text = _BREAKS.sub(" ", str(value))
    out = []
    for char in text:
        if char in _HTML:
            out.append(_HTML[char])
        elif char in _PUNCTUATION:
            out.append("\\" + char)
        else:
            out.append(char)
    return "".join(out)


def md_code(value: object) -> str:
    """``value`` as inline code (ids, commands): backticks inside are dropped, breaks folded."""
    return "`" + _BREAKS.sub(" ", str(value)).replace("`", "") + "`"


def md_row(cells: Iterable[object]) -> str:
    """One table row of cells already escaped (:func:`md_text`, :func:`md_code`) or numbers."""
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


def md_table(
    header: Sequence[str], rows: Iterable[Sequence[object]], right: Iterable[int] = ()
) -> list[str]:
    """A table: the header, the rule (columns in ``right`` aligned right), then the rows."""
    right_set = frozenset(right)
    rule = ["---:" if index in right_set else "---" for index in range(len(header))]
    return [md_row(header), md_row(rule), *(md_row(row) for row in rows)]


def md_details(summary: str, body: Sequence[str], *, open_: bool = False) -> list[str]:
    """``body`` folded under a ``<details>`` whose ``<summary>`` is ``summary`` (escaped)."""
    tag = "<details open>" if open_ else "<details>"
    return [f"{tag}<summary>{md_text(summary)}</summary>", "", *body, "", "</details>", ""]
