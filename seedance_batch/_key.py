"""The API key's one source: the ``SEEDANCE_API_KEY`` environment variable, and what keeps it in.

The key is read from the environment only, never from a file or an argument; whatever prints or
stores a line that may hold it redacts :func:`key_values`, and a child process the tool starts
gets :func:`environment_without_key`.
"""

from __future__ import annotations

import os
from typing import Final

from seedance_batch._errors import ConfigurationError

__all__ = ["KEY_VARIABLE", "api_key_from_environment", "environment_without_key", "key_values"]

KEY_VARIABLE: Final = "SEEDANCE_API_KEY"


def api_key_from_environment() -> str:
    """``SEEDANCE_API_KEY``, or :class:`ConfigurationError` (exit 2) when it is not set."""
    key = os.environ.get(KEY_VARIABLE, "").strip()
    if not key:
        raise ConfigurationError(f"{KEY_VARIABLE} is not set: nothing was sent")
    return key


def key_values() -> list[str]:
    """The key as set and as used (stripped), for redaction; none when it is not set."""
    key = os.environ.get(KEY_VARIABLE, "")
    return [value for value in {key, key.strip()} if value]


def environment_without_key() -> dict[str, str]:
    """This process's environment for a child that has no use for the key: without it."""
    return {name: value for name, value in os.environ.items() if name != KEY_VARIABLE}
