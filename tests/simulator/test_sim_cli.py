"""``seedance-batch simulate``: the base URL first on stdout, the flags, and a clean stop."""

from __future__ import annotations

import argparse
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from _support.simulator import TLS

from seedance_batch.cli import simulate
from seedance_batch.simulator import SimulatorConfig, Variants, parse_latency

REPO = Path(__file__).resolve().parents[2]


@contextmanager
def _simulator_process(*flags: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "seedance_batch", "simulate", "--port", "0", *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        if not url:
            _, stderr = process.communicate(timeout=10)
            pytest.fail(f"the simulator printed no base URL; stderr:\n{stderr}")
        yield process, url
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)


def _parse(*flags: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    simulate.add_parser(parser.add_subparsers())
    return parser.parse_args(["simulate", *flags])


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_the_command_prints_its_base_url_first_serves_and_exits_0_on_a_signal(
    signum: signal.Signals,
) -> None:
    """The first stdout line is the base URL; keys and credits apply; a signal exits 0."""
    with _simulator_process("--latency", "0", "--key", "good", "--credits", "2") as (process, url):
        assert url.startswith("http://127.0.0.1:")
        with httpx.Client(base_url=url, verify=TLS) as client:
            body = {"prompt": "p"}
            bad = client.post(
                "/v1/images/generations", json=body, headers={"Authorization": "Bearer bad"}
            )
            good = {"Authorization": "Bearer good"}
            first = client.post("/v1/images/generations", json=body, headers=good)
            second = client.post("/v1/images/generations", json=body, headers=good)
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=10)
    assert (bad.status_code, first.status_code, second.status_code) == (401, 200, 402)
    assert process.returncode == 0
    assert "stopped after 3 requests, 1 tasks, 2 credits charged" in stderr


@pytest.mark.parametrize(
    "flags",
    [
        ["--fail-rate", "1.5"], ["--error-rate", "x"], ["--latency", "3-1"],
        ["--latency", "soon"], ["--rate-limit", "0"], ["--credits", "-1"],
        ["--status-words", "loud"], ["--image-ttl", "0"],
    ],
)  # fmt: skip
def test_bad_flags_exit_2(flags: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """Out-of-range or malformed flags exit 2 before listening."""
    with pytest.raises(SystemExit) as exited:
        _parse("--port", "0", *flags)
    assert exited.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "simulate: error:" in captured.err


def test_a_port_in_use_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    """Asking for a port already taken exits 2 with a message."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        assert simulate.run(_parse("--port", str(taken.getsockname()[1]))) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "cannot listen" in captured.err


def test_every_flag_reaches_the_configuration() -> None:
    """Each fault and variant flag sets its field of SimulatorConfig."""
    args = _parse(
        "--seed", "7", "--latency", "0.2-1.5", "--fail-rate", "0.1", "--error-rate", "0.2",
        "--rate-limit", "50", "--reset-rate", "0.3", "--reset-after-create", "0.9",
        "--truncate-rate", "0.4", "--credits", "100", "--key", "a", "--key", "b",
        "--image-ttl", "60", "--status-words", "mixed", "--envelope", "data",
        "--id-field", "task_id", "--url-placement", "results", "--short-delivery-rate", "0.5",
        "--retry-after", "http-date", "--image-origin", "same", "--success-flag", "only",
        "--policy-rate", "0.25",
    )  # fmt: skip
    assert simulate.config_from_args(args) == SimulatorConfig(
        seed=7, latency=(0.2, 1.5), fail_rate=0.1, error_rate=0.2, rate_limit=50,
        reset_rate=0.3, reset_after_create=0.9, truncate_rate=0.4, credits=100,
        keys=frozenset({"a", "b"}), image_ttl=60,
        variants=Variants(
            status_words="mixed", envelope="data", id_field="task_id", url_placement="results",
            short_delivery_rate=0.5, retry_after="http-date", image_origin="same",
            success_flag="only", policy_rate=0.25,
        ),
    )  # fmt: skip


def test_defaults_give_a_realistic_latency_and_no_faults() -> None:
    """With no flags: latency 1-3 s, seed 0, no faults, unlimited credits, any key."""
    assert simulate.config_from_args(_parse()) == SimulatorConfig(latency=(1.0, 3.0))


@pytest.mark.parametrize(
    ("text", "expected"), [("0", 0.0), ("0.5", 0.5), ("0.2-1.5", (0.2, 1.5)), ("2-2", (2.0, 2.0))]
)
def test_latency_reads_a_number_or_a_range(text: str, expected: object) -> None:
    """--latency takes seconds or LOW-HIGH."""
    assert parse_latency(text) == expected


@pytest.mark.parametrize("text", ["", "-1", "2-1", "a-b", "1-"])
def test_latency_refuses_what_is_not_seconds_or_a_range(text: str) -> None:
    """Malformed or negative latencies are a ValueError."""
    with pytest.raises(ValueError, match="latency"):
        parse_latency(text)


@pytest.mark.parametrize(
    "fields",
    [
        {"fail_rate": -0.1}, {"error_rate": 1.1}, {"reset_rate": 2}, {"truncate_rate": -1},
        {"reset_after_create": 1.5}, {"latency": -1.0}, {"latency": (2.0, 1.0)},
        {"rate_limit": 0}, {"credits": -5}, {"image_ttl": 0}, {"keys": frozenset({""})},
    ],
)  # fmt: skip
def test_out_of_range_configurations_are_refused(fields: dict[str, object]) -> None:
    """A SimulatorConfig out of range is a ValueError."""
    with pytest.raises(ValueError):
        SimulatorConfig(**fields)  # type: ignore[arg-type]
