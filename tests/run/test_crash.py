"""A real kill -9 of a real run, at several moments, then a resume that loses nothing."""

from __future__ import annotations

import signal
import time

from checks import assert_charged_honestly, assert_complete, assert_consistent
from runkit import KEY, Campaign, run_cli, start_cli

from seedance_batch._lockfile import journal_path
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
        for delay in (0.4, 0.7, 0.5, 0.9, 0.6, 1.0):
            process = start_cli("run", str(campaign.manifest), "--base-url", sim.base_url)
            time.sleep(delay)
            process.send_signal(signal.SIGKILL)
            process.communicate(timeout=30)
            assert process.returncode == -signal.SIGKILL
            progress.append(assert_consistent(campaign.manifest, campaign.out))
        assert progress == sorted(progress)  # nothing done was lost by a later kill
        assert 0 < progress[-1] < 48  # the kills landed mid-run
        done = run_cli("run", str(campaign.manifest), "--base-url", sim.base_url)
        counters = sim.counters
    assert done.returncode == 0, done.stderr
    assert_complete(campaign.manifest, campaign.out)
    assert_charged_honestly(campaign.manifest, counters, KEY)
    assert journal_path(campaign.lockfile).exists()
