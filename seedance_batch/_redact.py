"""The one redaction: secrets out of every string that an answer or a command line brings in.

Whatever comes from the API (messages, status words, task ids, URLs) and the command line that a
journal header records pass through :func:`redact` before they are stored, printed or rendered:
the API key's value, a ``Bearer`` token and the user-info part of a URL become ``<redacted>``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

__all__ = ["REDACTED", "holds_secret", "redact"]

REDACTED = "<redacted>"
#: A secret shorter than this is not searched for: it would redact ordinary words.
_SHORTEST_SECRET = 4
_BEARER = re.compile(r"(?i)\b(bearer|api[_-]?key)(\s*[:=]?\s*)([^\s\"',;]{4,})")
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]*@")


def _secrets(secrets: Iterable[str]) -> tuple[str, ...]:
    if isinstance(secrets, tuple):  # a client's own tuple, the same at every call
        return _searched(secrets)
    return _searched(tuple(secrets))


@functools.lru_cache(maxsize=16)
def _searched(secrets: tuple[str, ...]) -> tuple[str, ...]:
    # longest first, so that a secret containing another is replaced whole
    return tuple(sorted({s for s in secrets if len(s) >= _SHORTEST_SECRET}, key=len, reverse=True))


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` without the given secrets, ``Bearer`` tokens or URL user-info."""
    for secret in _secrets(secrets):
        if secret in text:
            text = text.replace(secret, REDACTED)
    if "@" in text:
        text = _USERINFO.sub(lambda m: f"{m.group(1)}{REDACTED}@", text)
    return _BEARER.sub(
        lambda m: m.group(0) if m.group(3) == REDACTED else f"{m.group(1)}{m.group(2)}{REDACTED}",
        text,
    )


def holds_secret(text: str, secrets: Iterable[str] = ()) -> bool:
    """Whether :func:`redact` would change ``text`` (a task id or URL that must be refused)."""
    return redact(text, secrets) != text
