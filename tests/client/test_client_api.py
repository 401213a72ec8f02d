"""Creating and polling tasks against a real scripted server: answers, errors and retries."""

from __future__ import annotations

import asyncio
import email.utils
import json
import math
import random
import socket
from typing import Any

import pytest
from _support.client import API_KEY, WALL, Harness, Reply, ScriptedServer, reset, run, using

from seedance_batch._errors import (
    ApiError,
    ApiProtocolError,
    AuthenticationError,
    CreditsExhaustedError,
    NetworkError,
    RequestRejectedError,
    SeedanceBatchError,
    TaskNotFoundError,
    TransientApiError,
)
from seedance_batch.client import RetryPolicy, SeedanceClient
from seedance_batch.client._client import CREATE_PATH

BODY = {"prompt": "A premium skincare bottle, «studio» light", "model": "gpt-image-2-all", "n": 2}
TASK = {"id": "task-1", "object": "image.generation.task", "status": "pending", "data": []}


def ok(task: dict[str, Any] | None = None, **headers: str) -> Reply:
    return Reply(200, task if task is not None else TASK, headers)


def error(status: int, body: object = b"", **headers: str) -> Reply:
    return Reply(status, body, {k.replace("_", "-"): v for k, v in headers.items()})


def create(harness: Harness, key: str = "job-1#1", **kw: Any) -> Any:
    return using(harness, lambda c: c.create(BODY, key), **kw)


# --------------------------------------------------------------------------------------------
# Happy paths


def test_create_sends_body_key_and_headers(harness: Harness, server: ScriptedServer) -> None:
    """A create POSTs the JSON body with the bearer key, JSON content type and Idempotency-Key."""
    server.script(CREATE_PATH, ok())
    outcome = create(harness, "3f9a2c1b0d4e5f60-1")
    assert outcome.task.id == "task-1"
    assert outcome.task.status == "running"
    assert not outcome.possible_double_charge
    (request,) = server.to(CREATE_PATH)
    assert request.method == "POST"
    assert request.json() == BODY
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["idempotency-key"] == "3f9a2c1b0d4e5f60-1"
    assert request.headers["user-agent"].startswith("seedance-batch/")
    assert harness.events == []


def test_base_url_path_prefix_is_kept(harness: Harness, server: ScriptedServer) -> None:
    """A base URL with a path (and a trailing slash) prefixes every endpoint."""
    server.script("/api" + CREATE_PATH, ok())
    outcome = create(harness, base_url=server.url + "/api/")
    assert outcome.task.id == "task-1"


@pytest.mark.parametrize(
    ("answer", "status", "urls"),
    [
        (
            {
                "id": "t1",
                "status": "succeeded",
                "data": [{"status": "succeeded", "imageUrls": ["https://h/a"]}],
            },
            "succeeded",
            ("https://h/a",),
        ),
        (
            {"data": {"task_id": "t1", "status": "COMPLETED", "results": ["https://h/a"]}},
            "succeeded",
            ("https://h/a",),
        ),
        ({"task_id": "t1", "status": "in_progress"}, "running", ()),
        ({"id": "t1", "status": "Failed", "error": {"message": "policy"}}, "failed", ()),
        ({"status": "processing"}, "running", ()),
    ],
    ids=["bare", "wrapped-task_id", "task_id", "failed", "no-id"],
)
def test_get_task_tolerant_answers(
    harness: Harness,
    server: ScriptedServer,
    answer: dict[str, Any],
    status: str,
    urls: tuple[str, ...],
) -> None:
    """A poll reads bare and wrapped answers, id or task_id, any status word and URL place."""
    server.script("/v1/tasks/t1", ok(answer))
    task = using(harness, lambda c: c.get_task("t1"))
    assert (task.id, task.status, task.image_urls) == ("t1", status, urls)
    (request,) = server.to("/v1/tasks/t1")
    assert request.method == "GET"
    assert request.headers["authorization"] == f"Bearer {API_KEY}"


def test_create_then_poll_to_success(harness: Harness, server: ScriptedServer) -> None:
    """The page's flow: create answers pending, polls answer processing then the image URLs."""
    server.script(CREATE_PATH, ok({"data": {"task_id": "T-9", "status": "queued"}}))
    server.script(
        "/v1/tasks/T-9",
        ok({"task_id": "T-9", "status": "processing"}),
        ok(
            {
                "task_id": "T-9",
                "status": "SUCCESS",
                "data": [{"url": ["https://h/1", "https://h/2"]}],
            }
        ),
    )

    async def flow(client: SeedanceClient) -> list[str]:
        outcome = await client.create(BODY, "k")
        words = [outcome.task.status_word]
        while True:
            task = await client.get_task(outcome.task.id)
            words.append(task.status_word)
            if task.status != "running":
                assert task.image_urls == ("https://h/1", "https://h/2")
                return words

    assert using(harness, flow) == ["queued", "processing", "SUCCESS"]


def test_task_id_is_quoted_in_the_path(harness: Harness, server: ScriptedServer) -> None:
    """A task id with a slash, a query or a fragment cannot escape its path segment."""
    server.script("/v1/tasks/a%2F..%2Fb%3Fc%23d", ok({"id": "a/../b?c#d", "status": "queued"}))
    task = using(harness, lambda c: c.get_task("a/../b?c#d"))
    assert task.id == "a/../b?c#d"


def test_unicode_body_is_sent_as_utf8_json(harness: Harness, server: ScriptedServer) -> None:
    """Non-ASCII prompt text travels as UTF-8 JSON, byte for byte identical on every attempt."""
    server.script(CREATE_PATH, error(503), ok())
    create(harness)
    first, second = server.to(CREATE_PATH)
    assert first.body == second.body
    assert "«studio»".encode() in first.body


# --------------------------------------------------------------------------------------------
# Error answers


@pytest.mark.parametrize(
    ("reply", "kind", "text"),
    [
        (
            error(400, {"error": {"message": "n must be 1, 2 or 4"}}),
            RequestRejectedError,
            "HTTP 400: n must be 1, 2 or 4",
        ),
        (
            error(422, {"detail": [{"msg": "size is invalid"}, {"msg": "n too big"}]}),
            RequestRejectedError,
            "HTTP 422: size is invalid; n too big",
        ),
        (error(422, {"detail": "bad preset"}), RequestRejectedError, "HTTP 422: bad preset"),
        (
            error(401, {"message": "invalid api key"}),
            AuthenticationError,
            "HTTP 401: invalid api key",
        ),
        (
            error(403, {"error": "forbidden for this model"}),
            AuthenticationError,
            "HTTP 403: forbidden for this model",
        ),
        (
            error(402, {"error": {"code": "x", "message": "insufficient credits"}}),
            CreditsExhaustedError,
            "HTTP 402: insufficient credits",
        ),
        (
            error(400, b"<html>nginx</html>", content_type="text/html"),
            RequestRejectedError,
            "HTTP 400: Bad Request",
        ),
        (error(400, "plain words"), RequestRejectedError, "HTTP 400: plain words"),
        (error(413, {}), RequestRejectedError, "HTTP 413: Request Entity Too Large"),
        (error(404, {"message": "no route"}), ApiProtocolError, "HTTP 404: no route"),
        (
            error(301, b"", location="https://elsewhere/"),
            ApiProtocolError,
            "unexpected redirect to https://elsewhere/",
        ),
    ],
    ids=["400", "422-list", "422-str", "401", "403", "402", "html", "text", "413", "404", "301"],
)
def test_error_answers_are_not_retried(
    harness: Harness, server: ScriptedServer, reply: Reply, kind: type[ApiError], text: str
) -> None:
    """Each final error status raises its error class with the API's own message, at once."""
    server.script(CREATE_PATH, reply)
    with pytest.raises(kind) as caught:
        create(harness)
    assert type(caught.value) is kind
    assert text in str(caught.value)
    assert caught.value.status == reply.status
    assert not caught.value.task_may_exist
    assert len(server.to(CREATE_PATH)) == 1
    assert harness.events == []


def test_errors_form_one_catchable_tree() -> None:
    """Every client error is a SeedanceBatchError; API errors share ApiError."""
    kinds = (AuthenticationError, CreditsExhaustedError, RequestRejectedError, TransientApiError)
    for kind in (*kinds, ApiProtocolError, TaskNotFoundError):
        assert issubclass(kind, ApiError)
    assert issubclass(ApiError, SeedanceBatchError)
    assert issubclass(NetworkError, SeedanceBatchError)


# --------------------------------------------------------------------------------------------
# Retry-After and backoff


def test_429_retry_after_seconds(harness: Harness, server: ScriptedServer) -> None:
    """A 429 with Retry-After in seconds waits exactly that long, then retries."""
    server.script(CREATE_PATH, error(429, {"message": "slow down"}, retry_after="7"), ok())
    outcome = create(harness)
    assert outcome.task.id == "task-1"
    assert harness.time.sleeps == [7.0]
    (event,) = harness.events
    assert (event.operation, event.attempt, event.status, event.delay) == ("create", 1, 429, 7.0)
    assert not event.possible_double_charge
    assert not outcome.possible_double_charge


def test_429_retry_after_http_date(harness: Harness, server: ScriptedServer) -> None:
    """A 429 with Retry-After as an HTTP date waits until that date (by the wall clock)."""
    date = email.utils.formatdate(WALL + 30, usegmt=True)
    server.script("/v1/tasks/t", error(429, retry_after=date), ok({"id": "t", "status": "done"}))
    task = using(harness, lambda c: c.get_task("t"))
    assert task.status == "succeeded"
    assert harness.time.sleeps == [30.0]


def test_retry_after_in_the_past_and_capped(harness: Harness, server: ScriptedServer) -> None:
    """A past date waits 0 s; a huge Retry-After is capped by the policy's retry_after_cap."""
    past = email.utils.formatdate(WALL - 100, usegmt=True)
    server.script(
        "/v1/tasks/t",
        error(503, retry_after=past),
        error(429, retry_after="86400"),
        ok({"id": "t"}),
    )
    policy = RetryPolicy(max_retries=3, retry_after_cap=120)
    using(harness, lambda c: c.get_task("t"), retry=policy)
    assert harness.time.sleeps == [0.0, 120.0]


def test_unreadable_retry_after_falls_back_to_backoff(
    harness: Harness, server: ScriptedServer
) -> None:
    """A Retry-After that is neither seconds nor a date is ignored in favour of the backoff."""
    server.script("/v1/tasks/t", error(429, retry_after="soon"), ok({"id": "t"}))
    using(harness, lambda c: c.get_task("t"))
    expected = random.Random(harness.seed).uniform(0, 1.0)
    assert harness.time.sleeps == [pytest.approx(expected)]


def test_full_jitter_backoff_schedule(harness: Harness, server: ScriptedServer) -> None:
    """5xx retries wait uniform(0, min(cap, base*2^n)), drawn from the injected RNG."""
    server.script("/v1/tasks/t", *[error(500 + i % 5) for i in range(6)], ok({"id": "t"}))
    policy = RetryPolicy(base=1.0, cap=10.0, max_retries=6)
    using(harness, lambda c: c.get_task("t"), retry=policy)
    rng = random.Random(harness.seed)
    ceilings = [1, 2, 4, 8, 10, 10]
    assert harness.time.sleeps == [pytest.approx(rng.uniform(0, c)) for c in ceilings]
    for n, (sleep, event) in enumerate(zip(harness.time.sleeps, harness.events, strict=True)):
        assert 0 <= sleep <= min(10.0, 2.0**n)
        assert event.attempt == n + 1
        assert event.reason == f"HTTP {500 + n % 5}"


def test_backoff_bounds_hold_for_many_seeds() -> None:
    """For any RNG, every backoff lies within [0, min(cap, base * 2^n)], and spreads out."""
    policy = RetryPolicy(base=0.5, cap=60.0)
    for seed in range(200):
        rng = random.Random(seed)
        for n in range(12):
            assert 0.0 <= policy.backoff(n, rng) <= min(60.0, 0.5 * 2**n)
    draws = [policy.backoff(3, random.Random(s)) for s in range(200)]
    assert min(draws) < 0.5 and max(draws) > 3.5  # full jitter, not equal jitter
    assert policy.ceiling(10_000) == 60.0


def test_retries_exhausted_raise_transient_error(harness: Harness, server: ScriptedServer) -> None:
    """A 503 answered on every attempt ends in TransientApiError after max_retries + 1 attempts."""
    server.always(CREATE_PATH, error(503, {"error": {"message": "overloaded"}}))
    with pytest.raises(TransientApiError) as caught:
        create(harness)
    assert caught.value.status == 503
    assert str(caught.value) == "HTTP 503: overloaded (after 4 attempts)"
    assert not caught.value.task_may_exist
    assert len(server.to(CREATE_PATH)) == 4
    assert len(harness.time.sleeps) == 3
    assert {r.headers["idempotency-key"] for r in server.to(CREATE_PATH)} == {"job-1#1"}


@pytest.mark.parametrize("status", [408, 409, 425, 429, 500, 503])
def test_refusals_are_retried_without_double_charge(
    harness: Harness, server: ScriptedServer, status: int
) -> None:
    """429, 5xx (but 502/504) and 408/409/425 on a create are refusals: retried, never flagged."""
    server.script(CREATE_PATH, error(status), ok())
    outcome = create(harness)
    assert not outcome.possible_double_charge
    assert [e.possible_double_charge for e in harness.events] == [False]


@pytest.mark.parametrize("status", [502, 504])
def test_gateway_errors_on_create_are_possible_double_charges(
    harness: Harness, server: ScriptedServer, status: int
) -> None:
    """A 502 or 504 on a create may hide a request the origin took: the resend is flagged."""
    server.script(CREATE_PATH, error(status), ok())
    outcome = create(harness)
    assert outcome.possible_double_charge
    assert outcome.ambiguous_attempts == 1


# --------------------------------------------------------------------------------------------
# Transport failures and possible double charges


@pytest.mark.sockets
def test_reset_after_sending_a_create(harness: Harness, server: ScriptedServer) -> None:
    """A reset after the create was sent is retried with the same key and flagged."""
    server.script(CREATE_PATH, reset(), reset(), ok())

    async def body(client: SeedanceClient) -> Any:
        outcome = await client.create(BODY, "job-7#2")
        return outcome, client.stats

    outcome, stats = using(harness, body)
    assert outcome.task.id == "task-1"
    assert outcome.possible_double_charge
    assert outcome.ambiguous_attempts == 2
    keys = [r.headers["idempotency-key"] for r in server.to(CREATE_PATH)]
    assert keys == ["job-7#2"] * 3
    assert [e.possible_double_charge for e in harness.events] == [True, True]
    assert stats.possible_double_charges == 2
    assert harness.events[0].target == f"POST {server.url}{CREATE_PATH}"
    assert stats.retries == 2
    assert stats.requests == 3


@pytest.mark.sockets
def test_read_timeout_on_a_create_is_a_possible_double_charge(
    harness: Harness, server: ScriptedServer
) -> None:
    """A create whose answer times out may have been taken: retried and flagged."""
    server.script(CREATE_PATH, Reply(200, TASK, delay=0.6), ok())
    outcome = create(harness, timeout=0.2)
    assert outcome.possible_double_charge
    assert harness.events[0].reason.startswith("ReadTimeout")


@pytest.mark.sockets
def test_may_resend_refusal_stops_the_create(harness: Harness, server: ScriptedServer) -> None:
    """When the caller's budget hook refuses a risky resend, nothing more is sent."""
    server.script(CREATE_PATH, reset(), ok())
    asked: list[bool] = []

    def may_resend() -> bool:
        asked.append(True)
        return False

    with pytest.raises(NetworkError) as caught:
        using(harness, lambda c: c.create(BODY, "k", may_resend=may_resend))
    assert caught.value.task_may_exist
    assert "not resent" in str(caught.value)
    assert asked == [True]
    assert len(server.to(CREATE_PATH)) == 1


def test_may_retry_refusal_stops_a_create_after_a_429(
    harness: Harness, server: ScriptedServer
) -> None:
    """When the caller declines any retry (an interrupted run), a 429'd create is not sent
    again and its error says so; a 429 made no task, so none may exist."""
    server.script(CREATE_PATH, error(429), ok())
    with pytest.raises(TransientApiError) as caught:
        using(harness, lambda c: c.create(BODY, "k", may_retry=lambda: False))
    assert not caught.value.task_may_exist
    assert "not retried: the run was interrupted" in str(caught.value)
    assert len(server.to(CREATE_PATH)) == 1
    assert harness.events == []  # no retry was announced


@pytest.mark.sockets
def test_may_retry_refusal_after_a_reset_says_a_task_may_exist(
    harness: Harness, server: ScriptedServer
) -> None:
    """Declined after an attempt that may have reached the server: nothing more is sent, the
    error says a task may exist, and the budget hook is not asked."""
    server.script(CREATE_PATH, reset(), ok())
    asked: list[bool] = []

    def may_resend() -> bool:
        asked.append(True)
        return True

    with pytest.raises(NetworkError) as caught:
        using(
            harness, lambda c: c.create(BODY, "k", may_retry=lambda: False, may_resend=may_resend)
        )
    assert caught.value.task_may_exist
    assert asked == []
    assert len(server.to(CREATE_PATH)) == 1


@pytest.mark.sockets
def test_may_resend_is_asked_only_after_risky_attempts(
    harness: Harness, server: ScriptedServer
) -> None:
    """The budget hook is asked once per attempt that may have reached the server, not per 503."""
    server.script(CREATE_PATH, error(503), reset(), error(503), ok())
    asked: list[int] = []

    def may_resend() -> bool:
        asked.append(1)
        return True

    outcome = using(harness, lambda c: c.create(BODY, "k", may_resend=may_resend))
    assert asked == [1]
    assert outcome.ambiguous_attempts == 1


@pytest.mark.sockets
def test_create_failing_after_a_reset_says_a_task_may_exist(
    harness: Harness, server: ScriptedServer
) -> None:
    """Retries run out after a reset: the final error says a task may exist."""
    server.script(CREATE_PATH, reset())
    server.always(CREATE_PATH, error(503))
    with pytest.raises(TransientApiError) as caught:
        create(harness)
    assert caught.value.task_may_exist


@pytest.mark.sockets
def test_create_rejected_after_a_reset_says_a_task_may_exist(
    harness: Harness, server: ScriptedServer
) -> None:
    """Even a final 422 after a reset keeps the warning that a task may exist."""
    server.script(CREATE_PATH, reset(), error(422, {"message": "key reused"}))
    with pytest.raises(RequestRejectedError) as caught:
        create(harness)
    assert caught.value.task_may_exist


def test_create_answer_without_id_is_not_retried(harness: Harness, server: ScriptedServer) -> None:
    """A 200 create answer with no task id is a protocol error; a task may exist; no resend."""
    server.script(CREATE_PATH, ok({"status": "pending"}))
    with pytest.raises(ApiProtocolError) as caught:
        create(harness)
    assert caught.value.task_may_exist
    assert "no task id" in str(caught.value)
    assert len(server.to(CREATE_PATH)) == 1


def test_create_answer_not_json(harness: Harness, server: ScriptedServer) -> None:
    """A 200 create answer that is not JSON is a protocol error naming its content type."""
    server.script(CREATE_PATH, Reply(200, b"<html>hi</html>", {"Content-Type": "text/html"}))
    with pytest.raises(ApiProtocolError, match=r"not JSON.*text/html"):
        create(harness)


def _refused_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    sock.close()
    return port


def test_connection_refused_is_a_network_error(harness: Harness) -> None:
    """A refused connection is retried with backoff, then NetworkError; nothing was sent."""
    base = f"http://127.0.0.1:{_refused_port()}"
    with pytest.raises(NetworkError) as caught:
        create(harness, base_url=base)
    assert not caught.value.task_may_exist
    assert "ConnectError" in str(caught.value)
    assert base in str(caught.value)
    assert "after 4 attempts" in str(caught.value)
    assert len(harness.time.sleeps) == 3
    assert not any(e.possible_double_charge for e in harness.events)


def test_connection_refused_on_a_poll(harness: Harness) -> None:
    """A poll that cannot connect ends in NetworkError after the retries."""
    base = f"http://127.0.0.1:{_refused_port()}"
    with pytest.raises(NetworkError):
        using(harness, lambda c: c.get_task("t"), base_url=base)
    assert [e.operation for e in harness.events] == ["get_task"] * 3


# --------------------------------------------------------------------------------------------
# Polls: 404 and nonsense


def test_poll_404_is_retried_a_few_times(harness: Harness, server: ScriptedServer) -> None:
    """A task not found yet is asked again a few times, then TaskNotFoundError."""
    server.always("/v1/tasks/gone", error(404, {"message": "task not found"}))
    with pytest.raises(TaskNotFoundError) as caught:
        using(harness, lambda c: c.get_task("gone"))
    assert caught.value.status == 404
    assert "task not found" in str(caught.value)
    assert len(server.to("/v1/tasks/gone")) == 3  # not_found_retries = 2


def test_poll_404_then_found(harness: Harness, server: ScriptedServer) -> None:
    """A task that appears after a 404 is read normally."""
    server.script("/v1/tasks/t", error(404), ok({"id": "t", "status": "queued"}))
    assert using(harness, lambda c: c.get_task("t")).status == "running"


@pytest.mark.parametrize(
    "reply",
    [Reply(200, b"not json"), Reply(200, [1, 2]), Reply(200, {"hello": "world"})],
    ids=["text", "list", "no-id-no-status"],
)
def test_poll_nonsense_is_a_protocol_error(
    harness: Harness, server: ScriptedServer, reply: Reply
) -> None:
    """A poll answer that is not a task is retried a few times, then ApiProtocolError."""
    server.always("/v1/tasks/t", reply)
    with pytest.raises(ApiProtocolError):
        using(harness, lambda c: c.get_task("t"))
    assert len(server.to("/v1/tasks/t")) == 3


@pytest.mark.sockets
def test_poll_reset_is_retried(harness: Harness, server: ScriptedServer) -> None:
    """A reset during a poll is resent once at once by the pool (RFC 9112 allows it for a GET),
    and a second reset is retried by the policy, with its wait."""
    server.script("/v1/tasks/t", reset(), reset(), ok({"id": "t", "status": "running"}))
    assert using(harness, lambda c: c.get_task("t")).id == "t"
    assert len(server.to("/v1/tasks/t")) == 3
    assert len(harness.events) == 1


@pytest.mark.sockets
def test_create_reset_is_not_resent_by_the_pool(harness: Harness, server: ScriptedServer) -> None:
    """A reset during a create goes to the policy at once (a POST is never resent silently), and
    its retry counts as a possible double charge."""
    server.script(CREATE_PATH, reset(), ok({"id": "t", "status": "pending"}))
    outcome = create(harness)
    assert outcome.task.id == "t"
    assert outcome.ambiguous_attempts == 1
    assert len(server.to(CREATE_PATH)) == 2
    assert len(harness.events) == 1


# --------------------------------------------------------------------------------------------
# The key stays secret


def test_key_never_in_messages(harness: Harness, server: ScriptedServer) -> None:
    """An API that echoes the key in its error message does not get it into the exception."""
    server.script(CREATE_PATH, error(401, {"message": f"key {API_KEY} is not valid"}))
    with pytest.raises(AuthenticationError) as caught:
        create(harness)
    text = str(caught.value) + repr(caught.value) + caught.value.api_message
    assert API_KEY not in text
    assert "<redacted>" in text


def test_key_not_in_network_error(harness: Harness) -> None:
    """A network failure's message and its cause do not carry the key."""
    base = f"http://127.0.0.1:{_refused_port()}"
    with pytest.raises(NetworkError) as caught:
        create(harness, base_url=base)
    assert API_KEY not in str(caught.value)
    assert API_KEY not in repr(caught.value)
    assert API_KEY not in str(caught.value.__cause__)
    assert all(API_KEY not in repr(e) for e in harness.events)


def test_client_repr_hides_key(harness: Harness) -> None:
    """repr() and str() of the client show the base URL, never the key."""

    async def body(client: SeedanceClient) -> str:
        return repr(client) + str(client) + repr(vars(client))

    text = using(harness, body)
    assert API_KEY not in text
    assert harness.server.url in text


def test_json_of_recorded_body_is_compact(harness: Harness, server: ScriptedServer) -> None:
    """The body is compact JSON (no spaces) so that every attempt sends the same bytes."""
    server.script(CREATE_PATH, ok())
    create(harness)
    body = server.to(CREATE_PATH)[0].body.decode()
    assert body == json.dumps(BODY, ensure_ascii=False, separators=(",", ":"))


def test_bad_idempotency_key_is_refused(harness: Harness) -> None:
    """An Idempotency-Key that cannot be a header value is a programming error."""
    with pytest.raises(ValueError):
        create(harness, key="has space")
    with pytest.raises(ValueError):
        create(harness, key="")


def test_inf_rate_means_no_waits(harness: Harness, server: ScriptedServer) -> None:
    """With no rate limit and no failures, nothing sleeps."""
    server.always("/v1/tasks/t", ok({"id": "t"}))

    async def body(client: SeedanceClient) -> None:
        for _ in range(5):
            await client.get_task("t")

    using(harness, body, requests_per_second=math.inf)
    assert harness.time.sleeps == []


def test_client_can_be_closed_without_use(harness: Harness) -> None:
    """A client closed without any request closes cleanly."""

    async def main() -> None:
        client = harness.client()
        await client.aclose()

    run(main())


@pytest.mark.sockets
def test_loopback_bypasses_environment_proxies(
    harness: Harness, server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With HTTP(S)_PROXY set, the key still goes straight to a loopback API, not to the proxy."""
    dead_proxy = f"http://127.0.0.2:{_refused_port()}"
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
        monkeypatch.setenv(name, dead_proxy)
    server.script(CREATE_PATH, ok())
    assert create(harness).task.id == "task-1"
    assert harness.events == []


@pytest.mark.sockets
def test_many_tasks_share_a_small_pool(harness: Harness, server: ScriptedServer) -> None:
    """Twelve concurrent polls through a pool of two connections all succeed, on two sockets."""
    server.always("/v1/tasks/t", Reply(200, {"id": "t", "status": "queued"}, delay=0.02))

    async def body(client: SeedanceClient) -> None:
        tasks = await asyncio.gather(*(client.get_task("t") for _ in range(12)))
        assert {t.id for t in tasks} == {"t"}

    using(harness, body, max_connections=2)
    assert len(server.requests) == 12
    assert len({r.peer for r in server.requests}) <= 2
