"""The async client of the Seedance 2.1 image API: auth, retries, rate limit, tolerant parsing.

One :class:`SeedanceClient` holds two connection pools (contract, section 7): one for the API's
origin and one for image hosts, each sized for requests in flight, not tasks. Every request has
a timeout. Failures are retried as :class:`~seedance_batch._retry.RetryPolicy` says, and what is
left is raised as one of the errors of ``seedance_batch._errors``.

Decisions the contract leaves to the client, written down here:

- **Rate limit.** Every request to the API's origin counts: creates, polls, every retry, and
  image downloads (and redirect hops) that land on the API's own origin. Requests to other
  image hosts do not: they are not the API.
- **Retry-After** (seconds or an HTTP date) is honoured as given, capped at
  ``RetryPolicy.retry_after_cap`` (5 minutes by default); without it, full jitter.
- **Possible double charges.** A create is resent with the same ``Idempotency-Key``. A resend
  counts as a possible double charge when an earlier attempt may have reached the server: a
  transport failure after the request may have left (read/write errors, read/write timeouts,
  a reset or an early close; not connect errors or pool timeouts, where nothing was sent), or a
  502 or 504 answer (a gateway that lost or timed out on the origin, which may have taken the
  request). Any other error answer (429, 408, 409, 425, 500, 503, ...) is a refusal: nothing
  was created.
- **Statuses.** 400, 422 and other 4xx: :class:`RequestRejectedError`, not retried; 401/403:
  :class:`AuthenticationError`; 402: :class:`CreditsExhaustedError`; 408, 409, 425, 429 and
  5xx: retried, then :class:`TransientApiError`; 404 on a create (a wrong base URL) and any
  3xx: :class:`ApiProtocolError`; 404 on a poll: retried ``not_found_retries`` times (a task
  just created may not be visible yet), then :class:`TaskNotFoundError`.
- **Nonsense answers.** A 2xx create answer without a task id is not retried (a task may
  exist): :class:`ApiProtocolError` with ``task_may_exist``. A 2xx poll answer that is not a
  JSON object with an id or a status is retried ``not_found_retries`` times, then
  :class:`ApiProtocolError`.
- **Downloads.** The Authorization header goes with a download only while every hop so far
  (redirects are followed by hand, at most 5) is on the API's exact origin (scheme, host,
  port); never to any other host. 403/404/410 are retried ``not_found_retries`` times, 408,
  429, 5xx, connection failures, timeouts and truncated bodies ``max_retries`` times; then
  :class:`DownloadError` (with ``status``). A 2xx answer whose bytes are not PNG, JPEG or WEBP
  fails at once. A body is truncated when it is shorter than its Content-Length or its format's
  end marker is missing (PNG ``IEND``, JPEG ``FFD9``, the RIFF size of a WEBP).
- **The API key** lives in a wrapper whose ``repr`` hides it, is sent only in the Authorization
  header, and is replaced by ``<redacted>`` in every message built from an answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import random
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from importlib import metadata
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Literal, NoReturn, TypeVar
from urllib.parse import quote, urlsplit

import httpx

from seedance_batch._errors import (
    ApiError,
    ApiProtocolError,
    AuthenticationError,
    ConfigurationError,
    CreditsExhaustedError,
    DownloadError,
    NetworkError,
    RequestRejectedError,
    SeedanceBatchError,
    TaskNotFoundError,
    TransientApiError,
)
from seedance_batch._ratelimit import RateLimiter
from seedance_batch._retry import Operation, RetryEvent, RetryPolicy, parse_retry_after
from seedance_batch._rules import classify_status
from seedance_batch._transport import Pool, is_loopback

__all__ = [
    "ClientStats",
    "CreateOutcome",
    "Download",
    "ImageType",
    "RetryEvent",
    "RetryPolicy",
    "SeedanceClient",
    "Task",
    "TaskStatus",
    "parse_task",
]

CREATE_PATH = "/v1/images/generations"
TASK_PATH = "/v1/tasks/"

TaskStatus = Literal["running", "succeeded", "failed"]
ImageType = Literal["png", "jpg", "webp"]

#: Statuses retried with backoff besides 5xx.
_RETRYABLE_4XX = frozenset({408, 409, 425, 429})
#: Error answers to a create that may come after the origin took the request (see module doc).
_MAYBE_REACHED = frozenset({502, 504})
#: Image answers that most likely mean "gone", retried only a few times.
_GONE = frozenset({403, 404, 410})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 5
_MAX_MESSAGE = 300
_REDACTED = "<redacted>"

try:
    _VERSION = metadata.version("seedance-batch")
except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
    _VERSION = "0"
_USER_AGENT = f"seedance-batch/{_VERSION}"

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"
_JPEG_MAGIC = b"\xff\xd8\xff"
_JPEG_END = b"\xff\xd9"
_TAIL = 64
#: An image up to this size is held in memory and written to its file in one go.
_IN_MEMORY = 8 * 1024 * 1024


# --------------------------------------------------------------------------------------------
# Values


@dataclass(frozen=True)
class Task:
    """A tolerant reading of a task answer (contract, section 1).

    ``status`` is the class of ``status_word`` (the word as the API sent it, "" when it sent
    none); ``image_urls`` are every image URL found, in order, without duplicates; ``error`` is
    the failure message of a failed task, when the answer has one; ``raw`` is the answer itself
    (the unwrapped JSON object), for logs and for what this reading does not cover.
    """

    id: str
    status: TaskStatus
    status_word: str
    image_urls: tuple[str, ...]
    error: str | None
    raw: Mapping[str, object] = field(repr=False, compare=False)
    policy_rejection: bool = False  # STUB of CLIENT's interface 3 (EXEC branch): never set here


@dataclass(frozen=True)
class CreateOutcome:
    """What a create gave: the task, and how many earlier attempts may have reached the server.

    Each such attempt may have been charged, on top of the one that gave the task (unless the
    API honours the ``Idempotency-Key``).
    """

    task: Task
    ambiguous_attempts: int = 0

    @property
    def possible_double_charge(self) -> bool:
        """True when the create was resent after an attempt that may have reached the server."""
        return self.ambiguous_attempts > 0


@dataclass(frozen=True)
class Download:
    """A downloaded, checked image: its size, SHA-256 (hex), type by its bytes, and its URL."""

    bytes: int
    sha256: str
    ext: ImageType
    content_type: str | None
    url: str


@dataclass(frozen=True)
class ClientStats:
    """Counters of one client's life, for run summaries."""

    requests: int = 0
    """Requests sent to the API's origin (every attempt, downloads there included)."""
    retries: int = 0
    """Retries of any operation, downloads included."""
    possible_double_charges: int = 0
    """Creates resent after an attempt that may have reached the server."""


# --------------------------------------------------------------------------------------------
# Tolerant parsing of a task answer


def parse_task(
    payload: object, *, fallback_id: str | None = None, base_url: str | None = None
) -> Task:
    """Read a task answer in any of the shapes of the contract's section 1.

    The task may come bare or wrapped (``{"data": {...}}``, up to three times); its id is
    ``id`` or ``task_id`` (``taskId``), from the innermost layer out, then ``data[0].id``, then
    ``fallback_id``; its status word is ``status`` (or ``state``) from the innermost layer out,
    then the first ``data[*].status``. Image URLs are collected from ``data[*]`` (``imageUrls``,
    ``url`` as a string or a list, ``image_url(s)``), ``results`` (strings or objects with a
    ``url``) and a top-level ``imageUrls``, in that order, layer by layer, without duplicates;
    a relative URL is resolved against ``base_url``; anything not http(s) is left out.

    Raises :class:`ApiProtocolError` when ``payload`` is not a JSON object, or has no id (and
    no ``fallback_id``).
    """
    if not isinstance(payload, Mapping):
        raise ApiProtocolError(f"the answer is not a JSON object but {_json_kind(payload)}")
    layers = _layers(payload)
    task = layers[0]
    items = [item for layer in layers for item in _list(layer.get("data"))]

    task_id = _first_text(layer.get(key) for layer in layers for key in ("id", "task_id", "taskId"))
    if task_id is None:
        task_id = _first_text(item.get("id") for item in items if isinstance(item, Mapping))
    if task_id is None:
        task_id = fallback_id
    if task_id is None:
        raise ApiProtocolError(f"the answer has no task id (keys: {_keys(payload)})")

    word = _first_text(layer.get(key) for layer in layers for key in ("status", "state"))
    if word is None:
        word = _first_text(item.get("status") for item in items if isinstance(item, Mapping))
    status = classify_status(word)

    urls: dict[str, None] = {}
    for layer in layers:
        for raw_url in _image_url_candidates(layer):
            url = _absolute_url(raw_url, base_url)
            if url is not None:
                urls.setdefault(url, None)

    error = None
    if status == "failed":
        error = _failure_message(layers, items)
    return Task(
        id=task_id,
        status=status,
        status_word=word or "",
        image_urls=tuple(urls),
        error=error,
        raw=task,
    )


def _layers(payload: Mapping[str, object]) -> list[Mapping[str, object]]:
    """The object and its ``data`` wrappers, innermost first."""
    layers = [payload]
    current = payload
    for _ in range(3):
        inner = current.get("data")
        if not isinstance(inner, Mapping):
            break
        current = inner
        layers.append(current)
    layers.reverse()
    return layers


def _list(value: object) -> list[object]:
    return list(value) if isinstance(value, list) else []


def _first_text(values: Iterator[object]) -> str | None:
    """The first value that is a non-empty string or an integer, as a string."""
    for value in values:
        if isinstance(value, str) and value.strip():
            return value.strip()
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
    return None


def _urls_in(value: object) -> Iterator[str]:
    """URL strings in a string, an object with a url, or a list of either."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key in ("url", "imageUrl", "image_url"):
            if isinstance(value.get(key), str):
                yield value[key]
                return
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, (str, Mapping)):
                yield from _urls_in(item)


def _image_url_candidates(layer: Mapping[str, object]) -> Iterator[str]:
    for item in _list(layer.get("data")):
        if isinstance(item, str):
            yield item
        elif isinstance(item, Mapping):
            for key in ("imageUrls", "image_urls", "url", "urls", "imageUrl", "image_url"):
                yield from _urls_in(item.get(key))
    yield from _urls_in(layer.get("results"))
    for key in ("imageUrls", "image_urls"):
        yield from _urls_in(layer.get(key))


def _absolute_url(text: str, base_url: str | None) -> str | None:
    text = text.strip()
    if not text:
        return None
    if text.startswith(("http://", "https://")) and " " not in text:
        # the usual case, read without httpx's URL parser (a tenth of a millisecond a URL)
        try:
            return text if urlsplit(text).hostname else None
        except ValueError:
            return None
    try:
        url = httpx.URL(text)
        if url.is_relative_url and base_url:
            url = httpx.URL(base_url).join(text)
    except httpx.InvalidURL:
        return None
    if url.scheme not in ("http", "https") or not url.host:
        return None
    return str(url)


def _failure_message(layers: list[Mapping[str, object]], items: list[object]) -> str | None:
    places: list[Mapping[str, object]] = [*layers]
    places.extend(item for item in items if isinstance(item, Mapping))
    for place in places:
        for key in ("error", "fail_reason", "failReason", "error_message", "message", "reason"):
            value = place.get(key)
            if isinstance(value, Mapping):
                value = value.get("message") or value.get("msg")
            if isinstance(value, str) and value.strip():
                return _clean(value)
    return None


def _json_kind(value: object) -> str:
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    return f"a {type(value).__name__}"


def _keys(payload: Mapping[str, object]) -> str:
    names = sorted(str(key) for key in payload)[:10]
    return ", ".join(names) if names else "none"


def _clean(text: str) -> str:
    """One line, printable, at most ``_MAX_MESSAGE`` characters."""
    flat = " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())
    return flat if len(flat) <= _MAX_MESSAGE else flat[: _MAX_MESSAGE - 1] + "…"


# --------------------------------------------------------------------------------------------
# Error answers


def _api_message(response: httpx.Response) -> str:
    """The API's own message from an error body, else the status line's reason."""
    message: str | None = None
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        body = None
    if isinstance(body, Mapping):
        error = body.get("error")
        candidates: list[object] = []
        if isinstance(error, Mapping):
            candidates += [error.get("message"), error.get("msg")]
        candidates += [body.get("message"), _detail(body.get("detail"))]
        candidates += [body.get("error_description"), error, body.get("msg")]
        for candidate in candidates:
            if isinstance(candidate, str) and candidate.strip():
                message = candidate
                break
    elif body is None:
        content_type = response.headers.get("content-type", "")
        text = response.text.strip() if content_type.startswith("text/plain") else ""
        if text and len(text) <= 500:
            message = text
    if message is None:
        message = response.reason_phrase or _phrase(response.status_code)
    return _clean(message)


def _detail(value: object) -> str | None:
    """``detail`` as a string, or a list of validation errors (``{"msg": ...}``) joined."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        parts = [item.get("msg") if isinstance(item, Mapping) else item for item in value]
        texts = [part for part in parts if isinstance(part, str) and part]
        return "; ".join(texts) or None
    return None


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


def _error_for_status(status: int, message: str) -> ApiError:
    """The error of a final (not retried, or retried out) error answer."""
    if status in (401, 403):
        return AuthenticationError(message, status=status)
    if status == 402:
        return CreditsExhaustedError(message, status=status)
    if status in _RETRYABLE_4XX or status >= 500:
        return TransientApiError(message, status=status)
    if 300 <= status < 400 or status == 404:
        return ApiProtocolError(message, status=status)
    return RequestRejectedError(message, status=status)


def _retryable(status: int) -> bool:
    return status in _RETRYABLE_4XX or 500 <= status <= 599


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _sent_nothing(exc: httpx.TransportError) -> bool:
    """True for transport failures that happen before a request leaves."""
    return isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))


R = TypeVar("R")


class _ImageSink:
    """Where an image's bytes go while it downloads: memory up to :data:`_IN_MEMORY` bytes,
    its file past that. The file system's work (open, write, fsync, close) happens in threads,
    so that neither a slow disk nor the cost of creating files stalls the event loop; a small
    image costs one thread hop in all."""

    def __init__(self, dest: Path) -> None:
        self._dest = dest
        self._held: list[bytes] = []
        self._size = 0
        self._file: BinaryIO | None = None

    async def write(self, chunk: bytes) -> None:
        self._held.append(chunk)
        self._size += len(chunk)
        if self._size >= _IN_MEMORY:
            data = b"".join(self._held)
            self._held.clear()
            self._size = 0
            file = self._file
            if file is None:
                file = await _in_thread(_create, self._dest)
                self._file = file
            await _in_thread(file.write, data)

    async def commit(self) -> None:
        """Every byte in the file and on the disk (fsync), and the file closed."""
        data = b"".join(self._held)
        self._held.clear()
        self._file, file = None, self._file
        await _in_thread(_write_and_sync, self._dest, file, data)

    async def close(self) -> None:
        """Drop what is held and close the file if one is open (a failed download)."""
        self._held.clear()
        self._file, file = None, self._file
        if file is not None:
            await _in_thread(file.close)


def _create(dest: Path) -> BinaryIO:
    return open(dest, "wb")


def _write_and_sync(dest: Path, file: BinaryIO | None, data: bytes) -> None:
    with file if file is not None else _create(dest) as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())


async def _in_thread(function: Callable[..., R], *args: object) -> R:
    """``function(*args)`` in a thread. When cancelled, it still waits for the thread, so that
    the caller's clean-up (removing the temporary file) comes after any file it creates."""
    future = asyncio.get_running_loop().run_in_executor(None, function, *args)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await future
        raise


# --------------------------------------------------------------------------------------------
# Configuration checks


class _Secret:
    """A string that never shows in a repr, a str or a traceback's locals."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return _REDACTED

    __str__ = __repr__


Origin = tuple[str, str, int]


def _origin(url: httpx.URL) -> Origin:
    scheme = url.scheme.lower()
    port = url.port if url.port is not None else {"http": 80, "https": 443}.get(scheme, 0)
    return (scheme, url.host.lower(), port)


def _check_base_url(base_url: str) -> httpx.URL:
    try:
        url = httpx.URL(base_url.strip())
    except (httpx.InvalidURL, TypeError):
        raise ConfigurationError("the base URL is not a valid URL") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ConfigurationError(
            f"the base URL must be an absolute http(s) URL such as https://sseedance.com, "
            f"not {_clean(base_url)!r}"
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


def _check_key(api_key: str) -> _Secret:
    if not isinstance(api_key, str) or not api_key.strip():
        raise ConfigurationError("the API key is empty")
    if any(not 0x21 <= ord(ch) <= 0x7E for ch in api_key):
        raise ConfigurationError(
            "the API key contains spaces or characters that cannot go in an HTTP header"
        )
    return _Secret(api_key)


def _check_idempotency_key(key: str) -> None:
    if not 1 <= len(key) <= 255 or any(not 0x21 <= ord(ch) <= 0x7E for ch in key):
        raise ValueError("an Idempotency-Key must be 1 to 255 visible ASCII characters")


# --------------------------------------------------------------------------------------------
# The retry loop's vocabulary


@dataclass
class _Failure:
    """One failed attempt: what to raise if it is the last, and how to retry it."""

    error: Callable[[str], SeedanceBatchError]  # builds the final error from a suffix
    reason: str
    retryable: bool = True
    limited: bool = False  # retried only ``not_found_retries`` times
    status: int | None = None
    retry_after: float | None = None
    reached_server: bool = False  # a create that may have been taken (and charged)
    cause: BaseException | None = None


@dataclass(frozen=True)
class _Redirect:
    location: httpx.URL


T = TypeVar("T")


class SeedanceClient:
    """The async client of the Seedance 2.1 image API. Use it as an async context manager.

    - ``base_url``: https, or http on a loopback host only (else :class:`ConfigurationError`).
    - ``api_key``: sent as ``Authorization: Bearer`` to the API's origin only; never shown.
    - ``requests_per_second``: all requests to the API's origin together (fractions allowed,
      ``math.inf`` for none).
    - ``max_connections`` / ``max_image_connections``: the two pools' sizes.
    - ``timeout``: seconds for each of connect, read, write and pool wait of every request;
      ``download_timeout`` bounds one whole image transfer (a slow drip cannot hang a run).
    - ``max_image_bytes``: a larger image fails its download.
    - ``sleep``, ``clock`` (monotonic), ``wall_clock`` (epoch seconds, for HTTP dates) and
      ``rng`` (jitter) are injected so that tests run schedules without waiting.
    - ``on_retry``: called with a :class:`RetryEvent` before each retry's wait.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        requests_per_second: float = 5.0,
        max_connections: int = 32,
        max_image_connections: int = 16,
        timeout: float = 30.0,
        download_timeout: float = 600.0,
        max_image_bytes: int = 256 * 1024 * 1024,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        on_retry: Callable[[RetryEvent], None] | None = None,
    ) -> None:
        self._base = _check_base_url(base_url)
        self._key = _check_key(api_key)
        if max_connections < 1 or max_image_connections < 1:
            raise ValueError("connection pools need at least one connection")
        if not (timeout > 0 and download_timeout > 0 and max_image_bytes > 0):
            raise ValueError("timeouts and max_image_bytes must be > 0")
        self._root = str(self._base).rstrip("/")
        self._api_origin = _origin(self._base)
        self._rps = requests_per_second
        self._limiter = RateLimiter(requests_per_second, clock=clock, sleep=sleep)
        # At most one request per pooled connection is handed to the pool at a time: the rest
        # wait their turn here, where no timeout runs, so that a request queued behind a burst
        # never fails for the pool's connect timeout (which then bounds only the connecting).
        self._api_slots = asyncio.Semaphore(max_connections)
        self._image_slots = asyncio.Semaphore(max_image_connections)
        self._policy = retry if retry is not None else RetryPolicy()
        self._sleep = sleep
        self._wall_clock = wall_clock
        self._rng = rng if rng is not None else random.Random()
        self._on_retry = on_retry
        self._download_timeout = download_timeout
        self._max_image_bytes = max_image_bytes
        self._requests = 0
        self._retries = 0
        self._double_charges = 0
        self._api = Pool(
            connections=max_connections,
            timeout=timeout,
            headers={"User-Agent": _USER_AGENT, "Accept": "application/json"},
        )
        # redirects of image URLs are followed by hand, to decide the header at every hop
        self._images = Pool(
            connections=max_image_connections,
            timeout=timeout,
            headers={"User-Agent": _USER_AGENT},
        )

    @staticmethod
    def check_settings(base_url: str, api_key: str) -> None:
        """Raise :class:`ConfigurationError` for a base URL or key that the constructor would
        refuse, without making a client."""
        _check_base_url(base_url)
        _check_key(api_key)

    def __repr__(self) -> str:
        return (
            f"SeedanceClient(base_url={self._root!r}, "
            f"requests_per_second={self._rps!r}, api_key={_REDACTED!r})"
        )

    @property
    def base_url(self) -> str:
        """The API's base URL, without a trailing slash."""
        return self._root

    @property
    def stats(self) -> ClientStats:
        """A snapshot of the counters."""
        return ClientStats(self._requests, self._retries, self._double_charges)

    async def __aenter__(self) -> SeedanceClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close both connection pools."""
        try:
            await self._api.aclose()
        finally:
            await self._images.aclose()

    # ----------------------------------------------------------------------------------------
    # The API

    async def create(
        self,
        body: Mapping[str, object],
        idempotency_key: str,
        *,
        may_resend: Callable[[], bool] | None = None,
        on_send: Callable[[], None] | None = None,
    ) -> CreateOutcome:
        """Create a task: ``POST /v1/images/generations`` with ``body`` as JSON.

        Every attempt sends the same bytes and the same ``Idempotency-Key``. ``may_resend``, if
        given, is asked before each resend that follows an attempt that may have reached the
        server (a resend that could be charged a second time), so the caller can count it
        against a budget first; when it answers False the create stops there, raising the last
        failure with ``task_may_exist`` set. Errors raised after such an attempt have
        ``task_may_exist`` set as well.
        """
        _check_idempotency_key(idempotency_key)
        content = json.dumps(
            dict(body), ensure_ascii=False, separators=(",", ":"), allow_nan=False
        ).encode("utf-8")
        url = self._root + CREATE_PATH
        target = f"POST {url}"
        headers = {
            "Authorization": f"Bearer {self._key.reveal()}",
            "Content-Type": "application/json",
            "Idempotency-Key": idempotency_key,
        }

        async def attempt() -> Task | _Failure:
            response = await self._api_request(
                "POST", url, target, content, headers, on_send=on_send
            )
            if isinstance(response, _Failure):
                return response
            code = response.status_code
            if 200 <= code < 300:
                try:
                    return parse_task(self._json(response), base_url=self._root)
                except ApiProtocolError as exc:
                    message = self._redact(f"{target}: {exc.api_message}")
                    return _Failure(
                        lambda _s: ApiProtocolError(message, status=code),
                        reason="unreadable answer",
                        retryable=False,
                        status=code,
                        reached_server=True,
                    )
            return self._status_failure(response, target, reached=code in _MAYBE_REACHED)

        task, ambiguous = await self._retrying("create", target, attempt, may_resend=may_resend)
        return CreateOutcome(task=task, ambiguous_attempts=ambiguous)

    async def get_task(self, task_id: str) -> Task:
        """Poll a task: ``GET /v1/tasks/{task_id}``. Answers without an id keep ``task_id``."""
        if not isinstance(task_id, str) or not task_id.strip():
            raise ValueError("a task id must be a non-empty string")
        path = TASK_PATH + quote(task_id, safe="")
        url = self._root + path
        target = f"GET {url}"
        headers = {"Authorization": f"Bearer {self._key.reveal()}"}

        async def attempt() -> Task | _Failure:
            response = await self._api_request("GET", url, target, None, headers)
            if isinstance(response, _Failure):
                return response
            code = response.status_code
            if 200 <= code < 300:
                try:
                    payload = self._json(response)
                    task = parse_task(payload, fallback_id=task_id, base_url=self._root)
                    if isinstance(payload, Mapping) and not (task.status_word or _has_id(payload)):
                        raise ApiProtocolError(
                            f"the answer has neither a task id nor a status (keys: "
                            f"{_keys(payload)})"
                        )
                except ApiProtocolError as exc:
                    message = self._redact(f"{target}: {exc.api_message}")
                    return _Failure(
                        lambda _s: ApiProtocolError(message + _s, status=code),
                        reason="unreadable answer",
                        limited=True,
                        status=code,
                    )
                return task
            if code == 404:
                message = self._redact(_api_message(response))
                return _Failure(
                    lambda _s: TaskNotFoundError(message + _s, status=404),
                    reason="HTTP 404",
                    limited=True,
                    status=404,
                )
            return self._status_failure(response, target, reached=False)

        task, _ = await self._retrying("get_task", target, attempt)
        return task

    async def _api_request(
        self,
        method: str,
        url: str,
        target: str,
        content: bytes | None,
        headers: Mapping[str, str],
        on_send: Callable[[], None] | None = None,
    ) -> httpx.Response | _Failure:
        """One request to the API, rate limited; transport failures become a ``_Failure``."""
        await self._limiter.acquire()
        if on_send is not None:  # STUB of CLIENT's interface 3 (EXEC branch)
            on_send()
        self._requests += 1
        try:
            async with self._api_slots:
                return await self._api.request(method, url, content=content, headers=headers)
        except httpx.TransportError as exc:
            reason = self._redact(_describe(exc))
            return _Failure(
                lambda s: NetworkError(f"{target}: {reason}{s}"),
                reason=reason,
                reached_server=not _sent_nothing(exc),
                cause=exc,
            )
        except httpx.DecodingError as exc:
            reason = self._redact(_describe(exc))
            return _Failure(
                lambda _s: ApiProtocolError(f"{target}: {reason}"),
                reason=reason,
                retryable=False,
                reached_server=True,
                cause=exc,
            )

    def _status_failure(self, response: httpx.Response, target: str, *, reached: bool) -> _Failure:
        code = response.status_code
        message = self._redact(_api_message(response))
        if 300 <= code < 400:
            location = response.headers.get("location")
            if location:
                message = f"{message} (unexpected redirect to {self._redact(_clean(location))})"
        retry_after = parse_retry_after(response.headers.get("retry-after"), self._wall_clock())
        return _Failure(
            lambda s: _error_for_status(code, message + s),
            reason=f"HTTP {code}",
            retryable=_retryable(code),
            status=code,
            retry_after=retry_after,
            reached_server=reached,
        )

    @staticmethod
    def _json(response: httpx.Response) -> object:
        try:
            return response.json()
        except (ValueError, UnicodeDecodeError):
            raise ApiProtocolError(
                "the answer is not JSON"
                f" (Content-Type {response.headers.get('content-type', 'missing')})"
            ) from None

    # ----------------------------------------------------------------------------------------
    # Downloads

    async def download(self, url: str, dest: Path | str) -> Download:
        """Download an image into ``dest`` and check it.

        ``dest`` is a temporary path the caller chose (in the final folder, to rename into
        place); it is truncated at every attempt, flushed to disk on success and removed on
        failure. The image is checked against its Content-Length, its magic bytes (PNG, JPEG,
        WEBP) and its format's end marker; the SHA-256 is computed while streaming.
        """
        dest_path = Path(dest)
        try:
            start = httpx.URL(url)
        except (httpx.InvalidURL, TypeError):
            raise DownloadError(f"not a URL: {_clean(str(url))!r}") from None
        if start.scheme not in ("http", "https") or not start.host:
            raise DownloadError(f"not an http(s) URL: {_clean(url)!r}")
        target = str(start.copy_with(query=None, fragment=None))

        async def attempt() -> Download | _Failure:
            return await self._download_once(start, dest_path, target)

        try:
            result, _ = await self._retrying("download", target, attempt)
        except BaseException:
            dest_path.unlink(missing_ok=True)
            raise
        return result

    async def _download_once(
        self, start: httpx.URL, dest: Path, target: str
    ) -> Download | _Failure:
        url = start
        trusted = True  # every hop so far on the API's origin
        for _hop in range(_MAX_REDIRECTS + 1):
            headers: dict[str, str] = {}
            trusted = trusted and _origin(url) == self._api_origin
            if trusted:
                await self._limiter.acquire()
                self._requests += 1
                headers["Authorization"] = f"Bearer {self._key.reveal()}"
            try:
                outcome = await asyncio.wait_for(
                    self._fetch(url, headers, dest, target), self._download_timeout
                )
            except asyncio.TimeoutError:
                return _Failure(
                    lambda s: DownloadError(
                        f"{target}: took longer than {self._download_timeout:g} s{s}"
                    ),
                    reason="download timeout",
                )
            if not isinstance(outcome, _Redirect):
                return outcome
            url = outcome.location
            if url.scheme not in ("http", "https") or not url.host:
                return _Failure(
                    lambda _s: DownloadError(f"{target}: redirected to a non-http(s) URL"),
                    reason="bad redirect",
                    retryable=False,
                )
        return _Failure(
            lambda _s: DownloadError(f"{target}: more than {_MAX_REDIRECTS} redirects"),
            reason="too many redirects",
            retryable=False,
        )

    async def _fetch(
        self, url: httpx.URL, headers: Mapping[str, str], dest: Path, target: str
    ) -> Download | _Redirect | _Failure:
        """One GET of an image URL: a redirect to follow, a checked image, or a failure."""
        try:
            async with (
                self._image_slots,
                self._images.stream("GET", url, headers=headers) as response,
            ):
                code = response.status_code
                if code in _REDIRECTS and response.headers.get("location"):
                    try:
                        return _Redirect(url.join(response.headers["location"]))
                    except httpx.InvalidURL:
                        return _Failure(
                            lambda _s: DownloadError(f"{target}: redirected to a bad URL"),
                            reason="bad redirect",
                            retryable=False,
                        )
                if not 200 <= code < 300:
                    retry_after = parse_retry_after(
                        response.headers.get("retry-after"), self._wall_clock()
                    )
                    return _Failure(
                        lambda s: DownloadError(
                            f"{target}: HTTP {code} {_phrase(code)}{s}", status=code
                        ),
                        reason=f"HTTP {code}",
                        retryable=code in _GONE or _retryable(code),
                        limited=code in _GONE,
                        status=code,
                        retry_after=retry_after,
                    )
                return await self._receive(response, dest, target)
        except httpx.TransportError as exc:
            reason = self._redact(_describe(exc))
            return _Failure(
                lambda s: DownloadError(f"{target}: {reason}{s}"), reason=reason, cause=exc
            )
        except httpx.DecodingError as exc:
            reason = self._redact(_describe(exc))
            return _Failure(
                lambda s: DownloadError(f"{target}: {reason}{s}"), reason=reason, cause=exc
            )

    async def _receive(
        self, response: httpx.Response, dest: Path, target: str
    ) -> Download | _Failure:
        declared = _content_length(response)
        limit = self._max_image_bytes
        if declared is not None and declared > limit:
            return _Failure(
                lambda _s: DownloadError(f"{target}: {declared} bytes is over the {limit} limit"),
                reason="too large",
                retryable=False,
            )
        digest = hashlib.sha256()
        size = 0
        head = b""
        tail = b""
        sink = _ImageSink(dest)
        try:
            async for chunk in response.aiter_bytes():
                if len(head) < 16:
                    head += chunk[: 16 - len(head)]
                tail = (tail + chunk)[-_TAIL:]
                size += len(chunk)
                if size > limit:
                    return _Failure(
                        lambda _s: DownloadError(f"{target}: more than {limit} bytes"),
                        reason="too large",
                        retryable=False,
                    )
                digest.update(chunk)
                await sink.write(chunk)
            verdict = _check_body(declared, response.num_bytes_downloaded, head, tail, size)
            if isinstance(verdict, str):
                await sink.commit()  # on disk before the caller renames it into place
        except OSError as exc:
            problem = f"cannot write {dest}: {exc.strerror or exc}"
            return _Failure(
                lambda _s: DownloadError(f"{target}: {problem}"),
                reason="write failed",
                retryable=False,
                cause=exc,
            )
        finally:
            await sink.close()
        if isinstance(verdict, _BadBody):
            problem = verdict.problem
            return _Failure(
                lambda s: DownloadError(f"{target}: {problem}{s}"),
                reason=problem,
                retryable=verdict.retryable,
            )
        return Download(
            bytes=size,
            sha256=digest.hexdigest(),
            ext=verdict,
            content_type=response.headers.get("content-type"),
            url=str(response.url),
        )

    # ----------------------------------------------------------------------------------------
    # Retrying

    async def _retrying(
        self,
        operation: Operation,
        target: str,
        attempt: Callable[[], Awaitable[T | _Failure]],
        *,
        may_resend: Callable[[], bool] | None = None,
    ) -> tuple[T, int]:
        """Run ``attempt`` until it succeeds or the policy gives up.

        Returns the result and the number of failed attempts that may have reached the server.
        """
        policy = self._policy
        retries = 0
        limited = 0
        ambiguous = 0
        while True:
            result = await attempt()
            if not isinstance(result, _Failure):
                return result, ambiguous
            failure = result
            if failure.reached_server and operation == "create":
                ambiguous += 1
            attempts = retries + 1
            exhausted = retries >= policy.max_retries or (
                failure.limited and limited >= policy.not_found_retries
            )
            if not failure.retryable or exhausted:
                suffix = _after(attempts) if attempts > 1 or exhausted else ""
                self._raise(failure, suffix, ambiguous)
            if failure.reached_server and operation == "create":
                if may_resend is not None and not may_resend():
                    self._raise(failure, " (not resent: it could be charged twice)", ambiguous)
                self._double_charges += 1
            delay = policy.delay(retries, self._rng, failure.retry_after)
            self._retries += 1
            if self._on_retry is not None:
                self._on_retry(
                    RetryEvent(
                        operation=operation,
                        target=target,
                        attempt=attempts,
                        delay=delay,
                        reason=failure.reason,
                        status=failure.status,
                        possible_double_charge=failure.reached_server and operation == "create",
                    )
                )
            await self._sleep(delay)
            retries += 1
            if failure.limited:
                limited += 1

    def _raise(self, failure: _Failure, suffix: str, ambiguous: int) -> NoReturn:
        error = failure.error(suffix)
        if ambiguous and isinstance(error, (ApiError, NetworkError)):
            error.task_may_exist = True
        raise error from failure.cause

    def _redact(self, text: str) -> str:
        key = self._key.reveal()
        return text.replace(key, _REDACTED) if len(key) >= 4 else text


def _after(attempts: int) -> str:
    return f" (after {attempts} attempt{'s' if attempts != 1 else ''})"


def _has_id(payload: Mapping[str, object]) -> bool:
    return any(
        _first_text(iter([layer.get(key)])) is not None
        for layer in _layers(payload)
        for key in ("id", "task_id", "taskId")
    )


def _content_length(response: httpx.Response) -> int | None:
    value = response.headers.get("content-length")
    if value is None or not value.strip().isdigit():
        return None
    return int(value)


def _sniff(head: bytes) -> ImageType | None:
    if head.startswith(_PNG_MAGIC):
        return "png"
    if head.startswith(_JPEG_MAGIC):
        return "jpg"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return None


@dataclass(frozen=True)
class _BadBody:
    problem: str
    retryable: bool  # a truncated body is retried; bytes that are no image are not


def _check_body(
    declared: int | None, received: int, head: bytes, tail: bytes, size: int
) -> ImageType | _BadBody:
    """The image type of a whole image body, or what is wrong with it.

    ``declared`` is the Content-Length and ``received`` the bytes read off the wire; ``head``
    and ``tail`` are the first 16 and last 64 bytes of the (decoded) body of ``size`` bytes.
    """
    if declared is not None and received < declared:
        return _BadBody(f"truncated body ({received} of {declared} bytes)", True)
    if size == 0:
        return _BadBody("empty body", True)
    ext = _sniff(head)
    if ext is None:
        if size < 12 and any(m.startswith(head) for m in (_PNG_MAGIC, _JPEG_MAGIC, b"RIFF")):
            return _BadBody(f"truncated body ({size} bytes)", True)
        return _BadBody(f"not a PNG, JPEG or WEBP image (starts with {head[:8]!r})", False)
    if ext == "png" and not tail.endswith(_PNG_END):
        return _BadBody(f"truncated PNG (no IEND chunk after {size} bytes)", True)
    if ext == "jpg" and not tail.rstrip(b"\x00\r\n ").endswith(_JPEG_END):
        return _BadBody(f"truncated JPEG (no end marker after {size} bytes)", True)
    riff_size = int.from_bytes(head[4:8], "little") + 8
    if ext == "webp" and size < riff_size:
        return _BadBody(f"truncated WEBP ({size} of {riff_size} bytes)", True)
    return ext
