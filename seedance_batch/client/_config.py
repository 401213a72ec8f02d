"""The client's settings, checked before anything is sent: base URL, API key, Idempotency-Key.

A plain ``http://`` base URL is refused unless its host is loopback (the key would travel
unencrypted). The key lives in a :class:`Secret` whose ``repr`` hides it; it is sent only in the
Authorization header, and only to the API's exact origin (:func:`origin`).
"""

from __future__ import annotations

from importlib import metadata

import httpx

from seedance_batch._errors import ConfigurationError
from seedance_batch._redact import REDACTED
from seedance_batch.client._answers import clean
from seedance_batch.client._http import is_loopback

__all__ = [
    "MAX_ANSWER_BYTES",
    "MAX_IMAGE_BYTES",
    "USER_AGENT",
    "Origin",
    "Secret",
    "check_base_url",
    "check_idempotency_key",
    "check_key",
    "origin",
]

#: The caps of contract section 7: an API answer, and an image, decoded.
MAX_ANSWER_BYTES = 8 * 1024 * 1024
MAX_IMAGE_BYTES = 64 * 1024 * 1024

try:
    _VERSION = metadata.version("seedance-batch")
except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
    _VERSION = "0"
USER_AGENT = f"seedance-batch/{_VERSION}"


class Secret:
    """A string that never shows in a repr, a str or a traceback's locals."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The string itself, for the one place that sends it."""
        return self._value

    def __repr__(self) -> str:
        return REDACTED

    __str__ = __repr__


Origin = tuple[str, str, int]


def origin(url: httpx.URL) -> Origin:
    """``(scheme, host, port)`` of ``url``, the port filled in from the scheme."""
    scheme = url.scheme.lower()
    port = url.port if url.port is not None else {"http": 80, "https": 443}.get(scheme, 0)
    return (scheme, url.host.lower(), port)


def check_base_url(base_url: str) -> httpx.URL:
    """The base URL, checked (absolute http(s), no credentials, https unless loopback), without
    a trailing slash; :class:`ConfigurationError` otherwise."""
    try:
        url = httpx.URL(base_url.strip())
    except (httpx.InvalidURL, TypeError):
        raise ConfigurationError("the base URL is not a valid URL") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ConfigurationError(
            f"the base URL must be an absolute http(s) URL such as https://sseedance.com, "
            f"not {clean(base_url)!r}"
        )
    if url.userinfo:
        raise ConfigurationError("the base URL must not carry a user name or password")
    if url.query or url.fragment:
        raise ConfigurationError("the base URL must not carry a query or a fragment")
    if url.scheme == "http" and not is_loopback(url.host):
        raise ConfigurationError(
            f"refusing plain http:// for {url.host}: the API key would travel unencrypted; "
            "use https:// (http:// is allowed only for loopback hosts such as 127.0.0.1)"
        )
    return url.copy_with(path=url.path.rstrip("/") or "/")


def check_key(api_key: str) -> Secret:
    """The API key wrapped in a :class:`Secret`; :class:`ConfigurationError` when it is empty or
    holds what cannot go in an HTTP header."""
    if not isinstance(api_key, str) or not api_key.strip():
        raise ConfigurationError("the API key is empty")
    if any(not 0x21 <= ord(ch) <= 0x7E for ch in api_key):
        raise ConfigurationError(
            "the API key contains spaces or characters that cannot go in an HTTP header"
        )
    return Secret(api_key)


def check_idempotency_key(key: str) -> None:
    """``ValueError`` unless ``key`` is 1 to 255 visible ASCII characters."""
    # visible ASCII: ASCII, printable (no control character) and no space; no loop in Python
    if not (1 <= len(key) <= 255 and key.isascii() and key.isprintable()) or " " in key:
        raise ValueError("an Idempotency-Key must be 1 to 255 visible ASCII characters")
