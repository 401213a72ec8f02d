"""Signals: SIGHUP and SIGQUIT stop a run like SIGTERM; two quick Ctrl-C exit 130."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest
from _support.campaign import KEY, ROOT, Campaign, cli_env, run_cli, start_cli
from _support.checks import assert_charged_honestly, assert_complete

from seedance_batch.lockfile import read_lockfile
from seedance_batch.simulator import SimulatorConfig, serve


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGQUIT])
def test_sighup_and_sigquit_save_print_the_resume_line_and_exit_130(
    campaign: Campaign, signum: signal.Signals
) -> None:
    """SIGHUP or SIGQUIT mid-run: the lockfile is saved, the resume command printed, exit
    130; the resume completes without loss."""
    with serve(SimulatorConfig(seed=100, latency=1.0)) as sim:
        process = start_cli("run", str(campaign.manifest), "--base-url", sim.base_url)
        deadline = time.monotonic() + 30
        while sim.counters.creates < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=30)
        assert process.returncode == 130, stderr
        assert "Resume with: seedance-batch run" in stderr
        snapshot = read_lockfile(campaign.lockfile)
        assert snapshot is not None
        assert "submitted" in {r.state for r in snapshot.jobs.values()}
        again = run_cli("run", str(campaign.manifest), "--base-url", sim.base_url)
        counters = sim.counters
    assert again.returncode == 0, again.stderr
    assert_complete(campaign.manifest, campaign.out)
    assert_charged_honestly(campaign.manifest, counters, KEY)


@pytest.mark.parametrize("gap", [0.0, 0.05, 0.3])
def test_two_quick_ctrl_c_exit_130_without_a_traceback(campaign: Campaign, gap: float) -> None:
    """Two Ctrl-C a moment apart while creates and polls are in flight: exit 130, no
    traceback, and the lockfile reads."""
    with serve(SimulatorConfig(seed=101, latency=2.0)) as sim:
        process = start_cli("run", str(campaign.manifest), "--base-url", sim.base_url)
        deadline = time.monotonic() + 30
        while sim.counters.creates < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        process.send_signal(signal.SIGINT)
        time.sleep(gap)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert read_lockfile(campaign.lockfile) is not None


#: A program that calls run() with handle_signals, as a user's script would.
_SCRIPT = """
import signal, sys, time
from seedance_batch import Notice, RunOptions, load_manifest, run
options = RunOptions(base_url=sys.argv[2], handle_signals=True)
before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}

def slow_to_stop(event):  # the run stops for half a second: a second signal finds it stopping
    if isinstance(event, Notice) and event.message.startswith("interrupted"):
        time.sleep(0.5)

print("started", flush=True)
try:
    summary = run(load_manifest(sys.argv[1]), options, api_key=sys.argv[3], on_event=slow_to_stop)
    print("returned", summary.stopped, flush=True)
except KeyboardInterrupt:
    print("KeyboardInterrupt", flush=True)
after = {s: signal.getsignal(s) for s in before}
print("handlers restored" if after == before else f"handlers changed: {after}", flush=True)
"""


@pytest.mark.parametrize("signals", [1, 2])
def test_a_program_calling_run_is_never_exited_by_a_second_signal(
    campaign: Campaign, signals: int
) -> None:
    """run() with handle_signals in a user's program: one Ctrl-C returns a summary saying
    "interrupted", a second raises KeyboardInterrupt (no os._exit); either way the program goes
    on with its own signal handlers back and a lockfile that reads."""
    with serve(SimulatorConfig(seed=102, latency=2.0)) as sim:
        process = subprocess.Popen(
            [sys.executable, "-c", _SCRIPT, str(campaign.manifest), sim.base_url, KEY],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=cli_env(None),
            stdin=subprocess.DEVNULL,
            cwd=ROOT,
        )
        deadline = time.monotonic() + 30
        while sim.counters.creates < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        for _ in range(signals):
            process.send_signal(signal.SIGINT)
            time.sleep(0.1)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    ended = "returned interrupted" if signals == 1 else "KeyboardInterrupt"
    assert out.splitlines() == ["started", ended, "handlers restored"], err
    assert read_lockfile(campaign.lockfile) is not None


BIG = """
version: 1
name: big
defaults: {model: gpt-image-2-all, size: "1:1"}
execution: {poll_interval: 0.05, poll_max: 0.2}
jobs:
  - name: grid
    prompt: "A {a} {b} {c}"
    matrix:
      a: [AXIS_A]
      b: [AXIS_B]
      c: [AXIS_C]
"""


@pytest.mark.parametrize("moment", [0.0, 0.15, 0.3])
def test_ctrl_c_while_the_run_plans_stops_before_any_create(
    campaign: Campaign, moment: float
) -> None:
    """Ctrl-C after the run has locked the lockfile but before its workers start (a big plan
    expanding): exit 130 with the resume line, and no create was sent."""
    values = ", ".join(f"v{i}" for i in range(40))
    campaign.write(
        BIG.replace("AXIS_A", values).replace("AXIS_B", values).replace("AXIS_C", values[:80])
    )
    journal = campaign.lockfile.with_name(campaign.lockfile.name + ".journal")
    with serve(SimulatorConfig(seed=90)) as sim:
        process = start_cli("run", str(campaign.manifest), "--base-url", sim.base_url)
        deadline = time.monotonic() + 60
        while not journal.exists() and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(moment)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
        creates = sim.counters.create_requests
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert creates == 0 or "Resume with:" in stderr, stderr
