"""A real kill -9 of a real run, at several moments, then a resume that loses nothing."""

from __future__ import annotations

import signal
import time

from _support.campaign import KEY, Campaign, run_cli, start_cli
from _support.checks import assert_charged_honestly, assert_complete, assert_consistent

from seedance_batch.lockfile import journal_path, read_lockfile
from seedance_batch.simulator import SimulatorConfig, serve

#: 48 jobs that keep the lockfile busy: creates, polls and downloads overlap all the time.
BUSY = """
version: 1
name: campaign
execution: {concurrency: 8, requests_per_second: 500, poll_interval: 0.05, poll_max: 0.1}
jobs:
  - name: grid
    prompt: "A {a} {b} study"
    matrix:
      a: [red, green, blue, white, black, gold]
      b: [cube, sphere, cone, torus, prism, ring, disc, star]
"""


def _wait_for(condition: object, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.01)
    assert condition(), "the moment never came"  # type: ignore[operator]


def test_kill_9_at_many_moments_then_resume_completes(campaign: Campaign) -> None:
    """Killed with SIGKILL again and again mid-run, the lockfile stays valid; a resume finishes."""
    campaign.write(BUSY)
    with serve(SimulatorConfig(seed=31, latency=(0.05, 0.3))) as sim:
        progress = [0]
        for extra in (10, 25, 8, 30, 15, 20):  # requests into each run: creates, polls, images
            seen = sim.counters.requests
            process = start_cli("run", str(campaign.manifest), "--base-url", sim.base_url)
            _wait_for(lambda seen=seen, extra=extra: sim.counters.requests >= seen + extra)
            process.send_signal(signal.SIGKILL)
            process.communicate(timeout=30)
            assert process.returncode == -signal.SIGKILL
            progress.append(assert_consistent(campaign.manifest, campaign.out))
            if len(progress) == 3:  # as if the kill had torn the journal's last line
                with journal_path(campaign.lockfile).open("ab") as journal:
                    journal.write(b'{"put":"0123456789abcdef","record":{"job":"gr')
        assert progress == sorted(progress)  # nothing done was lost by a later kill
        assert 0 < progress[-1] < 48  # the kills landed mid-run
        done = run_cli("run", str(campaign.manifest), "--base-url", sim.base_url)
        counters = sim.counters
    assert done.returncode == 0, done.stderr
    assert_complete(campaign.manifest, campaign.out)
    assert_charged_honestly(campaign.manifest, counters, KEY)
    assert journal_path(campaign.lockfile).exists()


def _states(campaign: Campaign) -> dict[str, str]:
    snapshot = read_lockfile(campaign.lockfile)
    assert snapshot is not None
    return {job_id: record.state for job_id, record in snapshot.jobs.items()}


def test_kill_9_between_create_and_answer_resends_with_the_same_key(campaign: Campaign) -> None:
    """Killed while a create's answer is on its way, the job stays submitting; the resume
    resends with the same Idempotency-Key, reports a possible double charge, is charged once."""
    only = ("--only", "pair", "--limit", "1")
    with serve(SimulatorConfig(seed=32, create_delay=3.0)) as sim:
        process = start_cli("run", str(campaign.manifest), "--base-url", sim.base_url, *only)
        _wait_for(lambda: sim.counters.creates >= 1)
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=30)
        assert sorted(_states(campaign).values()).count("submitting") == 1
        done = run_cli("run", str(campaign.manifest), "--base-url", sim.base_url, *only)
        counters = sim.counters
    assert done.returncode == 0, done.stderr
    assert "possible double charges: 1" in done.stderr
    assert counters.creates == 1 and counters.idempotent_replays == 1
    assert counters.charges[KEY] == 4  # the pair job (n=2) once, whatever the resend
    assert set(_states(campaign).values()) == {"new", "succeeded"}
    assert_charged_honestly(campaign.manifest, counters, KEY)


def test_kill_9_mid_download_resumes_without_a_second_task(campaign: Campaign) -> None:
    """Killed halfway through an image body, the resume polls the same task, downloads the
    image whole, creates no second task, and leaves no partial file."""
    with serve(SimulatorConfig(seed=34, image_stall=3.0)) as sim:
        process = start_cli("run", str(campaign.manifest), "--base-url", sim.base_url)
        _wait_for(lambda: sim.counters.image_stalls_started >= 1)
        time.sleep(0.5)  # the first half of the body has arrived; the rest waits 2.5 s more
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=30)
        assert "submitted" in _states(campaign).values()
        done = run_cli("run", str(campaign.manifest), "--base-url", sim.base_url)
        counters = sim.counters
    assert done.returncode == 0, done.stderr
    assert counters.creates == 12  # every job created once: the killed download was resumed
    assert not list(campaign.out.rglob("*.part"))
    assert_complete(campaign.manifest, campaign.out)
    assert_charged_honestly(campaign.manifest, counters, KEY)
