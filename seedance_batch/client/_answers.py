"""Tolerant reading of the API's answers: a task in any reseller's shape, an error body's message.

The shapes are those of the contract's section 1. Every string an answer brings (ids, status
words, messages, URLs, key names) passes through :func:`seedance_batch._redact.redact` here,
where it is read: an id holding the API key is refused, and an image URL holding it is dropped
and counted (``Task.dropped_urls``, ``Task.warning``). A task id is at most 200 printable
characters without spaces, never ``.`` or ``..``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Literal
from urllib.parse import urlsplit

import httpx

from seedance_batch._errors import ApiProtocolError
from seedance_batch._redact import holds_secret, redact
from seedance_batch._rules import classify_flag, classify_status, names_policy

__all__ = [
    "MAX_TASK_ID",
    "Answer",
    "Reading",
    "Task",
    "TaskStatus",
    "answer_keys",
    "api_message",
    "check_task_id",
    "clean",
    "has_id",
    "parse_task",
    "phrase",
    "read_any_shape",
    "read_common_shape",
]

TaskStatus = Literal["running", "succeeded", "failed"]


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
    reading = read_common_shape(payload, base_url)
    if reading is None:
        reading = read_any_shape(payload, base_url)
    task_id, word, status = reading.task_id, reading.word, reading.status
    if task_id is None:
        task_id = fallback_id
    if task_id is None:
        raise ApiProtocolError(f"the answer has no task id (keys: {answer_keys(payload, secrets)})")
    check_task_id(task_id, secrets)

    found = reading.urls
    urls = tuple(dict.fromkeys(url for url in found if not holds_secret(url, secrets)))
    dropped = len(dict.fromkeys(found)) - len(urls)

    word_text = clean(redact(word, secrets), _MAX_WORD) if word else ""
    error = None
    if status == "failed":
        message = _failure_message(reading.layers[::-1], reading.items)
        error = clean(redact(message, secrets)) if message else None
    return Task(
        id=task_id,
        status=status,
        status_word=word_text,
        image_urls=urls,
        error=error,
        raw=reading.layers[0],
        policy_rejection=status == "failed" and names_policy(word, error),
        dropped_urls=dropped,
        warning=_warning(status, urls, dropped, payload, secrets),
    )


@dataclass(frozen=True)
class Reading:
    """What :func:`parse_task` takes from an answer before it checks and redacts: the task's
    layers (outermost first) and the items of their ``data`` lists that are objects, the id
    and status word found (None when none), the status, and the image URLs in order."""

    layers: tuple[Mapping[str, object], ...]
    items: tuple[Mapping[str, object], ...]
    task_id: str | None
    word: str | None
    status: TaskStatus
    urls: tuple[str, ...]


def read_any_shape(payload: Mapping[str, object], base_url: str | None) -> Reading:
    """The reference reading of an answer in any shape (see :func:`parse_task`)."""
    layers = _unwrap(payload)
    inside_out = layers[::-1]
    items = [item for layer in layers for item in _list(layer.get("data"))]
    mapped_items = [item for item in items if isinstance(item, Mapping)]

    task_id = _first_text(layer.get(key) for layer in inside_out for key in _ID_KEYS)
    if task_id is None:
        task_id = _first_text(item.get("id") for item in mapped_items)
    word = _first_text(layer.get(key) for layer in inside_out for key in _STATUS_KEYS)
    if word is None:
        word = _first_text(item.get(key) for item in mapped_items for key in _STATUS_KEYS)
    flags = [layer.get(key) for layer in [*inside_out, *mapped_items] for key in _FLAG_KEYS]
    status = _outcome(classify_status(word), [classify_flag(flag) for flag in flags])
    found: list[str] = []
    _collect_urls(payload, False, False, base_url, found, 0)
    return Reading(tuple(layers), tuple(mapped_items), task_id, word, status, tuple(found))


#: The keys of an answer in the API's own shape (its page's), and of the items of its ``data``.
_COMMON_KEYS = frozenset({"id", "object", "status", "model", "n", "created", "data"})
_COMMON_ITEM_KEYS = frozenset({"id", "mediaType", "status", "imageUrls"})


def read_common_shape(payload: Mapping[str, object], base_url: str | None) -> Reading | None:
    """:func:`read_any_shape`'s reading of an answer in the API's own shape, found without the
    walk, or None for any other shape: a JSON object of :data:`_COMMON_KEYS` alone, a string
    ``id`` and ``status``, and a ``data`` list of objects of :data:`_COMMON_ITEM_KEYS` alone
    whose ``imageUrls`` are lists of strings. Held to the reference by a property test."""
    if type(payload) is not dict or not payload.keys() <= _COMMON_KEYS:
        return None
    task_id, word, data = payload.get("id"), payload.get("status"), payload.get("data", [])
    if not (type(task_id) is str and type(word) is str and type(data) is list):
        return None
    task_id, word = task_id.strip(), word.strip()
    if not (task_id and word):
        return None
    found: list[str] = []
    for item in data:
        if type(item) is not dict or not item.keys() <= _COMMON_ITEM_KEYS:
            return None
        urls = item.get("imageUrls", [])
        if type(urls) is not list:
            return None
        for text in urls:
            if type(text) is not str:
                return None
            url = _absolute_url(text, base_url)
            if url is not None:
                found.append(url)
    status = classify_status(word)
    return Reading((payload,), tuple(data), task_id, word, status, tuple(found))


_ID_KEYS = ("id", "task_id", "taskId")
_STATUS_KEYS = ("status", "state", "task_status", "taskStatus")
_FLAG_KEYS = ("successFlag", "success_flag")
_MESSAGE_KEYS = (
    "error", "errorMessage", "error_message", "errorMsg", "failReason", "fail_reason",
    "failMsg", "failure_reason", "message", "msg", "reason", "detail",
)  # fmt: skip
#: A key whose name (lowercased) holds one of these may hold image URLs, at any depth.
_URL_KEY_STEMS = ("url", "image", "result", "output")
_URL_KEY = re.compile("|".join(_URL_KEY_STEMS))
#: What ``str.isspace`` calls whitespace (the same table), found without a loop in Python.
_WHITESPACE = re.compile(r"\s")
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
    if not task_id.isprintable() or _WHITESPACE.search(task_id):
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
    if isinstance(value, str):
        if under:
            url = _absolute_url(value, base_url if url_key else None)
            if url is not None:
                out.append(url)
    elif isinstance(value, list):
        for item in value:
            _collect_urls(item, under, url_key, base_url, out, depth + 1)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(item, (str, list, Mapping)):
                name = str(key).lower()
                named = under or _URL_KEY.search(name) is not None
                if not isinstance(item, str):
                    _collect_urls(item, named, "url" in name, base_url, out, depth + 1)
                elif named and depth < _MAX_DEPTH:  # a string's own step, without the call
                    url = _absolute_url(item, base_url if "url" in name else None)
                    if url is not None:
                        out.append(url)


def _absolute_url(text: str, base_url: str | None) -> str | None:
    text = text.strip()
    if not text or _WHITESPACE.search(text):
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
    layers: Sequence[Mapping[str, object]], items: Sequence[Mapping[str, object]]
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
            f"(keys: {answer_keys(payload, secrets)})"
        )
    return None


def _json_kind(value: object) -> str:
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    return f"a {type(value).__name__}"


def answer_keys(payload: Mapping[str, object], secrets: tuple[str, ...] = ()) -> str:
    """The key paths of an answer, a few levels deep (``data``, ``data.result``, ...)."""
    paths: list[str] = []
    _key_paths(payload, "", paths, 0)
    text = ", ".join(paths[:24]) + (", ..." if len(paths) > 24 else "")
    return clean(redact(text, secrets)) if paths else "none"


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


def clean(text: str, limit: int = 300) -> str:
    """One line, printable, at most ``limit`` characters."""
    flat = " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


@dataclass(frozen=True)
class Answer:
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


def api_message(answer: Answer, secrets: tuple[str, ...]) -> str:
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
        message = answer.reason_phrase or phrase(answer.status_code)
    return clean(redact(message, secrets))


def _detail(value: object) -> str | None:
    """``detail`` as a string, or a list of validation errors (``{"msg": ...}``) joined."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        parts = [item.get("msg") if isinstance(item, Mapping) else item for item in value]
        texts = [part for part in parts if isinstance(part, str) and part]
        return "; ".join(texts) or None
    return None


def phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


def has_id(payload: Mapping[str, object]) -> bool:
    """Whether the task inside ``payload``'s wrappers carries an id of its own."""
    return any(
        _first_text(iter([layer.get(key)])) is not None
        for layer in _unwrap(payload)
        for key in _ID_KEYS
    )
