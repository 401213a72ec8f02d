"""create_delay and image_stall: deterministic waits to kill a client at a precise moment."""

from __future__ import annotations

import argparse
import socket
import threading
import time
from collections.abc import Callable

import httpx
import pytest
from _support.simulator import CREATE, KEY, TLS, address_of, api_client, create, parse_png, web

from seedance_batch.cli import simulate
from seedance_batch.simulator import Simulator, SimulatorConfig, serve


def _wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the simulator never reached the awaited moment"
        time.sleep(0.005)


def _create_in_background(
    sim: Simulator, idempotency_key: str
) -> tuple[threading.Thread, dict[str, object]]:
    """Send a create on a connection of its own; the result lands in the returned dict."""
    result: dict[str, object] = {}

    def send() -> None:
        started = time.monotonic()
        with api_client(sim) as client:
            result["answer"] = create(client, idempotency_key=idempotency_key)
        result["seconds"] = time.monotonic() - started

    thread = threading.Thread(target=send)
    thread.start()
    return thread, result


def _image_url(sim: Simulator) -> str:
    with api_client(sim) as client:
        task_id = create(client).json()["id"]
    return f"{sim.image_base_url}/images/{task_id}/1.png"


def _parse(*flags: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    simulate.add_parser(parser.add_subparsers())
    return parser.parse_args(["simulate", *flags])


# -- create_delay ---------------------------------------------------------------------------


def test_create_delay_holds_the_answer_while_another_connection_answers_at_once() -> None:
    """A created task's answer waits create_delay; a poll on another connection answers at once."""
    with serve(SimulatorConfig(create_delay=0.6)) as sim:
        thread, result = _create_in_background(sim, "job-1#1")
        _wait_for(lambda: sim.counters.creates == 1)
        task_id = sim.counters.task_ids[0]
        with api_client(sim) as other:
            started = time.monotonic()
            poll = other.get(f"/v1/tasks/{task_id}")
            poll_seconds = time.monotonic() - started
        answered_during_the_delay = "answer" not in result
        thread.join(timeout=10)
    assert poll.status_code == 200 and poll.json()["id"] == task_id
    assert answered_during_the_delay and poll_seconds < 0.5
    answer = result["answer"]
    assert isinstance(answer, httpx.Response) and answer.status_code == 200
    assert answer.json()["id"] == task_id
    assert isinstance(result["seconds"], float) and 0.55 <= result["seconds"] < 2.5


def test_during_create_delay_the_task_exists_and_is_charged() -> None:
    """While the answer waits, the counters already show the task created and charged."""
    with serve(SimulatorConfig(create_delay=0.6)) as sim:
        thread, result = _create_in_background(sim, "job-1#1")
        _wait_for(lambda: sim.counters.creates == 1)
        during = sim.counters
        task = sim.task(during.task_ids[0])
        waiting = "answer" not in result
        thread.join(timeout=10)
    assert waiting
    assert during.create_requests == 1 and during.charges == {KEY: 2}
    assert task is not None and task.key == KEY and task.credits == 2
    assert sim.counters.creates == 1 and sim.counters.charges == {KEY: 2}


def test_a_resend_after_giving_up_on_a_delayed_create_replays_the_task_uncharged() -> None:
    """A client that timed out in the delay resends its Idempotency-Key: same task, one charge."""
    with serve(SimulatorConfig(create_delay=2.0)) as sim:
        impatient = httpx.Client(
            base_url=sim.base_url,
            headers={"Authorization": f"Bearer {KEY}"},
            timeout=httpx.Timeout(5, read=0.2),
            verify=TLS,
        )
        with impatient, pytest.raises(httpx.ReadTimeout):
            create(impatient, idempotency_key="job-1#1")
        given_up = sim.counters
        with api_client(sim) as client:
            started = time.monotonic()
            resent = create(client, idempotency_key="job-1#1")
            resend_seconds = time.monotonic() - started
            follow_up = client.get(f"/v1/tasks/{resent.json()['id']}")
        counters = sim.counters
    assert given_up.creates == 1 and given_up.charges == {KEY: 2}
    assert resent.status_code == 200 and resent.headers["idempotent-replayed"] == "true"
    assert resent.json()["id"] == given_up.task_ids[0]
    assert resend_seconds < 1.0  # a replay is not delayed
    assert follow_up.status_code == 200
    assert counters.creates == 1 and counters.idempotent_replays == 1
    assert counters.charges == {KEY: 2} and counters.create_requests == 2


def test_pipelined_requests_behind_a_delayed_create_are_answered_after_it_in_order() -> None:
    """A request pipelined behind a delayed create waits for it; the answers keep their order."""
    body = b'{"prompt":"a red apple"}'
    create_request = (
        f"POST {CREATE} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    missing = f"GET /v1/tasks/nope HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n"
    missing_request = (missing + "Connection: close\r\n\r\n").encode()
    with (
        serve(SimulatorConfig(create_delay=0.4)) as sim,
        socket.create_connection(address_of(sim.base_url), timeout=5) as sock,
    ):
        started = time.monotonic()
        sock.sendall(create_request + missing_request)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        seconds = time.monotonic() - started
    assert 0.35 <= seconds < 2.0
    first = received.index(b"HTTP/1.1 200 ")
    second = received.index(b"HTTP/1.1 404 ")
    assert first == 0 and second > first
    assert sim.counters.statuses == {200: 1, 404: 1}


def test_a_client_that_shuts_down_its_sending_side_still_gets_the_delayed_answer() -> None:
    """Half-closing after the request (EOF) does not lose the delayed answer."""
    body = b'{"prompt":"a red apple"}'
    request = (
        f"POST {CREATE} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    with (
        serve(SimulatorConfig(create_delay=0.2)) as sim,
        socket.create_connection(address_of(sim.base_url), timeout=5) as sock,
    ):
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    assert received.startswith(b"HTTP/1.1 200 ")
    assert sim.counters.task_ids[0].encode() in received


def test_a_refused_create_is_not_delayed() -> None:
    """Only a create that made a task waits: a refused create answers at once."""
    with serve(SimulatorConfig(create_delay=2.0)) as sim, api_client(sim, key=None) as client:
        started = time.monotonic()
        answer = create(client)
        seconds = time.monotonic() - started
    assert answer.status_code == 401 and seconds < 1.0


# -- image_stall ----------------------------------------------------------------------------


def test_image_stall_sends_half_the_body_then_waits_and_a_patient_client_gets_the_png() -> None:
    """A short read timeout gets the first half then times out; a patient client gets it all."""
    with serve(SimulatorConfig(image_stall=1.0)) as sim:
        url = _image_url(sim)
        received = b""
        impatient = httpx.Client(timeout=httpx.Timeout(5, read=0.15), verify=TLS)
        with impatient, impatient.stream("GET", url) as response:
            length = int(response.headers["content-length"])
            # Counted once the first half is handed to the socket: a client may see it first.
            _wait_for(lambda: sim.counters.image_stalls_started == 1)
            with pytest.raises(httpx.ReadTimeout):
                for chunk in response.iter_raw():
                    received += chunk
            with api_client(sim) as other:  # the stall holds only its own connection
                started = time.monotonic()
                assert other.get(f"/v1/tasks/{url.split('/')[-2]}").status_code == 200
                poll_seconds = time.monotonic() - started
        started = time.monotonic()
        patient = web.get(url)
        patient_seconds = time.monotonic() - started
        counters = sim.counters
    assert poll_seconds < 0.5
    assert patient.status_code == 200 and len(patient.content) == length
    assert received == patient.content[: length // 2]
    assert 0.95 <= patient_seconds < 3.0
    png = parse_png(patient.content)
    assert (png.width, png.height) == (32, 32)
    assert counters.image_stalls_started == 2


def test_a_test_can_wait_for_image_stalls_started_then_kill_the_download() -> None:
    """image_stalls_started rises as the stall begins; dropping the client then harms nothing."""
    with serve(SimulatorConfig(image_stall=5.0)) as sim:
        url = _image_url(sim)
        path = url[len(sim.image_base_url) :]
        with socket.create_connection(address_of(sim.image_base_url), timeout=5) as sock:
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            _wait_for(lambda: sim.counters.image_stalls_started == 1)
            partial = sock.recv(65536)
        # Dropped mid-body: the server goes on serving (HEAD does not stall).
        started = time.monotonic()
        head = web.head(url)
        seconds = time.monotonic() - started
    assert partial.startswith(b"HTTP/1.1 200 ")
    assert head.status_code == 200 and seconds < 1.0
    assert sim.counters.image_stalls_started == 1


def test_a_truncated_image_does_not_stall() -> None:
    """A body cut short by truncate_rate closes at once instead of stalling."""
    with serve(SimulatorConfig(image_stall=5.0, truncate_rate=1.0)) as sim:
        url = _image_url(sim)
        started = time.monotonic()
        with pytest.raises(httpx.RemoteProtocolError):
            web.get(url)
        seconds = time.monotonic() - started
    assert seconds < 1.0
    assert sim.counters.image_stalls_started == 0 and sim.counters.truncations == 1


# -- configuration and flags ----------------------------------------------------------------


def test_the_flags_set_create_delay_and_image_stall() -> None:
    """--create-delay and --image-stall reach SimulatorConfig; both default to 0."""
    config = simulate.config_from_args(_parse("--create-delay", "1.5", "--image-stall", "0.25"))
    assert (config.create_delay, config.image_stall) == (1.5, 0.25)
    defaults = simulate.config_from_args(_parse())
    assert (defaults.create_delay, defaults.image_stall) == (0.0, 0.0)


@pytest.mark.parametrize("flag", ["--create-delay", "--image-stall"])
@pytest.mark.parametrize("value", ["-1", "-0.5", "soon", "nan", "inf"])
def test_the_flags_refuse_negative_or_malformed_seconds(
    flag: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Negative, infinite or malformed seconds exit 2."""
    with pytest.raises(SystemExit) as exited:
        _parse(f"{flag}={value}")
    assert exited.value.code == 2
    assert flag in capsys.readouterr().err


@pytest.mark.parametrize("field", ["create_delay", "image_stall"])
@pytest.mark.parametrize("value", [-0.1, float("nan"), float("inf")])
def test_out_of_range_waits_are_refused(field: str, value: float) -> None:
    """A negative or non-finite create_delay or image_stall is a ValueError."""
    with pytest.raises(ValueError, match=field):
        SimulatorConfig(**{field: value})  # type: ignore[arg-type]
