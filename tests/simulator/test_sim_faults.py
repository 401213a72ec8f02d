"""Every fault on demand, each with a seed, asserting what a client observes."""

from __future__ import annotations

import contextlib
import email.utils
import socket
import time
from datetime import datetime, timezone

import httpx
import pytest
from _support.simulator import KEY, address_of, api_client, create, web

from seedance_batch.simulator import SimulatorConfig, Variants, serve


def _outcome(call: object) -> str:
    """The status of an answer, or "reset" when the connection was dropped."""
    assert callable(call)
    try:
        answer = call()
    except httpx.TransportError:
        return "reset"
    assert isinstance(answer, httpx.Response)
    return str(answer.status_code)


def test_fail_rate_fails_a_reproducible_share_of_tasks() -> None:
    """fail_rate fails tasks chosen by the seed: the same jobs fail on every run."""
    runs = []
    for _ in range(2):
        with serve(SimulatorConfig(seed=5, fail_rate=0.5)) as sim, api_client(sim) as client:
            finals = {}
            for job in range(20):
                task_id = create(client, idempotency_key=f"job-{job}").json()["id"]
                finals[job] = client.get(f"/v1/tasks/{task_id}").json()
            runs.append(finals)
    failed = {job for job, task in runs[0].items() if task["status"] == "failed"}
    assert 4 <= len(failed) <= 16
    assert failed == {job for job, task in runs[1].items() if task["status"] == "failed"}
    for job in failed:
        task = runs[0][job]
        assert task["data"][0]["imageUrls"] == []
        assert task["error"]["message"]
        assert task["error"]["type"] == "generation_failed"


def test_images_of_a_failed_task_answer_404() -> None:
    """A failed task has no images to serve."""
    with serve(SimulatorConfig(fail_rate=1.0)) as sim, api_client(sim) as client:
        task_id = create(client).json()["id"]
        assert web.get(f"{sim.image_base_url}/images/{task_id}/1.png").status_code == 404


def test_error_rate_answers_5xx_before_anything_is_created() -> None:
    """error_rate answers 500, 502 or 503 on creates, uncharged, in a seed-fixed sequence."""
    sequences = []
    for _ in range(2):
        with serve(SimulatorConfig(seed=11, error_rate=0.5)) as sim, api_client(sim) as client:
            statuses = [create(client, idempotency_key=f"job-{i}").status_code for i in range(40)]
            sequences.append(statuses)
            counters = sim.counters
        assert set(statuses) == {200, 500, 502, 503}
        ok = statuses.count(200)
        assert counters.creates == ok and counters.charges == {KEY: 2 * ok}
        assert counters.create_requests == 40
    assert sequences[0] == sequences[1]


def test_error_rate_also_hits_polls_and_images_and_a_retry_gets_a_new_draw() -> None:
    """Polls and image downloads meet 5xx too; retrying the same request draws again."""
    with serve(SimulatorConfig(seed=2, error_rate=0.5)) as sim, api_client(sim) as client:
        answer = create(client, idempotency_key="k")
        while answer.status_code != 200:
            answer = create(client, idempotency_key="k")
        task_id = answer.json()["id"]
        polls = [client.get(f"/v1/tasks/{task_id}").status_code for _ in range(20)]
        url = f"{sim.image_base_url}/images/{task_id}/1.png"
        images = [web.get(url).status_code for _ in range(20)]
    assert {200, 500, 502, 503} >= set(polls) > {200}
    assert {200, 500, 502, 503} >= set(images) > {200}
    assert sim.counters.creates == 1


def test_error_answers_carry_an_error_message() -> None:
    """A simulated 5xx answers a JSON error body with a message."""
    with serve(SimulatorConfig(error_rate=1.0)) as sim, api_client(sim) as client:
        answer = create(client)
    assert answer.status_code in (500, 502, 503)
    assert "simulated" in answer.json()["error"]["message"]


def test_rate_limit_answers_429_with_retry_after_seconds() -> None:
    """Past rate_limit requests in one second the API answers 429, Retry-After: 1, no charge;
    a second after the first, the window has room again."""
    with serve(SimulatorConfig(rate_limit=5)) as sim, api_client(sim) as client:
        first = time.monotonic()
        answers = [create(client) for _ in range(15)]
        time.sleep(max(0.0, first + 1.05 - time.monotonic()))
        later = create(client)
    statuses = [answer.status_code for answer in answers]
    assert statuses[:5] == [200] * 5
    assert statuses[5:].count(429) >= 8
    limited = next(answer for answer in answers if answer.status_code == 429)
    assert limited.headers["retry-after"] == "1"
    assert "rate limit" in limited.json()["error"]["message"]
    assert later.status_code == 200
    assert sim.counters.creates == statuses.count(200) + 1


def test_rate_limit_is_per_key_in_a_sliding_window() -> None:
    """Each key has its own window of rate_limit requests; refused requests do not fill it,
    and it slides: half a second after a full window there is still no room."""
    with (
        serve(SimulatorConfig(rate_limit=3)) as sim,
        api_client(sim, "sk-one") as one,
        api_client(sim, "sk-two") as two,
    ):
        started = time.monotonic()
        ones = [create(one).status_code for _ in range(6)]
        twos = [create(two).status_code for _ in range(4)]
        time.sleep(max(0.0, started + 0.5 - time.monotonic()))
        still = create(one).status_code
    assert ones == [200, 200, 200, 429, 429, 429]
    assert twos == [200, 200, 200, 429]
    assert still == 429


def test_rate_limit_covers_polls_but_not_the_image_host() -> None:
    """Polls count against the rate limit; image downloads do not."""
    with serve(SimulatorConfig(rate_limit=2)) as sim, api_client(sim) as client:
        task_id = create(client).json()["id"]
        polls = [client.get(f"/v1/tasks/{task_id}").status_code for _ in range(5)]
        images = [web.get(f"{sim.image_base_url}/images/{task_id}/1.png") for _ in range(5)]
    assert 429 in polls
    assert [image.status_code for image in images] == [200] * 5


def test_rate_limit_retry_after_can_be_an_http_date() -> None:
    """With the http-date variant, Retry-After is an HTTP date in the near future."""
    config = SimulatorConfig(rate_limit=1, variants=Variants(retry_after="http-date"))
    with serve(config) as sim, api_client(sim) as client:
        create(client)
        limited = create(client)
    assert limited.status_code == 429
    when = email.utils.parsedate_to_datetime(limited.headers["retry-after"])
    seconds = (when - datetime.now(timezone.utc)).total_seconds()
    assert 0 < seconds <= 3


def test_reset_before_create_drops_the_request_unanswered_and_uncharged() -> None:
    """A reset drawn "before" drops the connection with no answer and creates nothing."""
    config = SimulatorConfig(reset_rate=1.0, reset_after_create=0.0)
    with serve(config) as sim, api_client(sim) as client, pytest.raises(httpx.TransportError):
        create(client, idempotency_key="k")
    assert sim.counters.resets == 1 and sim.counters.creates == 0
    assert sim.counters.statuses == {}


def test_reset_after_create_drops_the_answer_of_a_charged_task() -> None:
    """A reset drawn "after" drops the answer although the task was created and charged."""
    config = SimulatorConfig(reset_rate=1.0, reset_after_create=1.0)
    with serve(config) as sim, api_client(sim) as client, pytest.raises(httpx.TransportError):
        create(client, idempotency_key="k")
    counters = sim.counters
    assert counters.resets == 1 and counters.resets_after_create == 1
    assert counters.creates == 1 and counters.charges == {KEY: 2}


def test_retrying_a_reset_create_with_its_idempotency_key_charges_once() -> None:
    """Retries of a create with the same Idempotency-Key, through resets, make one task."""
    with serve(SimulatorConfig(seed=28, reset_rate=0.6)) as sim, api_client(sim) as client:
        outcomes = []
        for _ in range(50):
            try:
                answer = create(client, idempotency_key="job-1#1")
            except httpx.TransportError:
                outcomes.append("reset")
                continue
            outcomes.append("ok")
            break
    # Seed 28 draws: reset before, reset before, reset after creating, then an answer.
    assert outcomes == ["reset", "reset", "reset", "ok"]
    counters = sim.counters
    assert counters.resets == 3 and counters.resets_after_create == 1
    assert counters.idempotent_replays == 1
    assert counters.creates == 1 and counters.charges == {KEY: 2}
    assert answer.json()["id"] == counters.task_ids[0]


def test_resets_also_drop_polls_and_image_downloads() -> None:
    """reset_rate drops polls and image requests as well, reproducibly with the seed."""
    results = []
    for _ in range(2):
        with serve(SimulatorConfig(seed=8, reset_rate=0.4)) as sim, api_client(sim) as client:
            answer = None
            while answer is None:
                with contextlib.suppress(httpx.TransportError):
                    answer = create(client, idempotency_key="k")
            task_id = answer.json()["id"]
            url = f"{sim.image_base_url}/images/{task_id}/1.png"
            poll_path = f"/v1/tasks/{task_id}"
            polls = [_outcome(lambda p=poll_path: client.get(p)) for _ in range(12)]
            images = [_outcome(lambda u=url: web.get(u)) for _ in range(12)]
            results.append((polls, images))
    polls, images = results[0]
    assert set(polls) == {"200", "reset"} and set(images) == {"200", "reset"}
    assert results[0] == results[1]


def test_truncate_rate_cuts_an_image_body_short_of_its_content_length() -> None:
    """A truncated image announces its full Content-Length, sends less, then closes."""
    with serve(SimulatorConfig(truncate_rate=1.0)) as sim, api_client(sim) as client:
        task_id = create(client).json()["id"]
        with socket.create_connection(address_of(sim.image_base_url), timeout=5) as sock:
            sock.sendall(f"GET /images/{task_id}/1.png HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            received = b""
            while chunk := sock.recv(65536):
                received += chunk
        with pytest.raises(httpx.RemoteProtocolError):
            web.get(f"{sim.image_base_url}/images/{task_id}/1.png")
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.startswith(b"Content-Length")
    )
    assert 0 < len(body) < length
    assert sim.counters.truncations == 2


def test_truncate_rate_is_reproducible_per_image_request() -> None:
    """The same seed truncates the same downloads."""
    runs = []
    for _ in range(2):
        with serve(SimulatorConfig(seed=6, truncate_rate=0.5)) as sim, api_client(sim) as client:
            task_id = create(client, idempotency_key="k").json()["id"]
            url = f"{sim.image_base_url}/images/{task_id}/1.png"
            runs.append([_outcome(lambda u=url: web.get(u)) for _ in range(12)])
    assert set(runs[0]) == {"200", "reset"}  # a cut body surfaces as a protocol error
    assert runs[0] == runs[1]


def test_latency_range_draws_each_tasks_latency_within_it_reproducibly() -> None:
    """A (low, high) latency gives each task its own latency in the range, fixed by the seed."""
    runs = []
    for _ in range(2):
        with serve(SimulatorConfig(seed=9, latency=(0.1, 0.5))) as sim, api_client(sim) as client:
            ids = [create(client, idempotency_key=f"j{i}").json()["id"] for i in range(10)]
            latencies = []
            for task_id in ids:
                task = sim.task(task_id)
                assert task is not None
                latencies.append(task.latency)
            runs.append(latencies)
    assert all(0.1 <= latency <= 0.5 for latency in runs[0])
    assert len(set(runs[0])) == 10
    assert runs[0] == runs[1]


def test_fixed_latency_keeps_a_task_running_until_it_passes() -> None:
    """With a fixed latency, polls before it see the task running, after it finished."""
    with serve(SimulatorConfig(latency=0.3)) as sim, api_client(sim) as client:
        task_id = create(client).json()["id"]
        early = client.get(f"/v1/tasks/{task_id}").json()
        time.sleep(0.35)
        late = client.get(f"/v1/tasks/{task_id}").json()
    assert early["status"] in ("pending", "processing") and early["data"][0]["imageUrls"] == []
    assert late["status"] == "succeeded"


def test_every_fault_together_is_reproducible_with_the_seed() -> None:
    """With every fault on, the same seed and requests meet the same answers, in order."""
    config = SimulatorConfig(
        seed=21, fail_rate=0.3, error_rate=0.2, reset_rate=0.2, truncate_rate=0.3, credits=30
    )
    runs = []
    for _ in range(2):
        with serve(config) as sim, api_client(sim) as client:
            seen = []
            for job in range(15):
                seen.append(_outcome(lambda job=job: create(client, idempotency_key=f"j{job}")))
            for task_id in sim.counters.task_ids:
                seen.append(_outcome(lambda task_id=task_id: client.get(f"/v1/tasks/{task_id}")))
                url = f"{sim.image_base_url}/images/{task_id}/1.png"
                seen.append(_outcome(lambda url=url: web.get(url)))
            runs.append((seen, sim.counters.task_ids, dict(sim.counters.charges)))
    assert runs[0] == runs[1]
    assert {"200", "reset"} < set(runs[0][0])


def test_a_fresh_campaign_meets_the_same_draws_whatever_its_idempotency_keys() -> None:
    """The draws of a create follow its body and which key for that body it is, not the key's
    text (a lockfile's random nonce): two simulators of one seed give creates of the same
    bodies under other keys the same task ids, latencies and failures; a second key for a
    body already created (a new attempt) draws anew."""
    bodies = [{"prompt": f"a red apple, take {k}"} for k in range(12)]
    config = SimulatorConfig(seed=11, fail_rate=0.4, latency=(1.0, 9.0))
    seen = []
    for nonce in ("3f2a9c0d", "b71e44a5"):
        with serve(config) as sim, api_client(sim) as client:
            ids = [
                create(client, body, idempotency_key=f"{nonce}-{k}#1").json()["id"]
                for k, body in enumerate(bodies)
            ]
            again = create(client, bodies[0], idempotency_key=f"{nonce}-0#2").json()["id"]
            tasks = [sim.task(task_id) for task_id in ids]
            assert all(task is not None for task in tasks)
            seen.append([(t.id, t.latency, t.fails) for t in tasks if t is not None])
            assert again not in ids
    assert seen[0] == seen[1]
    assert {fails for _, _, fails in seen[0]} == {True, False}
