"""The API itself: routes, keys, bodies, credits, tasks, idempotency and the faults on top.

Transport-free: it turns a :class:`Request` into a :class:`Reply` (which may say "drop the
connection" or "cut the body short"). One lock guards its state, so the counters can be read
from any thread while the event loop serves.

Order of checks for an API request: the reset draw (a reset "before" drops the request unseen),
the rate limit (429), the error draw (500/502/503, before anything is created or charged), the
key (401), then the body (415/400), idempotency (replay or 422), credits (402), and creation.
A create whose reset draw fell "after" (``reset_after_create``) runs all of that, then drops the
answer: the task exists and is charged, and only its ``Idempotency-Key`` lets the client find it.
The answer of a create that made a task waits ``create_delay`` in the HTTP layer, the task
already made, charged and counted; an image answer stalls ``image_stall`` halfway through.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace

from seedance_batch.simulator._config import (
    ENVELOPE_CHOICES,
    ID_FIELD_CHOICES,
    URL_PLACEMENT_CHOICES,
    SimulatorConfig,
)
from seedance_batch.simulator._counters import Counters, ImageRequest, Listener, Tally
from seedance_batch.simulator._faults import Dice, RateLimiter, retry_after_value
from seedance_batch.simulator._messages import RESET, Fate, Reply, Request, error_reply, json_reply
from seedance_batch.simulator._png import render_image
from seedance_batch.simulator._tasks import (
    FAILURE_MESSAGES,
    MIXED_WORDS,
    POLICY_MESSAGES,
    POLICY_WORDS,
    Phase,
    Task,
    TaskStyle,
    served_pixel_size,
    words_for,
)
from seedance_batch.simulator._validate import ImageOrder, InvalidBody, validate_body

CREATE_PATH = "/v1/images/generations"
TASKS_PREFIX = "/v1/tasks/"
IMAGES_PREFIX = "/images/"
SERVER_ERRORS = (500, 502, 503)
_PHASES: tuple[Phase, ...] = ("pending", "processing", "succeeded", "failed")


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


class Api:
    """The simulated API's state and its answer to each request."""

    def __init__(
        self,
        config: SimulatorConfig,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.image_base = ""
        self._clock = clock
        self._wall_clock = wall_clock
        self._dice = Dice(config.seed)
        self._limiter = RateLimiter(config.rate_limit, clock) if config.rate_limit else None
        self._lock = threading.Lock()
        self._tally = Tally()
        self._tasks: dict[str, Task] = {}
        self._balances: dict[str, int] = {}
        self._by_idempotency_key: dict[tuple[str, str], str] = {}
        self._keys_by_body: dict[tuple[str, str], dict[str, int]] = {}
        self._seen: Counter[str] = Counter()

    # -- reading, from any thread ------------------------------------------------------------

    def counters(self) -> Counters:
        with self._lock:
            return self._tally.snapshot()

    def reset_counters(self) -> None:
        """Zero the counters; tasks, balances and idempotency keys stay."""
        with self._lock:
            self._tally = Tally()

    def balance(self, key: str) -> int | None:
        """Credits left for ``key`` (None: unlimited)."""
        if self.config.credits is None:
            return None
        with self._lock:
            return self._balances.get(key, self.config.credits)

    def task(self, task_id: str) -> Task | None:
        with self._lock:
            return self._tasks.get(task_id)

    def stall_started(self) -> None:
        """Count an image download whose stall began (called by the HTTP layer)."""
        with self._lock:
            self._tally.image_stalls_started += 1

    # -- serving ----------------------------------------------------------------------------

    def handle(self, request: Request, listener: Listener) -> Reply:
        with self._lock:
            self._tally.requests += 1
            reply = self._route(request, listener)
            if reply.fate == "reset":
                self._tally.resets += 1
            else:
                self._tally.statuses[reply.status] += 1
                if reply.fate == "truncate":
                    self._tally.truncations += 1
            return reply

    def _route(self, request: Request, listener: Listener) -> Reply:
        path = request.path.partition("?")[0]
        if path.startswith(IMAGES_PREFIX):
            if request.method not in ("GET", "HEAD"):
                return self._not_allowed("GET, HEAD")
            return self._image(request, path, listener)
        if listener == "api":
            if path == CREATE_PATH:
                if request.method != "POST":
                    return self._not_allowed("POST")
                return self._create(request)
            if path.startswith(TASKS_PREFIX) and "/" not in path[len(TASKS_PREFIX) :]:
                if request.method not in ("GET", "HEAD"):
                    return self._not_allowed("GET, HEAD")
                return self._poll(request, path[len(TASKS_PREFIX) :])
        return error_reply(404, f"no such endpoint: {request.method} {path}", "not_found")

    @staticmethod
    def _not_allowed(allow: str) -> Reply:
        return error_reply(
            405,
            f"method not allowed; use {allow}",
            "invalid_request_error",
            headers=(("Allow", allow),),
        )

    def _decision(self, what: str) -> str:
        """A stable key for the next draw about ``what``: its content and how often it came."""
        self._seen[what] += 1
        return f"{what}#{self._seen[what]}"

    def _create_content(self, authorization: str, body: bytes, idempotency_key: str | None) -> str:
        """What a create's draws follow: its body, and which of the Idempotency-Keys sent with
        that body this one is (the first, the second...), not the key itself, which holds a
        lockfile's random nonce: the same campaign run afresh meets the same draws, a resend
        with the same key the next draws of that key's own sequence (and its task back, once
        made), and a new attempt (a new key) a sequence of its own."""
        digest = _digest(body)
        if not idempotency_key:
            return digest
        keys = self._keys_by_body.setdefault((authorization, digest), {})
        return f"{digest}|{keys.setdefault(idempotency_key, len(keys) + 1)}"

    def _gate(self, decision: str, request: Request) -> Reply | None:
        """The rate limit (per key, as sent), then the error draw."""
        if self._limiter is not None:
            wait = self._limiter.acquire(request.headers.get("authorization", ""))
            if wait > 0:
                return self._rate_limited(wait)
        return self._server_error(decision)

    def _rate_limited(self, wait: float) -> Reply:
        """A 429 whose wait is in a Retry-After header, or only in its body (``retry_after``)."""
        form = self.config.variants.retry_after
        message = (
            f"rate limit exceeded: at most {self.config.rate_limit:g} requests per second "
            "for this key"
        )
        seconds = max(1, math.ceil(wait))
        if form == "body_text":
            return error_reply(429, f"{message}; resets in ~{seconds}s", "rate_limit_error")
        if form == "body_field":
            extra = (("retry_after", seconds),)
            return error_reply(429, message, "rate_limit_error", extra=extra)
        retry_after = retry_after_value(wait, form, self._wall_clock)
        return error_reply(
            429, message, "rate_limit_error", headers=(("Retry-After", retry_after),)
        )

    def _server_error(self, decision: str) -> Reply | None:
        if not self._dice.chance("error", decision, self.config.error_rate):
            return None
        status = self._dice.choice("error-status", decision, SERVER_ERRORS)
        return error_reply(
            status, f"the service had a problem (simulated {status})", "server_error"
        )

    def _authenticate(self, request: Request) -> str | Reply:
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        key = key.strip()
        bearer = (("WWW-Authenticate", "Bearer"),)
        if scheme.lower() != "bearer" or not key:
            return error_reply(
                401,
                "missing API key: send Authorization: Bearer YOUR_API_KEY",
                "authentication_error",
                headers=bearer,
            )
        if self.config.keys is not None and key not in self.config.keys:
            return error_reply(401, "invalid API key", "authentication_error", headers=bearer)
        return key

    # -- create -----------------------------------------------------------------------------

    def _create(self, request: Request) -> Reply:
        self._tally.create_requests += 1
        idempotency_key = request.headers.get("idempotency-key")
        authorization = request.headers.get("authorization", "")
        content = self._create_content(authorization, request.body, idempotency_key)
        decision = self._decision(f"create|{authorization}|{content}")
        reset_after = False
        if self._dice.chance("reset", decision, self.config.reset_rate):
            if not self._dice.chance("reset-after", decision, self.config.reset_after_create):
                return RESET
            reset_after = True
        reply, created = self._create_reply(request, idempotency_key, decision)
        if reset_after:
            self._tally.resets_after_create += int(created)
            return RESET
        if created and self.config.create_delay > 0:
            return replace(reply, delay=self.config.create_delay)
        return reply

    def _create_reply(
        self, request: Request, idempotency_key: str | None, decision: str
    ) -> tuple[Reply, bool]:
        refusal = self._gate(decision, request)
        if refusal is not None:
            return refusal, False
        key = self._authenticate(request)
        if isinstance(key, Reply):
            return key, False
        content_type = request.headers.get("content-type", "application/json").lower()
        if "json" not in content_type:
            message = f"Content-Type must be application/json, not {content_type!r}"
            return error_reply(415, message, "invalid_request_error"), False
        try:
            body = json.loads(request.body)
            order = validate_body(body, self.config.models)
        except (ValueError, UnicodeDecodeError):
            message = "the request body is not valid JSON"
            return error_reply(400, message, "invalid_request_error"), False
        except InvalidBody as exc:
            return error_reply(400, str(exc), "invalid_request_error", param=exc.field), False
        body_digest = _digest(json.dumps(body, sort_keys=True).encode())
        if idempotency_key:
            replay = self._replay(key, idempotency_key, body_digest)
            if replay is not None:
                return replay, False
        if self.config.credits is not None:
            balance = self._balances.setdefault(key, self.config.credits)
            if balance < order.credits:
                message = (
                    f"insufficient credits: this task costs {order.credits}, "
                    f"the balance is {balance}"
                )
                return error_reply(402, message, "insufficient_credits"), False
            self._balances[key] = balance - order.credits
        task = self._new_task(key, order, body_digest, decision)
        self._tasks[task.id] = task
        self._tally.task_ids.append(task.id)
        self._tally.charges[key] += order.credits
        if idempotency_key:
            self._by_idempotency_key[(key, idempotency_key)] = task.id
        return json_reply(200, task.view("pending", self.image_base)), True

    def _replay(self, key: str, idempotency_key: str, body_digest: str) -> Reply | None:
        task_id = self._by_idempotency_key.get((key, idempotency_key))
        if task_id is None:
            return None
        task = self._tasks[task_id]
        if task.body_digest != body_digest:
            message = f"Idempotency-Key {idempotency_key!r} was already used with a different body"
            return error_reply(422, message, "idempotency_error", param="Idempotency-Key")
        self._tally.idempotent_replays += 1
        view = task.view(task.phase(self._clock()), self.image_base)
        return json_reply(200, view, headers=(("Idempotent-Replayed", "true"),))

    def _new_task(self, key: str, order: ImageOrder, body_digest: str, decision: str) -> Task:
        dice, config = self._dice, self.config
        task_id = "task_" + _digest(f"{config.seed}|{decision}".encode())[:24]
        policy = dice.chance("policy", task_id, config.variants.policy_rate)
        fails = policy or dice.chance("fail", task_id, config.fail_rate)
        delivered = order.n
        short_rate = config.variants.short_delivery_rate
        if not fails and order.n > 1 and dice.chance("short", task_id, short_rate):
            delivered = 1 + int(dice.draw("short-count", task_id) * (order.n - 1))
        width, height = served_pixel_size(order.size, order.resolution)
        return Task(
            id=task_id,
            key=key,
            model=order.model,
            n=order.n,
            resolution=order.resolution,
            size=order.size,
            width=width,
            height=height,
            credits=order.credits,
            created_at=self._clock(),
            created_unix=int(self._wall_clock()),
            latency=dice.uniform("latency", task_id, *config.latency_range),
            fails=fails,
            delivered=delivered,
            failure_message=dice.choice(
                "failure-message", task_id, POLICY_MESSAGES if policy else FAILURE_MESSAGES
            ),
            body_digest=body_digest,
            style=self._style(task_id, policy),
        )

    def _style(self, task_id: str, policy: bool = False) -> TaskStyle:
        variants, dice = self.config.variants, self._dice
        words = dict(
            words_for(variants.status_words)
            or {
                phase: dice.choice(f"words-{phase}", task_id, MIXED_WORDS[phase])
                for phase in _PHASES
            }
        )
        if policy:
            words["failed"] = dice.choice("policy-word", task_id, POLICY_WORDS)
        envelope = variants.envelope
        if envelope == "mixed":
            envelope = dice.choice("envelope", task_id, ENVELOPE_CHOICES[:-1])
        id_field = variants.id_field
        if id_field == "mixed":
            id_field = dice.choice("id-field", task_id, ID_FIELD_CHOICES[:-1])
        placement = variants.url_placement
        if placement == "mixed":
            placement = dice.choice("url-placement", task_id, URL_PLACEMENT_CHOICES[:-1])
        return TaskStyle(words, envelope, id_field, placement, variants.success_flag)

    # -- poll -------------------------------------------------------------------------------

    def _poll(self, request: Request, task_id: str) -> Reply:
        decision = self._decision(f"poll|{task_id}")
        if self._dice.chance("reset", decision, self.config.reset_rate):
            return RESET
        refusal = self._gate(decision, request)
        if refusal is not None:
            return refusal
        key = self._authenticate(request)
        if isinstance(key, Reply):
            return key
        task = self._tasks.get(task_id)
        if task is None or task.key != key:
            return error_reply(404, f"no task with id {task_id!r}", "not_found", param="id")
        self._tally.polls[task_id] += 1
        now = self._clock()
        phase = task.phase(now)
        if phase in ("succeeded", "failed") and task_id not in self._tally.noticed:
            self._tally.noticed[task_id] = now - task.finished_at
        return json_reply(200, task.view(phase, self.image_base))

    # -- images -----------------------------------------------------------------------------

    def _image(self, request: Request, path: str, listener: Listener) -> Reply:
        self._tally.image_requests.append(ImageRequest(path, listener, dict(request.headers)))
        decision = self._decision(f"image|{path}")
        if self._dice.chance("reset", decision, self.config.reset_rate):
            return RESET
        refusal = self._server_error(decision)
        if refusal is not None:
            return refusal
        task_id, _, name = path[len(IMAGES_PREFIX) :].partition("/")
        task = self._tasks.get(task_id)
        index_text = name.removesuffix(".png")
        now = self._clock()
        if (
            task is None
            or not name.endswith(".png")
            or not (index_text.isascii() and index_text.isdigit())
            or not 1 <= int(index_text) <= task.delivered
            or task.phase(now) != "succeeded"
        ):
            return error_reply(404, f"no image at {path}", "not_found")
        ttl = self.config.image_ttl
        if ttl is not None and now > task.finished_at + ttl:
            return error_reply(410, f"the image URL {path} has expired", "expired")
        png = render_image(task.id, int(index_text), task.width, task.height)
        truncate = self._dice.chance("truncate", decision, self.config.truncate_rate)
        fate: Fate = "truncate" if truncate else "answer"
        stall = 0.0 if truncate else self.config.image_stall
        headers = (("Cache-Control", "private, max-age=3600"),)
        return Reply(200, png, "image/png", headers, fate, stall=stall)
