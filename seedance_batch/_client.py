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
  header, and every string an answer brings (ids, status words, messages, URLs, error bodies)
  passes through :func:`seedance_batch._redact.redact` where it is read (``parse_task`` and
  ``_api_message``). An id holding the key is refused; an image URL holding it is dropped and
  counted (``Task.dropped_urls``, ``Task.warning``).
- **Bounds.** An API answer is at most 8 MiB decoded, an image 64 MiB; bodies are read raw, in
  the pieces the socket gives, and decoded here (gzip and deflate in steps of 1 MiB, so a bomb
  never inflates past the cap; other codings, which nothing asked for, are refused). Every API
  request has a total deadline (60 s), answer included, retried like a read timeout. A task id
  is at most 200 printable characters without spaces, never ``.`` or ``..``.
- **Fail fast.** Connect failures (DNS, refused) to the API's host are retried for at most
  ``unreachable_after`` seconds (20) from the first of them, then :class:`UnreachableError`
  (nothing was sent); from then on every request of the client raises it at once.
- **Downloads write safely.** The destination is created with ``O_CREAT | O_EXCL |
  O_NOFOLLOW``: whatever is already there (a planted link, a file) fails the download as an
  :class:`OutputError` and is left alone. Any OSError while writing is an :class:`OutputError`.
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
    OutputError,
    RequestRejectedError,
    SeedanceBatchError,
    TaskNotFoundError,
    TransientApiError,
    UnreachableError,
)
from seedance_batch._files import EXCLUSIVE_FLAGS
from seedance_batch._ratelimit import RateLimiter
from seedance_batch._redact import REDACTED, holds_secret, redact
from seedance_batch._retry import (
    Operation,
    RetryEvent,
    RetryPolicy,
    parse_body_wait,
    parse_retry_after,
)
from seedance_batch._rules import classify_flag, classify_status, names_policy
from seedance_batch._transport import (
    BodyTooLarge,
    BoundedDecoder,
    Pool,
    UnsupportedEncoding,
    is_loopback,
    read_bounded,
)

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
_REDACTED = REDACTED

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
#: The caps of contract section 7: an API answer, and an image, decoded.
MAX_ANSWER_BYTES = 8 * 1024 * 1024
MAX_IMAGE_BYTES = 64 * 1024 * 1024


# --------------------------------------------------------------------------------------------
# Values


@dataclass(frozen=True)
class Task:
    """A tolerant reading of a task answer (contract, section 1).

    ``status`` is the class of ``status_word`` (the word as the API sent it, "" when it sent
    none); ``image_urls`` are every image URL found, in order, without duplicates; ``error`` is
    the failure message of a failed task, when the answer has one; ``policy_rejection`` is True
    for a failure whose word or message names a content policy, moderation, safety, sensitive
    words or NSFW (final: never resubmitted automatically). Every string is redacted: the API
    key never appears in one. ``dropped_urls`` counts image URLs left out because they held a
    credential; ``warning`` says so, or names the keys of a success with no URL. ``raw`` is the
    answer itself (the unwrapped JSON object, *not* redacted: never store or print it).
    """

    id: str
    status: TaskStatus
    status_word: str
    image_urls: tuple[str, ...]
    error: str | None
    raw: Mapping[str, object] = field(repr=False, compare=False)
    policy_rejection: bool = False
    dropped_urls: int = 0
    warning: str | None = None


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
    payload: object,
    *,
    fallback_id: str | None = None,
    base_url: str | None = None,
    secrets: tuple[str, ...] = (),
) -> Task:
    """Read a task answer in any of the shapes of the contract's section 1.

    The task may come bare or wrapped (``{"data": {...}}``, ``{"code": 200, "msg": "success",
    "data": {...}}``, or as the only item of a ``data`` list): a layer with no id, status word
    or ``successFlag`` of its own is a wrapper, and a wrapper's ``msg`` or ``message`` is never
    read. The id is ``id``, ``task_id`` or ``taskId``, from the innermost layer out, then
    ``data[0].id``, then ``fallback_id``; the status word is ``status`` (``state``, ...) read
    by family (:func:`~seedance_batch._rules.classify_status`), and a numeric ``successFlag``
    counts too. Image URLs are every http(s) URL under a key whose name holds ``url``,
    ``image``, ``result`` or ``output``, depth first in document order, without duplicates; a
    relative URL under a ``url`` key is resolved against ``base_url``.

    Every string taken from the answer passes through :func:`~seedance_batch._redact.redact`
    with ``secrets``: an id that holds one is refused, a URL that holds one is dropped (and
    counted in ``dropped_urls``). Raises :class:`ApiProtocolError` when ``payload`` is not a JSON
    object, or has no id (and no ``fallback_id``), or an id that is not a short printable string.
    """
    if not isinstance(payload, Mapping):
        raise ApiProtocolError(f"the answer is not a JSON object but {_json_kind(payload)}")
    layers = _unwrap(payload)
    inside_out = layers[::-1]
    items = [item for layer in layers for item in _list(layer.get("data"))]
    mapped_items = [item for item in items if isinstance(item, Mapping)]

    task_id = _first_text(layer.get(key) for layer in inside_out for key in _ID_KEYS)
    if task_id is None:
        task_id = _first_text(item.get("id") for item in mapped_items)
    if task_id is None:
        task_id = fallback_id
    if task_id is None:
        raise ApiProtocolError(f"the answer has no task id (keys: {_keys(payload, secrets)})")
    check_task_id(task_id, secrets)

    word = _first_text(layer.get(key) for layer in inside_out for key in _STATUS_KEYS)
    if word is None:
        word = _first_text(item.get(key) for item in mapped_items for key in _STATUS_KEYS)
    flags = [layer.get(key) for layer in [*inside_out, *mapped_items] for key in _FLAG_KEYS]
    status = _outcome(classify_status(word), [classify_flag(flag) for flag in flags])

    found: list[str] = []
    _collect_urls(payload, False, False, base_url, found, 0)
    urls = tuple(dict.fromkeys(url for url in found if not holds_secret(url, secrets)))
    dropped = len(dict.fromkeys(found)) - len(urls)

    word_text = _clean(redact(word, secrets), _MAX_WORD) if word else ""
    error = None
    if status == "failed":
        message = _failure_message(inside_out, mapped_items)
        error = _clean(redact(message, secrets)) if message else None
    return Task(
        id=task_id,
        status=status,
        status_word=word_text,
        image_urls=urls,
        error=error,
        raw=layers[0],
        policy_rejection=status == "failed" and names_policy(word, error),
        dropped_urls=dropped,
        warning=_warning(status, urls, dropped, payload, secrets),
    )


_ID_KEYS = ("id", "task_id", "taskId")
_STATUS_KEYS = ("status", "state", "task_status", "taskStatus")
_FLAG_KEYS = ("successFlag", "success_flag")
_MESSAGE_KEYS = (
    "error", "errorMessage", "error_message", "errorMsg", "failReason", "fail_reason",
    "failMsg", "failure_reason", "message", "msg", "reason", "detail",
)  # fmt: skip
#: A key whose name (lowercased) holds one of these may hold image URLs, at any depth.
_URL_KEY_STEMS = ("url", "image", "result", "output")
#: Answers nested deeper than this are not searched for URLs.
_MAX_DEPTH = 32
_MAX_WORD = 80
#: A task id longer than this is no id (contract, section 7).
MAX_TASK_ID = 200


def check_task_id(task_id: str, secrets: tuple[str, ...] = ()) -> None:
    """Raise :class:`ApiProtocolError` unless ``task_id`` is a short printable string: at most
    :data:`MAX_TASK_ID` characters, no whitespace or control characters, not ``.`` or ``..``,
    and none of ``secrets`` in it. The message never quotes an id it refuses."""
    if holds_secret(task_id, secrets):
        raise ApiProtocolError("the answer's task id holds the API key or a credential")
    if len(task_id) > MAX_TASK_ID:
        raise ApiProtocolError(f"the answer's task id is {len(task_id)} characters long")
    if task_id in (".", "..") or not task_id:
        raise ApiProtocolError(f"the answer's task id is {task_id!r}")
    if not task_id.isprintable() or any(ch.isspace() for ch in task_id):
        raise ApiProtocolError("the answer's task id holds spaces or control characters")


def _is_task_layer(layer: Mapping[str, object]) -> bool:
    return any(key in layer for key in (*_ID_KEYS, *_STATUS_KEYS, *_FLAG_KEYS))


def _inner(layer: Mapping[str, object]) -> Mapping[str, object] | None:
    """What a wrapper wraps: its ``data`` object, or the only item of its ``data`` list."""
    data = layer.get("data")
    if isinstance(data, Mapping):
        return data
    if isinstance(data, list) and len(data) == 1:
        only = data[0]
        if isinstance(only, Mapping):
            return only
    return None


def _unwrap(payload: Mapping[str, object]) -> list[Mapping[str, object]]:
    """The task inside its wrappers, with the ``data`` objects inside it (outermost first).

    A wrapper (its ``code``, ``msg`` and ``message`` about the call itself) is never read."""
    current = payload
    for _ in range(4):
        inner = None if _is_task_layer(current) else _inner(current)
        if inner is None:
            break
        current = inner
    layers = [current]
    for _ in range(3):
        below = current.get("data")
        if not isinstance(below, Mapping):
            break
        current = below
        layers.append(current)
    return layers


def _outcome(word: TaskStatus, flags: list[TaskStatus | None]) -> TaskStatus:
    """The word's class, unless a ``successFlag`` says the task ended."""
    if word != "running":
        return word
    return next((flag for flag in flags if flag is not None and flag != "running"), "running")


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


def _collect_urls(
    value: object, under: bool, url_key: bool, base_url: str | None, out: list[str], depth: int
) -> None:
    """Append, depth first in document order, the URLs under image-ish keys of ``value``."""
    if depth > _MAX_DEPTH:
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            name = str(key).lower()
            if isinstance(item, (Mapping, list, str)):
                named = any(stem in name for stem in _URL_KEY_STEMS)
                _collect_urls(item, under or named, "url" in name, base_url, out, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _collect_urls(item, under, url_key, base_url, out, depth + 1)
    elif isinstance(value, str) and under:
        url = _absolute_url(value, base_url if url_key else None)
        if url is not None:
            out.append(url)


def _absolute_url(text: str, base_url: str | None) -> str | None:
    text = text.strip()
    if not text or any(ch.isspace() for ch in text):
        return None
    if text.startswith(("http://", "https://")):
        # the usual case, read without httpx's URL parser (a tenth of a millisecond a URL)
        try:
            return text if urlsplit(text).hostname else None
        except ValueError:
            return None
    if base_url is None or not text.startswith("/") or text.startswith("//"):
        return None
    try:
        url = httpx.URL(base_url).join(text)
    except httpx.InvalidURL:
        return None
    if url.scheme not in ("http", "https") or not url.host:
        return None
    return str(url)


def _failure_message(
    layers: list[Mapping[str, object]], items: list[Mapping[str, object]]
) -> str | None:
    """A failed task's own message: the task's layers inside out, then its data items."""
    for place in [*layers, *items]:
        for key in _MESSAGE_KEYS:
            value = place.get(key)
            if isinstance(value, Mapping):
                value = value.get("message") or value.get("msg")
            if isinstance(value, str) and value.strip():
                return value
    return None


def _warning(
    status: TaskStatus,
    urls: tuple[str, ...],
    dropped: int,
    payload: Mapping[str, object],
    secrets: tuple[str, ...],
) -> str | None:
    if dropped:
        return f"{dropped} image URL{'s' if dropped != 1 else ''} dropped: they held a credential"
    if status == "succeeded" and not urls:
        return (
            "the task succeeded without an image URL the client can find "
            f"(keys: {_keys(payload, secrets)})"
        )
    return None


def _json_kind(value: object) -> str:
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    return f"a {type(value).__name__}"


def _keys(payload: Mapping[str, object], secrets: tuple[str, ...] = ()) -> str:
    """The key paths of an answer, a few levels deep (``data``, ``data.result``, ...)."""
    paths: list[str] = []
    _key_paths(payload, "", paths, 0)
    text = ", ".join(paths[:24]) + (", ..." if len(paths) > 24 else "")
    return _clean(redact(text, secrets)) if paths else "none"


def _key_paths(value: object, prefix: str, out: list[str], depth: int) -> None:
    if depth >= 4 or len(out) > 24:
        return
    if isinstance(value, list):
        first = next((item for item in value if isinstance(item, Mapping)), None)
        if first is not None:
            _key_paths(first, prefix + "[*]", out, depth)
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            out.append(path)
            _key_paths(item, path, out, depth + 1)


def _clean(text: str, limit: int = 300) -> str:
    """One line, printable, at most ``limit`` characters."""
    flat = " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


# --------------------------------------------------------------------------------------------
# Error answers


@dataclass(frozen=True)
class _Answer:
    """An API answer read whole (at most the answer cap, decoded): status, headers, bytes."""

    status_code: int
    headers: httpx.Headers
    body: bytes
    reason_phrase: str

    def json(self) -> object:
        """The body as JSON; ``ValueError`` when it is not (too deep counts as not)."""
        try:
            return json.loads(self.body)
        except RecursionError:
            raise ValueError("nested too deeply") from None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def _api_message(answer: _Answer, secrets: tuple[str, ...]) -> str:
    """The API's own message from an error body, else the status line's reason; redacted."""
    message: str | None = None
    try:
        body = answer.json()
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
        content_type = answer.headers.get("content-type", "")
        text = answer.text.strip() if content_type.startswith("text/plain") else ""
        if text and len(text) <= 500:
            message = text
    if message is None:
        message = answer.reason_phrase or _phrase(answer.status_code)
    return _clean(redact(message, secrets))


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
    its file past that. The file is created with ``EXCLUSIVE_FLAGS`` (``O_CREAT | O_EXCL |
    O_NOFOLLOW``): a file or a link already at the destination is an ``OSError``, never
    followed or overwritten. A file this sink created is removed again unless committed; one it
    did not create is never touched. The file system's work (open, write, fsync, close) happens
    in threads, so that neither a slow disk nor the cost of creating files stalls the event
    loop; a small image costs one thread hop in all."""

    def __init__(self, dest: Path) -> None:
        self._dest = dest
        self._held: list[bytes] = []
        self._size = 0
        self._file: BinaryIO | None = None
        self._created = False

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
                self._file, self._created = file, True
            await _in_thread(file.write, data)

    async def commit(self) -> None:
        """Every byte in the file and on the disk (fsync), and the file closed."""
        data = b"".join(self._held)
        self._held.clear()
        file = self._file
        if file is None:
            file = await _in_thread(_create, self._dest)
            self._created = True
        self._file = None
        await _in_thread(_write_and_sync, file, data)
        self._created = False  # kept: the caller renames it into place

    async def close(self) -> None:
        """Drop what is held, close the file and remove it if this sink made it (a failed
        download)."""
        self._held.clear()
        self._file, file = None, self._file
        created, self._created = self._created, False
        await _in_thread(_discard, self._dest, file, created)


def _create(dest: Path) -> BinaryIO:
    return os.fdopen(os.open(dest, EXCLUSIVE_FLAGS, 0o644), "wb")


def _write_and_sync(file: BinaryIO, data: bytes) -> None:
    with file as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())


def _discard(dest: Path, file: BinaryIO | None, created: bool) -> None:
    with contextlib.suppress(OSError):
        if file is not None:
            file.close()
        if created:
            dest.unlink()


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
    connect_failed: bool = False  # no connection: the host may be unreachable
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
    - ``request_deadline``: seconds one API request may take in all, answer read included (a
      body that drips a byte at a time fails in bounded time, and is retried as a timeout).
    - ``max_answer_bytes`` / ``max_image_bytes``: an API answer, or an image, over this many
      bytes (decoded) fails; bodies are read in bounded pieces, whatever their encoding.
    - ``unreachable_after``: seconds of nothing but connect failures (DNS, refused) to the
      API's host before :class:`UnreachableError`; every later request fails with it at once.
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
        request_deadline: float = 60.0,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
        max_image_bytes: int = MAX_IMAGE_BYTES,
        unreachable_after: float = 20.0,
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
        if not (timeout > 0 and download_timeout > 0 and request_deadline > 0):
            raise ValueError("timeouts must be > 0")
        if not (max_image_bytes > 0 and max_answer_bytes > 0 and unreachable_after >= 0):
            raise ValueError("max_image_bytes, max_answer_bytes must be > 0")
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
        self._max_answer = max_answer_bytes
        self._deadline = request_deadline
        self._clock = clock
        self._unreachable_after = unreachable_after
        self._failing_since: float | None = None  # the first of the latest connect failures
        self._unreachable: UnreachableError | None = None
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
        ``task_may_exist`` set as well. ``on_send``, if given, is called each time an attempt's
        headers are written to a connection (after the rate limiter and the connect): a create
        that raised, or was cancelled, without calling it sent nothing.
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
            answer = await self._api_request("POST", url, target, content, headers, on_send)
            if isinstance(answer, _Failure):
                return answer
            code = answer.status_code
            if 200 <= code < 300:
                try:
                    return self._parse(self._json(answer))
                except ApiProtocolError as exc:
                    message = f"{target}: {exc.api_message}"
                    return _Failure(
                        lambda _s: ApiProtocolError(message, status=code),
                        reason="unreadable answer",
                        retryable=False,
                        status=code,
                        reached_server=True,
                    )
            return self._status_failure(answer, target, reached=code in _MAYBE_REACHED)

        task, ambiguous = await self._retrying("create", target, attempt, may_resend=may_resend)
        return CreateOutcome(task=task, ambiguous_attempts=ambiguous)

    async def get_task(self, task_id: str) -> Task:
        """Poll a task: ``GET /v1/tasks/{task_id}``. Answers without an id keep ``task_id``.

        An id that is not a short printable string (contract, section 7) is refused with
        :class:`ApiProtocolError` before anything is sent.
        """
        if not isinstance(task_id, str):
            raise ApiProtocolError("a task id must be a string")
        check_task_id(task_id, self._secrets)
        path = TASK_PATH + quote(task_id, safe="")
        url = self._root + path
        target = f"GET {url}"
        headers = {"Authorization": f"Bearer {self._key.reveal()}"}

        async def attempt() -> Task | _Failure:
            answer = await self._api_request("GET", url, target, None, headers)
            if isinstance(answer, _Failure):
                return answer
            code = answer.status_code
            if 200 <= code < 300:
                try:
                    payload = self._json(answer)
                    task = self._parse(payload, fallback_id=task_id)
                    if isinstance(payload, Mapping) and not (task.status_word or _has_id(payload)):
                        raise ApiProtocolError(
                            f"the answer has neither a task id nor a status (keys: "
                            f"{_keys(payload, self._secrets)})"
                        )
                except ApiProtocolError as exc:
                    message = f"{target}: {exc.api_message}"
                    return _Failure(
                        lambda _s: ApiProtocolError(message + _s, status=code),
                        reason="unreadable answer",
                        limited=True,
                        status=code,
                    )
                return task
            if code == 404:
                message = _api_message(answer, self._secrets)
                return _Failure(
                    lambda _s: TaskNotFoundError(message + _s, status=404),
                    reason="HTTP 404",
                    limited=True,
                    status=404,
                )
            return self._status_failure(answer, target, reached=False)

        task, _ = await self._retrying("get_task", target, attempt)
        return task

    def _parse(self, payload: object, fallback_id: str | None = None) -> Task:
        """The one place where an answer's strings are read, and redacted (``parse_task``)."""
        return parse_task(
            payload, fallback_id=fallback_id, base_url=self._root, secrets=self._secrets
        )

    async def _api_request(
        self,
        method: str,
        url: str,
        target: str,
        content: bytes | None,
        headers: Mapping[str, str],
        on_send: Callable[[], None] | None = None,
    ) -> _Answer | _Failure:
        """One request to the API, rate limited and read whole within the request deadline;
        transport failures become a ``_Failure``."""
        await self._limiter.acquire()
        self._check_reachable()
        try:
            async with self._api_slots:
                self._check_reachable()
                self._requests += 1
                answer = await asyncio.wait_for(
                    self._exchange(method, url, content, headers, on_send), self._deadline
                )
        except asyncio.TimeoutError:
            deadline = self._deadline
            self._failing_since = None
            return _Failure(
                lambda s: NetworkError(f"{target}: no whole answer within {deadline:g} s{s}"),
                reason="request deadline",
                reached_server=True,
            )
        except httpx.TransportError as exc:
            reason = self._redact(_describe(exc))
            connect = _sent_nothing(exc)
            if not connect:
                self._failing_since = None
            return _Failure(
                lambda s: NetworkError(f"{target}: {reason}{s}"),
                reason=reason,
                reached_server=not connect,
                connect_failed=isinstance(exc, httpx.ConnectError),
                cause=exc,
            )
        except (httpx.DecodingError, BodyTooLarge, UnsupportedEncoding) as exc:
            self._failing_since = None
            reason = self._redact(_describe(exc) if not isinstance(exc, BodyTooLarge) else "")
            if isinstance(exc, BodyTooLarge):
                reason = f"the answer is over {exc.limit} bytes"
            return _Failure(
                lambda _s: ApiProtocolError(f"{target}: {reason}"),
                reason=reason,
                retryable=False,
                reached_server=True,
                cause=exc,
            )
        self._failing_since = None
        return answer

    async def _exchange(
        self,
        method: str,
        url: str,
        content: bytes | None,
        headers: Mapping[str, str],
        on_send: Callable[[], None] | None,
    ) -> _Answer:
        async with self._api.stream(
            method, url, content=content, headers=headers, on_sent=on_send
        ) as response:
            body = await read_bounded(response, self._max_answer)
            return _Answer(response.status_code, response.headers, body, response.reason_phrase)

    def _check_reachable(self) -> None:
        """Fail at once once the API's host has been found unreachable."""
        if self._unreachable is not None:
            raise UnreachableError(self._unreachable.host, self._unreachable.reason)

    def _status_failure(self, answer: _Answer, target: str, *, reached: bool) -> _Failure:
        code = answer.status_code
        message = _api_message(answer, self._secrets)
        if 300 <= code < 400:
            location = answer.headers.get("location")
            if location:
                message = f"{message} (unexpected redirect to {_clean(self._redact(location))})"
        retry_after = parse_retry_after(answer.headers.get("retry-after"), self._wall_clock())
        if retry_after is None and code in (429, 503):
            retry_after = parse_body_wait(answer.body)
        return _Failure(
            lambda s: _error_for_status(code, message + s),
            reason=f"HTTP {code}",
            retryable=_retryable(code),
            status=code,
            retry_after=retry_after,
            reached_server=reached,
        )

    def _json(self, answer: _Answer) -> object:
        try:
            return answer.json()
        except (ValueError, UnicodeDecodeError):
            content_type = self._redact(answer.headers.get("content-type", "missing"))
            raise ApiProtocolError(
                f"the answer is not JSON (Content-Type {_clean(content_type, 80)})"
            ) from None

    # ----------------------------------------------------------------------------------------
    # Downloads

    async def download(self, url: str, dest: Path | str) -> Download:
        """Download an image into ``dest`` and check it.

        ``dest`` is a fresh temporary path the caller chose (in the final folder, to rename into
        place). It is created with ``O_CREAT | O_EXCL | O_NOFOLLOW``: a file or a link already
        there fails the download with :class:`OutputError` and is left alone. The file is
        flushed to disk on success and removed again on failure. The image is checked against
        its Content-Length, its magic bytes (PNG, JPEG, WEBP) and its format's end marker; the
        SHA-256 is computed while streaming. An OSError while writing is an
        :class:`OutputError`, not a :class:`DownloadError`.
        """
        dest_path = Path(dest)
        try:
            start = httpx.URL(url)
        except (httpx.InvalidURL, TypeError):
            raise DownloadError(f"not a URL: {_clean(self._redact(str(url)))!r}") from None
        if start.scheme not in ("http", "https") or not start.host:
            raise DownloadError(f"not an http(s) URL: {_clean(self._redact(url))!r}")
        target = self._redact(str(start.copy_with(query=None, fragment=None)))

        async def attempt() -> Download | _Failure:
            return await self._download_once(start, dest_path, target)

        result, _ = await self._retrying("download", target, attempt)
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
        except (httpx.TransportError, httpx.DecodingError) as exc:
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
            return _too_large(target, f"{declared} bytes is over the {limit} limit")
        digest = hashlib.sha256()
        head = b""
        tail = b""
        received = 0
        sink = _ImageSink(dest)
        try:
            decoder = BoundedDecoder(response.headers.get("content-encoding"), limit)
            async for raw in response.aiter_raw():
                received += len(raw)
                for chunk in decoder.feed(raw):
                    if len(head) < 16:
                        head += chunk[: 16 - len(head)]
                    tail = (tail + chunk)[-_TAIL:]
                    digest.update(chunk)
                    await sink.write(chunk)
            last = decoder.flush()
            digest.update(last)
            tail = (tail + last)[-_TAIL:]
            await sink.write(last)
            size = decoder.produced
            verdict = _check_body(declared, received, head, tail, size)
            if isinstance(verdict, str):
                await sink.commit()  # on disk before the caller renames it into place
        except BodyTooLarge:
            return _too_large(target, f"more than {limit} bytes")
        except UnsupportedEncoding as exc:
            problem = str(exc)
            return _Failure(
                lambda _s: DownloadError(f"{target}: {problem}"), reason=problem, retryable=False
            )
        except OSError as exc:
            error = OutputError.from_os_error(dest, exc, "cannot write the image")
            return _Failure(lambda _s: error, reason="write failed", retryable=False, cause=exc)
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
            url=self._redact(str(response.url)),
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
        Connect failures to the API's host end, at the latest ``unreachable_after`` seconds
        after the first of them, in :class:`UnreachableError`, which every later request of
        this client raises at once.
        """
        policy = self._policy
        retries = 0
        limited = 0
        ambiguous = 0
        while True:
            try:
                result = await attempt()
            except UnreachableError as exc:
                exc.task_may_exist = ambiguous > 0
                raise
            if not isinstance(result, _Failure):
                return result, ambiguous
            failure = result
            if failure.reached_server and operation == "create":
                ambiguous += 1
            attempts = retries + 1
            exhausted = retries >= policy.max_retries or (
                failure.limited and limited >= policy.not_found_retries
            )
            unreachable = operation != "download" and failure.connect_failed
            window = self._connect_window() if unreachable else None
            if unreachable and (exhausted or window == 0.0):
                self._give_up_on_host(failure, _after(attempts), ambiguous)
            if not failure.retryable or exhausted:
                suffix = _after(attempts) if attempts > 1 or exhausted else ""
                self._raise(failure, suffix, ambiguous)
            if failure.reached_server and operation == "create":
                if may_resend is not None and not may_resend():
                    self._raise(failure, " (not resent: it could be charged twice)", ambiguous)
                self._double_charges += 1
            delay = policy.delay(retries, self._rng, failure.retry_after)
            if window is not None:
                delay = min(delay, window)
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

    def _connect_window(self) -> float:
        """Seconds left before the latest run of connect failures makes the host unreachable."""
        now = self._clock()
        if self._failing_since is None:
            self._failing_since = now
        return max(0.0, self._failing_since + self._unreachable_after - now)

    def _give_up_on_host(self, failure: _Failure, suffix: str, ambiguous: int) -> NoReturn:
        if self._unreachable is None:
            self._unreachable = UnreachableError(self._root, failure.reason + suffix)
        error = UnreachableError(self._root, self._unreachable.reason)
        error.task_may_exist = ambiguous > 0
        raise error from failure.cause

    def _raise(self, failure: _Failure, suffix: str, ambiguous: int) -> NoReturn:
        error = failure.error(suffix)
        if ambiguous and isinstance(error, (ApiError, NetworkError)):
            error.task_may_exist = True
        raise error from failure.cause

    @property
    def _secrets(self) -> tuple[str, ...]:
        return (self._key.reveal(),)

    def _redact(self, text: str) -> str:
        return redact(text, self._secrets)


def _too_large(target: str, problem: str) -> _Failure:
    return _Failure(
        lambda _s: DownloadError(f"{target}: {problem}"), reason="too large", retryable=False
    )


def _after(attempts: int) -> str:
    return f" (after {attempts} attempt{'s' if attempts != 1 else ''})"


def _has_id(payload: Mapping[str, object]) -> bool:
    return any(
        _first_text(iter([layer.get(key)])) is not None
        for layer in _unwrap(payload)
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
