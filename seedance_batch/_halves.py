"""A big pretty-printed JSON document cut into two whole documents, and their results joined.

``plan`` reads a 100,000-job lockfile (80 MB) and must parse every byte of it, so that no
duplicate key goes unseen; that parse costs more than the plan itself. :func:`cut` cuts the
document's big member (``"jobs": {...}``, two-space indented) at an entry boundary near its
middle and makes each half a whole document, so that two processes can parse one each;
:func:`join` puts their results back together, in the file's key order, and refuses (None)
whenever the halves overlap (a key in both) or the cut did not fall between two entries of the
member. The caller then parses the whole document in one piece, which words any error.
"""

from __future__ import annotations

from typing import Any, Final

__all__ = ["cut", "join"]

_ENTRY_END: Final = b"\n    },\n    "
_CLOSE_HALF: Final = b"\n  }\n}\n"

Half = dict[str, Any]


def cut(data: bytes, member: str) -> tuple[bytes, bytes] | None:
    """Two whole documents: the top level up to an entry of ``member`` near the middle (its
    closing braces added), and ``{"member": {`` + the rest of the entries and the top level.
    None when the layout offers no such cut."""
    opening = f'\n  "{member}": {{\n'.encode()
    start = data.find(opening)
    if start < 0:
        return None
    middle = data.find(_ENTRY_END, start + (len(data) - start) // 2)
    if middle < 0:
        return None
    entry_end = middle + len(b"\n    }")
    view = memoryview(data)
    head = b"".join((view[:entry_end], _CLOSE_HALF))  # one copy each
    tail = b"".join((b'{"', member.encode(), b'": {', view[entry_end + 1 :]))
    return head, tail


def join(head: Half, tail: Half, member: str) -> Half | None:
    """The whole document's result from its halves' (each a top level whose ``member`` is a
    mapping), or None when they overlap or were not cut inside ``member`` (then the head's last
    key is another one)."""
    if not head or list(head)[-1] != member or next(iter(tail), None) != member:
        return None
    if set(head) & set(tail) != {member}:
        return None
    first, second = head[member], tail[member]
    if not isinstance(first, dict) or not isinstance(second, dict):
        return None
    if not first.keys().isdisjoint(second):
        return None
    joined = dict(head)
    joined[member] = {**first, **second}
    for key, value in tail.items():
        if key != member:
            joined[key] = value
    return joined
