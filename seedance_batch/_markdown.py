"""One escape for every value a Markdown report shows, so no value renders as markup."""

from __future__ import annotations

import re

__all__ = ["md_text"]

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
