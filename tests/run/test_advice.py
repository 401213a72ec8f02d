"""Advice that works (the resume and retry commands) and the run's guard rails."""

from __future__ import annotations

import shlex
import signal
import time
from pathlib import Path

from _support.campaign import Campaign, run_cli, start_cli

from seedance_batch.lockfile import read_lockfile
from seedance_batch.simulator import SimulatorConfig, serve


def _advised(stderr: str, marker: str) -> list[str]:
    (line,) = [line for line in stderr.splitlines() if marker in line]
    return shlex.split(line.split(marker, 1)[1].strip())


def test_the_resume_command_repeats_the_interrupted_runs_selection(campaign: Campaign) -> None:
    """Ctrl-C on a canary: the printed command repeats --only (each), --limit, --retry-failed,
    --max-credits, --out, --lockfile and --base-url, and resuming with it runs only the canary."""
    out = campaign.folder / "elsewhere"
    lockfile = campaign.folder / "canary.lock.json"
    flags = ["--only", "hero", "--only", "pair", "--limit", "3", "--retry-failed"]
    flags += ["--max-credits", "100", "--out", str(out), "--lockfile", str(lockfile)]
    with serve(SimulatorConfig(seed=70, latency=1.5)) as sim:
        process = start_cli("run", str(campaign.manifest), "--base-url", sim.base_url, *flags)
        deadline = time.monotonic() + 30
        while sim.counters.creates < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
        assert process.returncode == 130, stderr
        command = _advised(stderr, "Resume with:")
        assert command[:3] == ["seedance-batch", "run", str(campaign.manifest)]
        done = _succeeded(lockfile)
        for flag in (flags[i : i + 2] for i in (0, 2, 7, 9, 11)):
            assert " ".join(flag) in shlex.join(command), (flag, command)
        assert ["--limit", str(3 - done)] == command[command.index("--limit") :][:2]
        assert "--retry-failed" in command
        assert ["--base-url", sim.base_url] == command[command.index("--base-url") :][:2]
        resumed = run_cli(*command[1:])
        creates = sim.counters.creates
    assert resumed.returncode == 0, resumed.stderr
    assert creates == 3  # the canary's jobs, each once, never the whole campaign (12)
    assert _succeeded(lockfile) == 3


def test_a_canary_resumed_after_some_jobs_finished_runs_only_what_it_left(
    campaign: Campaign,
) -> None:
    """Ctrl-C once a job of a ``--limit 3`` canary has succeeded: the advice says ``--limit``
    with what is left, so the resumed run finishes the canary and submits no fourth job."""
    with serve(SimulatorConfig(seed=73, latency=0.3)) as sim:
        flags = ["--limit", "3", "--concurrency", "1", "--base-url", sim.base_url]
        process = start_cli("run", str(campaign.manifest), *flags)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not _succeeded_while_running(campaign.lockfile):
            time.sleep(0.01)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
        assert process.returncode == 130, stderr
        done = _succeeded(campaign.lockfile)
        assert 1 <= done < 3, stderr
        command = _advised(stderr, "Resume with:")
        assert ["--limit", str(3 - done)] == command[command.index("--limit") :][:2]
        resumed = run_cli(*command[1:])
        assert resumed.returncode == 0, resumed.stderr
        assert sim.counters.creates == 3
    assert _succeeded(campaign.lockfile) == 3


def _succeeded_while_running(lockfile: Path) -> int:
    """Succeeded jobs the lockfile and its journal hold so far (0 before either exists)."""
    snapshot = read_lockfile(lockfile)
    return 0 if snapshot is None else [r.state for r in snapshot.jobs.values()].count("succeeded")


def _succeeded(lockfile: Path) -> int:
    snapshot = read_lockfile(lockfile)
    assert snapshot is not None
    return [r.state for r in snapshot.jobs.values()].count("succeeded")


def test_failed_jobs_are_pointed_at_retry_failed_with_its_cost(campaign: Campaign) -> None:
    """Every task fails: the summary points at ``--retry-failed`` with what it would cost, not
    at the plain rerun that would do nothing; that command submits them again."""
    text = campaign.manifest.read_text().replace(
        "task_timeout: 20", "task_timeout: 20\n  max_attempts: 1"
    )
    campaign.write(text)
    with serve(SimulatorConfig(seed=71, fail_rate=1.0)) as sim:
        done = run_cli("run", str(campaign.manifest), "--base-url", sim.base_url)
        assert done.returncode == 1, done.stderr
        assert "a rerun resumes" not in done.stderr
        assert "12 failed; to submit them again (up to 32 credits):" in done.stderr
        command = _advised(done.stderr, "(up to 32 credits):")
        assert command[-1] == "--retry-failed"
        creates = sim.counters.creates
        run_cli(*command[1:])
        assert sim.counters.creates == creates + 12


def test_the_output_folder_is_recorded_and_found_without_out(campaign: Campaign) -> None:
    """A run with --out records it in the lockfile; a run without --out finds the images
    there: nothing to do, nothing sent, nothing written to the manifest's folder."""
    out = campaign.folder / "renders"
    with serve(SimulatorConfig(seed=72)) as sim:
        first = run_cli(
            "run", str(campaign.manifest), "--base-url", sim.base_url, "--out", str(out)
        )
        assert first.returncode == 0, first.stderr
        requests = sim.counters.requests
        again = run_cli("run", str(campaign.manifest), "--base-url", sim.base_url)
        assert sim.counters.requests == requests
    assert again.returncode == 0, again.stderr
    assert "nothing to do" in again.stderr
    assert not campaign.out.exists()


def test_adopt_takes_over_a_lockfile_of_another_campaign_name(campaign: Campaign) -> None:
    """A renamed campaign: its lockfile is refused (exit 2) unless ``--adopt``; adopted, the
    run sends nothing for the jobs it already has."""
    with serve(SimulatorConfig(seed=73)) as sim:
        assert run_cli("run", str(campaign.manifest), "--base-url", sim.base_url).returncode == 0
        campaign.write(campaign.manifest.read_text().replace("name: campaign", "name: renamed", 1))
        out = ["--out", str(campaign.out)]
        refused = run_cli("run", str(campaign.manifest), "--base-url", sim.base_url, *out)
        requests = sim.counters.requests
        adopted = run_cli(
            "run", str(campaign.manifest), "--base-url", sim.base_url, *out, "--adopt"
        )
        assert sim.counters.requests == requests
    assert refused.returncode == 2, refused.stderr
    assert adopted.returncode == 0, adopted.stderr


def test_only_matching_nothing_exits_2_before_anything_is_sent(campaign: Campaign) -> None:
    """``--only`` matching no job: exit 2 naming the job names; no request sent."""
    with serve(SimulatorConfig(seed=74)) as sim:
        done = run_cli(
            "run", str(campaign.manifest), "--base-url", sim.base_url, "--only", "nosuchjob"
        )
        assert sim.counters.requests == 0
    assert done.returncode == 2, done.stderr
    assert "hero" in done.stderr and "nosuchjob" in done.stderr


def test_every_execution_setting_has_its_flag_on_run(campaign: Campaign) -> None:
    """--task-timeout, --poll-interval, --poll-max, --requests-per-second and --max-attempts
    override the manifest: a 0.5 s task timeout leaves 3 s tasks submitted (exit 1)."""
    flags = ["--task-timeout", "0.5", "--poll-interval", "0.1", "--poll-max", "0.2"]
    flags += ["--requests-per-second", "50", "--max-attempts", "1", "--concurrency", "4"]
    with serve(SimulatorConfig(seed=71, latency=3.0)) as sim:
        done = run_cli("run", str(campaign.manifest), "--base-url", sim.base_url, *flags)
    assert done.returncode == 1, done.stderr
    assert "timed out" in done.stderr
    snapshot = read_lockfile(campaign.lockfile)
    assert snapshot is not None
    assert {r.state for r in snapshot.jobs.values()} == {"submitted"}


def test_execution_flags_refuse_what_the_manifest_would_refuse(campaign: Campaign) -> None:
    """A flag of 0, nan or inf is bad input: exit 2, one line, nothing sent."""
    for flag, value in (("--poll-interval", "inf"), ("--requests-per-second", "nan")):
        done = run_cli("run", str(campaign.manifest), flag, value)
        assert done.returncode == 2, done.stderr
        assert "finite number above 0" in done.stderr and "Traceback" not in done.stderr
    assert run_cli("run", str(campaign.manifest), "--max-attempts", "0").returncode == 2
