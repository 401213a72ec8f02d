"""Markdown for reports: one escape for every value (no value renders as markup), tables and
folded sections."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

__all__ = [
    "MAX_CHARS",
    "PAGE_ROWS",
    "MarkdownDocument",
    "md_code",
    "md_row",
    "md_table",
    "md_text",
]

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
    return "|" + "|".join(f" {cell} " if cell != "" else " " for cell in cells) + "|"


def md_table(
    header: Sequence[str], rows: Iterable[Sequence[object]], right: Iterable[int] = ()
) -> list[str]:
    """A table: the header, the rule (columns in ``right`` aligned right), then the rows."""
    right_set = frozenset(right)
    rule = ["---:" if index in right_set else "---" for index in range(len(header))]
    return [md_row(header), md_row(rule), *(md_row(row) for row in rows)]


#: GitHub refuses a comment over 65,536 characters: a report stays well under it.
MAX_CHARS = 50_000
#: Rows a table shows open; a longer one is folded under ``<details>`` (one page).
PAGE_ROWS = 20
#: Room kept for what closes a document once a table has been cut short.
_CLOSING_ROOM = 600


def _length(line: str) -> int:
    """Characters as GitHub counts them (UTF-16 units: an emoji is two), and the line break."""
    return len(line) + 1 + (0 if line.isascii() else sum(ord(c) > 0xFFFF for c in line))


class MarkdownDocument:
    """Lines of a Markdown report that never grows past :data:`MAX_CHARS`: a table cut short
    says how many rows it left out and where to see them all."""

    def __init__(self, max_chars: int = MAX_CHARS) -> None:
        self.max_chars = max_chars
        self._lines: list[str] = []
        self._size = 0

    def add(self, *lines: str) -> None:
        for line in lines:
            self._lines.append(line)
            self._size += _length(line)

    def fits(self, line: str) -> bool:
        """Whether ``line`` still fits, with room left to close the document."""
        return self._size + _length(line) + _CLOSING_ROOM <= self.max_chars

    @property
    def room(self) -> int:
        """Characters still free before the limit (less the room kept to close)."""
        return max(0, self.max_chars - _CLOSING_ROOM - self._size)

    def table(
        self,
        title: str,
        header: Sequence[str],
        rows: Sequence[Sequence[object]],
        *,
        right: Iterable[int] = (),
        rest: str = "",
        room: int | None = None,
        summary: str | None = None,
    ) -> None:
        """A table of ``rows`` (cells escaped already) under ``title``, folded under
        ``<details>`` past a page (``summary``, else ``title``, its summary). Rows past ``room``
        characters, or past the document's limit, are counted instead, with ``rest`` (where to
        see them all)."""
        folded = len(rows) > PAGE_ROWS
        if folded:
            self.add(f"<details><summary>{summary or title}</summary>", "")
        elif title:
            self.add(title, "")
        self.add(*md_table(header, (), right))
        end = self._size + (self.room if room is None else room)
        shown = 0
        for row in rows:
            line = md_row(row)
            if not self.fits(line) or self._size + _length(line) > end:
                break
            self.add(line)
            shown += 1
        if shown < len(rows):
            self.add("", f"… and {len(rows) - shown} more{rest}.")
        self.add("", *(["</details>", ""] if folded else []))

    def text(self) -> str:
        return "\n".join(self._lines) + "\n"
