"""No false alarms, final failures stay final, keys from the lockfile, honest credit counts."""

from __future__ import annotations

import json
import re
import signal
import time

from _support.campaign import KEY, Campaign, run_cli, start_cli
from _support.fakeapi import fake_api

from seedance_batch import RunOptions, load_manifest, run
from seedance_batch.cli._errors import run_exit_code
from seedance_batch.client import RetryPolicy
from seedance_batch.lockfile import read_lockfile
from seedance_batch.simulator import Simulator, SimulatorConfig, Variants, serve
from seedance_batch.simulator._tasks import POLICY_MESSAGES

FAST_RETRIES = RetryPolicy(base=0.01, cap=0.05, max_retries=3)


def _states(campaign: Campaign) -> dict[str, str]:
    snapshot = read_lockfile(campaign.lockfile)
    assert snapshot is not None
    return {job_id: record.state for job_id, record in snapshot.jobs.items()}


def _resume_finds_no_double_charge(campaign: Campaign, sim: Simulator) -> None:
    """A plain rerun against ``sim`` finishes the campaign and reports no possible double
    charge (nothing the interrupted run left could have been charged twice)."""
    again = run_cli("run", str(campaign.manifest), "--base-url", sim.base_url)
    assert again.returncode == 0, again.stderr
    assert "possible double charges: 0" in again.stderr
    assert "possible double charge)" not in again.stderr


def _interrupt_after_creates(campaign: Campaign, sim: Simulator, creates: int) -> None:
    """Run the campaign's CLI until the API has made ``creates`` tasks, then Ctrl-C it."""
    process = start_cli("run", str(campaign.manifest), "--base-url", sim.base_url)
    deadline = time.monotonic() + 30
    while sim.counters.creates < creates and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr


def test_policy_rejections_are_final_and_resubmissions_say_attempt_and_cost(
    campaign: Campaign,
) -> None:
    """Every task fails: a content-policy failure is never submitted again, any other is,
    each resubmission saying its attempt and cost; the summary splits the credits."""
    with serve(SimulatorConfig(seed=50, fail_rate=1.0, variants=Variants(policy_rate=0.3))) as sim:
        done = run_cli(
            "run", str(campaign.manifest), "--base-url", sim.base_url, "--format", "json"
        )
        creates = sim.counters.creates
        rerun = run_cli("run", str(campaign.manifest), "--base-url", sim.base_url)
        assert sim.counters.creates == creates  # a plain rerun leaves failed jobs alone
    assert done.returncode == 1, done.stderr
    assert rerun.returncode == 1, rerun.stderr
    snapshot = read_lockfile(campaign.lockfile)
    assert snapshot is not None
    policy = [r for r in snapshot.jobs.values() if r.error in POLICY_MESSAGES]
    others = [r for r in snapshot.jobs.values() if r.error not in POLICY_MESSAGES]
    assert policy and others
    assert {r.attempts for r in others} == {3}  # resubmitted up to max_attempts
    for message in POLICY_MESSAGES:  # a policy failure is final
        assert f"{message}); submitting again" not in done.stderr
    assert any(r.attempts < 3 for r in policy)
    assert re.search(r"hero [0-9a-f]{16}: task failed \(.+\); submitting again: attempt 2 of 3, "
                     r"2 credits", done.stderr)  # fmt: skip
    summary = json.loads(done.stdout)
    assert summary["credits"]["first_attempts"] == 32
    assert summary["credits"]["resubmissions"] == summary["credits"]["charged"] - 32 > 0
    assert summary["this_run"]["failed"] == 12
    assert len(summary["failures"]) == 12


def test_creates_waiting_on_the_rate_limiter_at_ctrl_c_are_new_and_no_alarm(
    campaign: Campaign,
) -> None:
    """Ctrl-C while creates wait on the rate limiter: those jobs are new again (the one that
    had left is waited for), and the resume reports no possible double charge."""
    campaign.write(
        campaign.manifest.read_text().replace("requests_per_second: 200", "requests_per_second: 1")
    )
    with serve(SimulatorConfig(seed=51, latency=0.2)) as sim:
        _interrupt_after_creates(campaign, sim, 1)
        states = list(_states(campaign).values())
        assert "submitting" not in states
        assert states.count("new") >= 8
        campaign.write(
            campaign.manifest.read_text().replace(
                "requests_per_second: 1", "requests_per_second: 200"
            )
        )
        _resume_finds_no_double_charge(campaign, sim)


def test_ctrl_c_waits_for_the_answers_of_creates_that_had_left(campaign: Campaign) -> None:
    """Ctrl-C while creates are in flight (the API answers them 1.5 s late): their answers are
    waited for, so those jobs are submitted with their task ids, none is left `submitting`,
    and the resume polls them: no possible double charge, one task a job."""
    with serve(SimulatorConfig(seed=52, latency=0.2, create_delay=1.5)) as sim:
        _interrupt_after_creates(campaign, sim, 4)
        made = set(sim.counters.task_ids)
        snapshot = read_lockfile(campaign.lockfile)
        assert snapshot is not None
        states = [r.state for r in snapshot.jobs.values()]
        assert "submitting" not in states
        assert made == {r.task_id for r in snapshot.jobs.values() if r.task_id}
        again = run_cli("run", str(campaign.manifest), "--base-url", sim.base_url)
        counters = sim.counters
    assert again.returncode == 0, again.stderr
    assert "possible double charges: 0" in again.stderr
    assert len(counters.task_ids) == len(snapshot.jobs)  # one task a job


def test_a_create_refused_with_429_after_ctrl_c_is_new_and_not_retried(
    campaign: Campaign,
) -> None:
    """Ctrl-C while creates are in flight that the API then refuses with 429: none is retried
    (the run was interrupted), their jobs are new again, and the resume reports no possible
    double charge (a 429 made no task)."""

    def refuse_late(_key: str) -> tuple[int, dict[str, object]]:
        time.sleep(1.0)
        return 429, {"error": {"message": "too many requests"}}

    with fake_api(refuse_late) as api:
        process = start_cli("run", str(campaign.manifest), "--base-url", api.base_url)
        deadline = time.monotonic() + 30
        while len(api.creates) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
        sent = len(api.creates)
        time.sleep(1.5)  # a retry would leave after its backoff
        assert len(api.creates) == sent  # nothing retried after the interrupt
    assert process.returncode == 130, stderr
    assert set(_states(campaign).values()) == {"new"}
    with serve(SimulatorConfig(seed=53)) as sim:
        _resume_finds_no_double_charge(campaign, sim)


def test_a_create_that_never_connected_is_new_and_no_double_charge(campaign: Campaign) -> None:
    """Against a port nobody listens on, every create fails to connect: the jobs are new
    again, no possible double charge, the run stops naming the host once."""
    with fake_api(lambda _key: (500, {})) as api:
        base_url = api.base_url  # a free port, closed once the block ends
    summary = run(
        load_manifest(campaign.manifest),
        RunOptions(base_url=base_url, retry=FAST_RETRIES),
        api_key=KEY,
    )
    assert set(_states(campaign).values()) == {"new"}
    assert summary.possible_double_charges == 0
    assert run_exit_code(summary) == 1
    assert summary.unreachable is not None and "127.0.0.1" in summary.unreachable
    assert summary.messages == ()  # said once, in ``unreachable``, not per job


def test_every_create_carries_the_lockfile_key(campaign: Campaign) -> None:
    """Each create sends ``<lockfile nonce>-<job id>-<attempt>`` as its Idempotency-Key."""
    task = {"id": "t1", "status": "pending"}
    with fake_api(lambda _key: (200, task), lambda _id: (200, task)) as api:
        run(
            load_manifest(campaign.manifest),
            RunOptions(base_url=api.base_url, only=("pair",), task_timeout=0.2, retry=FAST_RETRIES),
            api_key=KEY,
        )
    snapshot = read_lockfile(campaign.lockfile)
    assert snapshot is not None
    (pair,) = [job_id for job_id, r in snapshot.jobs.items() if r.job == "pair"]
    nonce = json.loads(campaign.lockfile.read_text())["nonce"]
    assert api.creates == [f"{nonce}-{pair}-1"]
    assert re.fullmatch(r"[0-9a-f]{16}", nonce)


def test_ctrl_c_while_creates_fail_to_connect_leaves_no_false_alarm(campaign: Campaign) -> None:
    """Ctrl-C while every create is still failing to connect: the jobs are new again, and the
    resume against a live API reports no possible double charge."""
    with fake_api(lambda _key: (500, {})) as api:
        closed = api.base_url  # a free port, closed once the block ends
    process = start_cli("run", str(campaign.manifest), "--base-url", closed)
    time.sleep(2.0)  # past start-up: the first creates are retrying their connections
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    assert set(_states(campaign).values()) == {"new"}
    with serve(SimulatorConfig(seed=52)) as sim:
        _resume_finds_no_double_charge(campaign, sim)
