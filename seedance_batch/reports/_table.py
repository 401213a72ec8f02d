"""Plain-text tables whose columns line up on a terminal, wide and combining characters too."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence

from wcwidth import wcswidth

__all__ = ["display_width", "one_line", "text_table"]

_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def one_line(value: object) -> str:
    """``value`` as one line of text: line breaks, tabs and control characters become a space
    (a value with a newline would break its row; one with an escape would restyle the
    terminal)."""
    text = str(value)
    return text if text.isprintable() else _CONTROLS.sub(" ", text)


def display_width(text: str) -> int:
    """Columns ``text`` takes on a terminal: 2 for a wide (CJK, emoji) character, 0 for a
    combining one. ``text`` is one line (:func:`one_line`)."""
    if text.isascii():
        return len(text)
    width = wcswidth(text)
    return width if width >= 0 else len(text)


def _pad(text: str, width: int, right: bool) -> str:
    gap = " " * (width - display_width(text))
    return gap + text if right else text + gap


def text_table(rows: Sequence[Sequence[object]], right: Iterable[int] = ()) -> Iterator[str]:
    """Each row as a line, cells two spaces apart, each column as wide as its widest cell;
    columns numbered in ``right`` (counts, credits) are aligned to the right."""
    if not rows:
        return
    cells = [[one_line(cell) for cell in row] for row in rows]
    columns = max(len(row) for row in cells)
    widths = [0] * columns
    for row in cells:
        for index, cell in enumerate(row):
            widths[index] = max(widths[index], display_width(cell))
    right_set = frozenset(right)
    for row in cells:
        padded = (_pad(cell, widths[i], i in right_set) for i, cell in enumerate(row))
        yield "  ".join(padded).rstrip()
