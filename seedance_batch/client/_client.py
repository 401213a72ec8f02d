"""The async client of the Seedance 2.1 image API: two pools, the rate limit, create/poll/download.

One :class:`SeedanceClient` holds two connection pools (contract, section 7): one for the API's
origin and one for image hosts, each sized for requests in flight, not tasks. Every request has
a timeout. Failures are retried as :class:`~seedance_batch.client.RetryPolicy` says (which
failures are retried, and which may have charged, is :mod:`seedance_batch.client._failures`'s);
what is left is raised as one of the errors of ``seedance_batch.errors``.

Decisions the contract leaves to the client, written down here:

- **Rate limit.** Every request to the API's origin counts: creates, polls, every retry, and
  image downloads (and redirect hops) that land on the API's own origin. Requests to other
  image hosts do not: they are not the API.
- **Retry-After** (seconds or an HTTP date) is honoured as given, capped at
  ``RetryPolicy.retry_after_cap`` (5 minutes by default); without it, full jitter.
- **Nonsense answers.** A 2xx create answer without a task id is not retried (a task may
  exist): :class:`ApiProtocolError` with ``task_may_exist``. A 2xx poll answer that is not a
  JSON object with an id or a status is retried ``not_found_retries`` times, then
  :class:`ApiProtocolError`.
- **Bounds.** An API answer is at most 8 MiB decoded, an image 64 MiB; bodies are read raw and
  decoded in bounded steps (:mod:`seedance_batch.client._transport`). Every API request has a
  total deadline (60 s), answer included, retried like a read timeout.
- **Fail fast.** Connect failures (DNS, refused) to the API's host are retried for at most
  ``unreachable_after`` seconds (20) from the first of them, then :class:`UnreachableError`
  (nothing was sent); from then on every request of the client raises it at once.
- **Downloads** (:mod:`seedance_batch.client._download`): the Authorization header goes with
  a hop only while every hop so far is on the API's exact origin.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import TypeVar
from urllib.parse import quote

import httpx

from seedance_batch._errors import (
    ApiProtocolError,
    DownloadError,
    NetworkError,
    TaskNotFoundError,
)
from seedance_batch._redact import REDACTED, redact
from seedance_batch.client._answers import (
    Answer,
    Task,
    answer_keys,
    api_message,
    check_task_id,
    clean,
    has_id,
    parse_task,
)
from seedance_batch.client._attempts import RetryLoop
from seedance_batch.client._bounded import BodyTooLarge, UnsupportedEncoding
from seedance_batch.client._config import (
    MAX_ANSWER_BYTES,
    MAX_IMAGE_BYTES,
    USER_AGENT,
    check_base_url,
    check_idempotency_key,
    check_key,
    origin,
)
from seedance_batch.client._download import MAX_REDIRECTS, Download, ImageSink, Redirect, fetch
from seedance_batch.client._failures import (
    MAYBE_REACHED,
    Failure,
    describe,
    error_for_status,
    retryable,
    sent_nothing,
)
from seedance_batch.client._http import http_client, is_loopback, on_headers_sent
from seedance_batch.client._ratelimit import RateLimiter, slows_down
from seedance_batch.client._retry import (
    RetryEvent,
    RetryPolicy,
    parse_body_wait,
    parse_retry_after,
)

__all__ = ["CREATE_PATH", "TASK_PATH", "ClientStats", "CreateOutcome", "SeedanceClient"]

CREATE_PATH = "/v1/images/generations"
TASK_PATH = "/v1/tasks/"
#: Poll requests kept built, one per task, the oldest dropped first.
_POLLS_KEPT = 4096


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
class ClientStats:
    """Counters of one client's life, for run summaries."""

    requests: int = 0
    """Requests sent to the API's origin (every attempt, downloads there included)."""
    retries: int = 0
    """Retries of any operation, downloads included."""
    possible_double_charges: int = 0
    """Creates resent after an attempt that may have reached the server."""


T = TypeVar("T")


async def within(seconds: float, work: Awaitable[T]) -> T:
    """``work``'s result, or :class:`TimeoutError` after ``seconds``: in the calling task on
    Python 3.11 and later (``asyncio.wait_for`` makes a task of each request there)."""
    if sys.version_info >= (3, 11):
        async with asyncio.timeout(seconds):
            return await work
    return await asyncio.wait_for(work, seconds)


def without_query(url: httpx.URL) -> str:
    """``url`` as text without its query and fragment (what a download's messages name): httpx
    encodes every ``?`` and ``#`` of the path, so the first of them ends it (no second parse)."""
    text = str(url)
    return text.partition("#")[0].partition("?")[0]


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
    - ``transport``: an httpx transport for both pools instead of the aiohttp one (and then no
      proxies), such as ``httpx.MockTransport`` for tests that need no socket.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        requests_per_second: float = 10.0,
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
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._base = check_base_url(base_url)
        self._key = check_key(api_key)
        if max_connections < 1 or max_image_connections < 1:
            raise ValueError("connection pools need at least one connection")
        if not (timeout > 0 and download_timeout > 0 and request_deadline > 0):
            raise ValueError("timeouts must be > 0")
        if not (max_image_bytes > 0 and max_answer_bytes > 0 and unreachable_after >= 0):
            raise ValueError("max_image_bytes, max_answer_bytes must be > 0")
        self._root = str(self._base).rstrip("/")
        self._api_origin = origin(self._base)
        self._rps = requests_per_second
        self._limiter = RateLimiter(requests_per_second, clock=clock, sleep=sleep)
        # At most one request per pooled connection is handed to the pool at a time: the rest
        # wait their turn here, where no timeout runs, so that a request queued behind a burst
        # never fails for the pool's connect timeout (which then bounds only the connecting).
        self._api_slots = asyncio.Semaphore(max_connections)
        self._image_slots = asyncio.Semaphore(max_image_connections)
        self._attempts = RetryLoop(
            retry if retry is not None else RetryPolicy(),
            host=self._root,
            unreachable_after=unreachable_after,
            sleep=sleep,
            clock=clock,
            rng=rng if rng is not None else random.Random(),
            on_retry=on_retry,
            redact=self._redact,
        )
        self._wall_clock = wall_clock
        self._download_timeout = download_timeout
        self._max_image_bytes = max_image_bytes
        self._max_answer = max_answer_bytes
        self._deadline = request_deadline
        self._requests = 0
        direct = (self._base.host,) if is_loopback(self._base.host) else ()
        self._api = http_client(
            connections=max_connections,
            timeout=timeout,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            transport=transport,
            direct=direct,
        )
        # redirects of image URLs are followed by hand, to decide the header at every hop
        self._images = http_client(
            connections=max_image_connections,
            timeout=timeout,
            headers={"User-Agent": USER_AGENT},
            transport=transport,
            direct=direct,
        )
        # each request's whole set of headers, merged once (the key's header included)
        bearer = {"Authorization": f"Bearer {self._key.reveal()}"}
        self._poll_headers = self._api.headers_with(bearer)
        self._polls: dict[str, httpx.Request] = {}
        self._create_headers = self._api.headers_with(
            {**bearer, "Content-Type": "application/json"}
        )
        self._image_headers = self._images.headers_with({})
        self._trusted_image_headers = self._images.headers_with(bearer)
        self._create_url = httpx.URL(self._root + CREATE_PATH)

    @staticmethod
    def check_settings(base_url: str, api_key: str) -> None:
        """Raise :class:`ConfigurationError` for a base URL or key that the constructor would
        refuse, without making a client."""
        check_base_url(base_url)
        check_key(api_key)

    def __repr__(self) -> str:
        return (
            f"SeedanceClient(base_url={self._root!r}, "
            f"requests_per_second={self._rps!r}, api_key={REDACTED!r})"
        )

    @property
    def base_url(self) -> str:
        """The API's base URL, without a trailing slash."""
        return self._root

    @property
    def limiter(self) -> RateLimiter:
        """The rate over all API requests: its ``settled`` rate and the ``limited`` answers."""
        return self._limiter

    @property
    def stats(self) -> ClientStats:
        """A snapshot of the counters."""
        attempts = self._attempts
        return ClientStats(self._requests, attempts.retries, attempts.double_charges)

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
        may_retry: Callable[[], bool] | None = None,
        may_resend: Callable[[], bool] | None = None,
        on_send: Callable[[], None] | None = None,
    ) -> CreateOutcome:
        """Create a task: ``POST /v1/images/generations`` with ``body`` as JSON.

        Every attempt sends the same bytes and the same ``Idempotency-Key``. ``may_retry``, if
        given, is asked before every retry, whatever the failure (a 429 included): when it
        answers False the create stops there, raising the last failure (an interrupted run
        sends nothing more, and a create the API refused outright made no task). ``may_resend``, if
        given, is asked before each resend that follows an attempt that may have reached the
        server (a resend that could be charged a second time), so the caller can count it
        against a budget first; when it answers False the create stops there, raising the last
        failure with ``task_may_exist`` set. Errors raised after such an attempt have
        ``task_may_exist`` set as well. ``on_send``, if given, is called each time an attempt's
        headers are written to a connection (after the rate limiter and the connect): a create
        that raised, or was cancelled, without calling it sent nothing.
        """
        check_idempotency_key(idempotency_key)
        content = json.dumps(
            dict(body), ensure_ascii=False, separators=(",", ":"), allow_nan=False
        ).encode("utf-8")
        target = f"POST {self._root}{CREATE_PATH}"
        headers = self._create_headers.copy()
        headers["Idempotency-Key"] = idempotency_key
        trace = on_headers_sent(on_send) if on_send is not None else None
        request = self._api.prepare("POST", self._create_url, headers, content=content, trace=trace)

        async def attempt() -> Task | Failure:
            answer = await self._attempt(request, target)
            if not isinstance(answer, Answer):
                return answer
            return self._status_failure(answer, target, reached=answer.status_code in MAYBE_REACHED)

        task, ambiguous = await self._attempts.run(
            "create", target, attempt, may_retry=may_retry, may_resend=may_resend
        )
        return CreateOutcome(task=task, ambiguous_attempts=ambiguous)

    async def get_task(self, task_id: str, *, on_slot: Callable[[], None] | None = None) -> Task:
        """Poll a task: ``GET /v1/tasks/{task_id}``. Answers without an id keep ``task_id``.

        An id that is not a short printable string (contract, section 7) is refused with
        :class:`ApiProtocolError` before anything is sent. ``on_slot``, if given, is called as
        each attempt's turn comes (its rate slot and a connection), just before it is sent:
        the moment its answer tells of, give or take the round trip, however long it queued.
        """
        if not isinstance(task_id, str):
            raise ApiProtocolError("a task id must be a string")
        request = self._polls.get(task_id)  # a task is polled again and again: parsed once
        url = f"{self._root}{TASK_PATH}{quote(task_id, safe='')}"
        if request is None:
            check_task_id(task_id, self._secrets)
            request = self._api.prepare("GET", url, self._poll_headers)
            if len(self._polls) >= _POLLS_KEPT:
                del self._polls[next(iter(self._polls))]  # the oldest task's
            self._polls[task_id] = request
        target = f"GET {url}"

        async def attempt() -> Task | Failure:
            answer = await self._attempt(request, target, task_id, on_slot)
            if not isinstance(answer, Answer):
                return answer
            if answer.status_code == 404:
                message = api_message(answer, self._secrets)
                return Failure(
                    lambda _s: TaskNotFoundError(message + _s, status=404),
                    reason="HTTP 404",
                    limited=True,
                    status=404,
                )
            return self._status_failure(answer, target, reached=False)

        task, _ = await self._attempts.run("get_task", target, attempt)
        return task

    async def _attempt(
        self,
        request: httpx.Request,
        target: str,
        polled: str | None = None,
        on_slot: Callable[[], None] | None = None,
    ) -> Task | Failure | Answer:
        """One attempt: its failure, the task of a 2xx answer, or any other answer to judge."""
        answer = await self._api_request(request, target, on_slot)
        if isinstance(answer, Failure) or not 200 <= answer.status_code < 300:
            return answer
        return self._read_task(answer, target, polled)

    def _read_task(self, answer: Answer, target: str, polled: str | None) -> Task | Failure:
        """The task of a 2xx answer (its strings read and redacted by ``parse_task``), or the
        failure of an unreadable one: final after a create (a task may exist), retried a few
        times after a poll of the task ``polled``, whose answer must carry an id or a status."""
        code = answer.status_code
        try:
            payload = self._json(answer)
            task = parse_task(
                payload, fallback_id=polled, base_url=self._root, secrets=self._secrets
            )
            if (
                polled is not None
                and isinstance(payload, Mapping)
                and not (task.status_word or has_id(payload))
            ):
                raise ApiProtocolError(
                    f"the answer has neither a task id nor a status (keys: "
                    f"{answer_keys(payload, self._secrets)})"
                )
        except ApiProtocolError as exc:
            message = f"{target}: {exc.api_message}"
            if polled is None:
                return Failure(
                    lambda _s: ApiProtocolError(message, status=code),
                    reason="unreadable answer",
                    retryable=False,
                    status=code,
                    reached_server=True,
                )
            return Failure(
                lambda _s: ApiProtocolError(message + _s, status=code),
                reason="unreadable answer",
                limited=True,
                status=code,
            )
        return task

    async def _api_request(
        self, request: httpx.Request, target: str, on_slot: Callable[[], None] | None = None
    ) -> Answer | Failure:
        """One sending of ``request`` to the API, rate limited and read whole within the
        request deadline (``on_slot`` called as its turn comes); transport failures become a
        ``Failure``."""
        ticket = await self._limiter.acquire()
        self._attempts.check_reachable()
        try:
            async with self._api_slots:
                self._attempts.check_reachable()
                self._requests += 1
                if on_slot is not None:
                    on_slot()
                answer = await within(self._deadline, self._exchange(request))
        except asyncio.TimeoutError:
            deadline = self._deadline
            self._attempts.connected()
            return Failure(
                lambda s: NetworkError(f"{target}: no whole answer within {deadline:g} s{s}"),
                reason="request deadline",
                reached_server=True,
            )
        except httpx.TransportError as exc:
            reason = self._redact(describe(exc))
            connect = sent_nothing(exc)
            if not connect:
                self._attempts.connected()
            return Failure(
                lambda s: NetworkError(f"{target}: {reason}{s}"),
                reason=reason,
                reached_server=not connect,
                connect_failed=isinstance(exc, httpx.ConnectError),
                cause=exc,
            )
        except (httpx.DecodingError, BodyTooLarge, UnsupportedEncoding) as exc:
            self._attempts.connected()
            reason = self._redact(describe(exc) if not isinstance(exc, BodyTooLarge) else "")
            if isinstance(exc, BodyTooLarge):
                reason = f"the answer is over {exc.limit} bytes"
            return Failure(
                lambda _s: ApiProtocolError(f"{target}: {reason}"),
                reason=reason,
                retryable=False,
                reached_server=True,
                cause=exc,
            )
        self._attempts.connected()
        self._limiter.answered(ticket, slow_down=slows_down(answer))
        return answer

    async def _exchange(self, request: httpx.Request) -> Answer:
        response, body = await self._api.read(request, self._max_answer)
        return Answer(response.status_code, response.headers, body, response.reason_phrase)

    def _status_failure(self, answer: Answer, target: str, *, reached: bool) -> Failure:
        code = answer.status_code
        message = api_message(answer, self._secrets)
        if 300 <= code < 400:
            location = answer.headers.get("location")
            if location:
                message = f"{message} (unexpected redirect to {clean(self._redact(location))})"
        retry_after = parse_retry_after(answer.headers.get("retry-after"), self._wall_clock())
        if retry_after is None and code in (429, 503):
            retry_after = parse_body_wait(answer.body)
        return Failure(
            lambda s: error_for_status(code, message + s),
            reason=f"HTTP {code}",
            retryable=retryable(code),
            status=code,
            retry_after=retry_after,
            reached_server=reached,
        )

    def _json(self, answer: Answer) -> object:
        try:
            return answer.json()
        except (ValueError, UnicodeDecodeError):
            content_type = self._redact(answer.headers.get("content-type", "missing"))
            raise ApiProtocolError(
                f"the answer is not JSON (Content-Type {clean(content_type, 80)})"
            ) from None

    # ----------------------------------------------------------------------------------------
    # Downloads

    async def download(self, url: str, sink: ImageSink) -> Download:
        """Download an image into ``sink`` and check it.

        The bytes go to ``sink`` as they arrive; once the whole image is in and checked (its
        Content-Length, its magic bytes: PNG, JPEG or WEBP, and its format's end marker), the
        sink commits. A failed attempt is discarded from the sink before the next one; when
        the download fails for good, the sink has discarded it. The SHA-256 is computed while
        streaming. An error the sink raises (a file that cannot be written) is raised as it
        is, not retried.
        """
        try:
            start = httpx.URL(url)
        except (httpx.InvalidURL, TypeError):
            raise DownloadError(f"not a URL: {clean(self._redact(str(url)))!r}") from None
        if start.scheme not in ("http", "https") or not start.host:
            raise DownloadError(f"not an http(s) URL: {clean(self._redact(url))!r}")
        target = self._redact(without_query(start))

        async def attempt() -> Download | Failure:
            return await self._download_once(start, sink, target)

        result, _ = await self._attempts.run("download", target, attempt)
        return result

    async def _download_once(
        self, start: httpx.URL, sink: ImageSink, target: str
    ) -> Download | Failure:
        url = start
        trusted = True  # every hop so far on the API's origin
        for _hop in range(MAX_REDIRECTS + 1):
            headers = self._image_headers
            trusted = trusted and origin(url) == self._api_origin
            if trusted:
                await self._limiter.acquire()
                self._requests += 1
                headers = self._trusted_image_headers
            request = self._images.prepare("GET", url, headers)
            try:
                outcome = await within(self._download_timeout, self._fetch(request, sink, target))
            except asyncio.TimeoutError:
                return Failure(
                    lambda s: DownloadError(
                        f"{target}: took longer than {self._download_timeout:g} s{s}"
                    ),
                    reason="download timeout",
                )
            if not isinstance(outcome, Redirect):
                return outcome
            url = outcome.location
            if url.scheme not in ("http", "https") or not url.host:
                return Failure(
                    lambda _s: DownloadError(f"{target}: redirected to a non-http(s) URL"),
                    reason="bad redirect",
                    retryable=False,
                )
        return Failure(
            lambda _s: DownloadError(f"{target}: more than {MAX_REDIRECTS} redirects"),
            reason="too many redirects",
            retryable=False,
        )

    async def _fetch(
        self, request: httpx.Request, sink: ImageSink, target: str
    ) -> Download | Redirect | Failure:
        """One hop of a download, in its turn for an image connection."""
        async with self._image_slots:
            return await fetch(
                self._images,
                request,
                sink,
                target,
                limit=self._max_image_bytes,
                now=self._wall_clock,
                redact=self._redact,
            )

    @property
    def _secrets(self) -> tuple[str, ...]:
        return (self._key.reveal(),)

    def _redact(self, text: str) -> str:
        return redact(text, self._secrets)
