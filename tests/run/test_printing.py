"""Printing never changes a run: a callback that raises, a stderr that is gone."""

from __future__ import annotations

import subprocess
import sys

from _support.campaign import KEY, ROOT, Campaign, cli_env

from seedance_batch import RunOptions, load_manifest, run
from seedance_batch._events import Event
from seedance_batch.cli._errors import run_exit_code
from seedance_batch.lockfile import read_lockfile
from seedance_batch.simulator import SimulatorConfig, Variants, serve

#: Every task with n > 1 delivers short: a warning per such job, printed mid-run.
SHORT = Variants(short_delivery_rate=1.0)


def test_an_on_event_that_raises_is_dropped_and_the_run_goes_on(campaign: Campaign) -> None:
    """An event callback raising BrokenPipeError on its third call is never called again,
    and the run completes as if nothing happened."""
    calls: list[Event] = []

    def broken(event: Event) -> None:
        calls.append(event)
        if len(calls) == 3:
            raise BrokenPipeError(32, "Broken pipe")

    with serve(SimulatorConfig(seed=90)) as sim:
        summary = run(
            load_manifest(campaign.manifest),
            RunOptions(base_url=sim.base_url),
            api_key=KEY,
            on_event=broken,
        )
    assert run_exit_code(summary) == 0
    assert summary.succeeded == 12 and summary.images_saved == 14
    assert len(calls) == 3


def _shell(campaign: Campaign, base_url: str, redirect: str) -> subprocess.CompletedProcess[str]:
    command = (
        f"{sys.executable} -m seedance_batch run {campaign.manifest} --base-url {base_url} "
        f"{redirect}; exit ${{PIPESTATUS[0]}}"
    )
    return subprocess.run(
        ["bash", "-c", command],
        capture_output=True,
        text=True,
        env=cli_env(),
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
        cwd=ROOT,
    )


def test_stderr_piped_into_head_changes_neither_the_exit_code_nor_the_states(
    campaign: Campaign,
) -> None:
    """``run ... 2>&1 | head -1``: the pipe closes after the first warning; the run still
    finishes every job, and exits 0."""
    with serve(SimulatorConfig(seed=91, variants=SHORT)) as sim:
        done = _shell(campaign, sim.base_url, "2>&1 | head -1")
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(done.stdout.splitlines()) == 1
    snapshot = read_lockfile(campaign.lockfile)
    assert snapshot is not None
    assert {r.state for r in snapshot.jobs.values()} == {"succeeded"}


def test_a_full_stderr_changes_neither_the_exit_code_nor_the_states(campaign: Campaign) -> None:
    """``run ... 2>/dev/full``: every write to stderr fails; the run finishes, exits 0."""
    with serve(SimulatorConfig(seed=92, variants=SHORT)) as sim:
        done = _shell(campaign, sim.base_url, "2>/dev/full")
    assert done.returncode == 0, done.stdout
    snapshot = read_lockfile(campaign.lockfile)
    assert snapshot is not None
    assert {r.state for r in snapshot.jobs.values()} == {"succeeded"}
