"""``seedance-batch review`` as a real process: the URL first, served until SIGTERM (exit 0)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from _support.review import IMAGES, Campaign

pytestmark = pytest.mark.slow


def _start(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SEEDANCE_", "BROWSER"))}
    env = {**base, **(env or {})}
    return subprocess.Popen(
        [sys.executable, "-m", "seedance_batch", "review", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
    )


def test_review_prints_its_url_first_serves_and_stops_on_sigterm(campaign: Campaign) -> None:
    """--port 0 --no-open: the first line of stdout is the URL, flushed; the app answers
    there with the campaign, needing no key; SIGTERM ends it with exit 0."""
    process = _start(str(campaign.manifest), "--port", "0", "--no-open")
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/")
        assert httpx.get(url, timeout=10).status_code == 200
        answer = httpx.get(url + "api/images", timeout=10).json()
        assert answer["total"] == IMAGES and answer["campaign"] == "review-test"
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert "review-test.review.yaml" in stderr


def test_a_broken_review_file_exits_2_before_listening(campaign: Campaign) -> None:
    """A review file with a bad decision: one line naming file:line:col, exit 2, no URL."""
    campaign.review_file.write_text("version: 1\ndecisions:\n  abc: {decision: approved}\n")
    done = subprocess.run(
        [sys.executable, "-m", "seedance_batch", "review", str(campaign.manifest), "--no-open"],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert done.stderr.strip().startswith(f"{campaign.review_file}:3:3:"), done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_a_port_in_use_exits_2(campaign: Campaign) -> None:
    """A port another process holds: one line saying so, exit 2."""
    import socket

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "seedance_batch", "review", str(campaign.manifest),
             "--port", str(port), "--no-open"],
            capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60, check=False,
        )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr


def test_without_no_open_the_browser_is_opened_at_the_url(
    campaign: Campaign, tmp_path: Path
) -> None:
    """Without --no-open, the browser (here $BROWSER, a script that records its argument) is
    opened at the printed URL."""
    opened = tmp_path / "opened.txt"
    script = tmp_path / "browser.sh"
    script.write_text(f'#!/bin/sh\nprintf "%s" "$1" > "{opened}"\n')
    script.chmod(0o755)
    process = _start(str(campaign.manifest), "--port", "0", env={"BROWSER": str(script)})
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        deadline = time.monotonic() + 20
        while not (opened.exists() and opened.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert opened.read_text() == url
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
    assert process.returncode == 0


def test_a_campaign_not_run_yet_is_served_with_a_warning(campaign: Campaign) -> None:
    """No lockfile yet: the app serves an empty campaign and stderr says to run it first."""
    campaign.manifest.with_name("review-test.lock.json").unlink()
    process = _start(str(campaign.manifest), "--port", "0", "--no-open")
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert httpx.get(url + "api/images", timeout=10).json()["total"] == 0
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert "no image yet: run it first" in stderr
