"""Shards on a CI matrix: `run --shard K/N` processes at once on one simulator, then `merge`."""

from __future__ import annotations

import json
import shlex
import signal
import time
from pathlib import Path

import pytest
from _support.campaign import KEY, Campaign, run_cli, start_cli
from _support.checks import assert_charged_honestly, assert_complete

from seedance_batch import load_manifest, plan
from seedance_batch._shards import shard_of
from seedance_batch.lockfile import HEADER_SIZE, Lockfile, journal_path, read_lockfile
from seedance_batch.simulator import SimulatorConfig, serve

#: 48 jobs, 96 credits: enough that four shards overlap in time and each has a dozen jobs.
GRID = """
version: 1
name: campaign
budget: {max_credits: 400}
execution: {concurrency: 4, requests_per_second: 500, poll_interval: 0.05, poll_max: 0.1}
jobs:
  - name: grid
    prompt: "A {a} {b} study"
    matrix:
      a: [red, green, blue, white, black, gold]
      b: [cube, sphere, cone, torus, prism, ring, disc, star]
"""


def _shard_lockfile(campaign: Campaign, k: int, n: int) -> Path:
    return campaign.folder / f"campaign.shard-{k}-of-{n}.lock.json"


def _wait_for(condition: object, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.01)
    assert condition(), "the moment never came"  # type: ignore[operator]


def _spent(path: Path) -> int:
    snapshot = read_lockfile(path)
    assert snapshot is not None
    return snapshot.spent.credits


def _resume_command(stderr: str) -> list[str]:
    line = next(line for line in stderr.splitlines() if "Resume with: " in line)
    return shlex.split(line.partition("Resume with: ")[2])


def test_four_shards_at_once_merge_into_a_campaign_that_a_plain_run_finds_done(
    campaign: Campaign,
) -> None:
    """Four `run --shard K/4` processes at once cover the plan without overlap; merged, spent
    adds up, a second merge is a no-op, and a plain run sends nothing."""
    campaign.write(GRID)
    manifest = str(campaign.manifest)
    with serve(SimulatorConfig(seed=41, latency=(0.05, 0.2))) as sim:
        processes = [
            start_cli("run", manifest, "--shard", f"{k}/4", "--base-url", sim.base_url)
            for k in range(1, 5)
        ]
        for process in processes:
            _, stderr = process.communicate(timeout=120)
            assert process.returncode == 0, stderr
        shards = [_shard_lockfile(campaign, k, 4) for k in range(1, 5)]
        ids = [set(read_lockfile(path).jobs) for path in shards]  # type: ignore[union-attr]
        assert sum(len(s) for s in ids) == 48 and len(set().union(*ids)) == 48
        assert not campaign.lockfile.exists() and not (campaign.out / "results.jsonl").exists()
        merged = run_cli("merge", manifest, *map(str, shards))
        assert merged.returncode == 0, merged.stderr
        first = campaign.lockfile.read_bytes()
        again = run_cli("merge", manifest, *map(str, shards))
        assert again.returncode == 0, again.stderr
        before = sim.counters
        rerun = run_cli("run", manifest, "--base-url", sim.base_url)
        after = sim.counters
    assert "spent: 96 credits (96 added by this merge)" in merged.stdout
    assert sum(_spent(path) for path in shards) == _spent(campaign.lockfile) == 96
    assert "(0 added by this merge)" in again.stdout and "0 records taken" in again.stderr
    assert campaign.lockfile.read_bytes() == first  # merging twice changes nothing
    assert rerun.returncode == 0, rerun.stderr
    assert (
        (after.requests, after.creates)
        == (before.requests, before.creates)
        == (
            before.requests,
            48,
        )
    )
    assert "nothing to do" in rerun.stderr
    assert_complete(campaign.manifest, campaign.out)
    assert_charged_honestly(campaign.manifest, after, KEY)


def test_a_shard_killed_mid_run_resumes_with_its_printed_command_then_merges(
    campaign: Campaign,
) -> None:
    """A shard killed with SIGKILL mid-run keeps its lockfile; interrupted again, it prints a
    resume command naming --shard, which finishes it; the merge is then complete."""
    campaign.write(GRID)
    manifest = str(campaign.manifest)
    with serve(SimulatorConfig(seed=42, latency=(0.5, 1.0))) as sim:
        others = [
            start_cli("run", manifest, "--shard", f"{k}/4", "--base-url", sim.base_url)
            for k in (1, 2, 4)
        ]
        shard = ("run", manifest, "--shard", "3/4", "--base-url", sim.base_url, "--no-progress")
        victim = start_cli(*shard)
        _wait_for(lambda: sim.counters.creates >= 8)
        victim.send_signal(signal.SIGKILL)
        victim.communicate(timeout=30)
        assert victim.returncode == -signal.SIGKILL
        killed = read_lockfile(_shard_lockfile(campaign, 3, 4))
        assert killed is not None and {r.state for r in killed.jobs.values()} != {"succeeded"}
        for process in others:
            process.communicate(timeout=120)
            assert process.returncode == 0
        seen = sim.counters.requests  # from here on, the shard's own requests alone
        stopped = start_cli(*shard)
        _wait_for(lambda: sim.counters.requests >= seen + 2)
        stopped.send_signal(signal.SIGTERM)
        _, stderr = stopped.communicate(timeout=60)
        assert stopped.returncode == 130, stderr
        command = _resume_command(stderr)
        assert command[command.index("--shard") + 1] == "3/4"
        resumed = run_cli(*command[1:])
        assert resumed.returncode == 0, resumed.stderr
        shards = [str(_shard_lockfile(campaign, k, 4)) for k in range(1, 5)]
        merged = run_cli("merge", manifest, *shards)
        rerun = run_cli("run", manifest, "--base-url", sim.base_url)
        counters = sim.counters
    assert merged.returncode == 0, merged.stderr
    assert rerun.returncode == 0 and "nothing to do" in rerun.stderr
    assert_complete(campaign.manifest, campaign.out)
    assert_charged_honestly(campaign.manifest, counters, KEY)


def test_a_job_two_lockfiles_submitted_is_reported_and_both_tasks_are_kept(
    campaign: Campaign,
) -> None:
    """Shard 1/2 and an --only run (its own lockfile) both make a task for one job: the merge
    reports it, keeps the other task id in other_tasks, and counts both charges."""
    campaign.write(GRID)
    manifest = str(campaign.manifest)
    jobs = plan(load_manifest(campaign.manifest)).jobs
    overlapping = next(job for job in jobs if shard_of(job.id, 2) == 1)
    canary = campaign.folder / "canary.lock.json"
    with serve(SimulatorConfig(seed=43, latency=(0.05, 0.1))) as sim:
        shard = run_cli("run", manifest, "--shard", "1/2", "--base-url", sim.base_url)
        only = ("--only", overlapping.id, "--lockfile", str(canary))
        single = run_cli("run", manifest, *only, "--base-url", sim.base_url)
    assert shard.returncode == 0 and single.returncode == 0, shard.stderr + single.stderr
    shard_path = _shard_lockfile(campaign, 1, 2)
    merged = run_cli("merge", manifest, str(shard_path), str(canary))
    assert merged.returncode == 0, merged.stderr
    assert "jobs submitted twice: 1" in merged.stdout
    assert f"job grid {overlapping.id} was submitted by more than one lockfile" in merged.stderr
    record = read_lockfile(campaign.lockfile).jobs[overlapping.id]  # type: ignore[union-attr]
    tasks = {
        read_lockfile(path).jobs[overlapping.id].task_id  # type: ignore[union-attr]
        for path in (shard_path, canary)
    }
    assert len(tasks) == 2 and {record.task_id, *record.other_tasks} == tasks
    assert record.credits_charged == 2 * overlapping.credits
    assert _spent(campaign.lockfile) == _spent(shard_path) + _spent(canary)
    doc = json.loads(campaign.lockfile.read_text())
    assert doc["jobs"][overlapping.id]["other_tasks"] == list(record.other_tasks)
    again = run_cli("merge", manifest, str(canary), str(shard_path))
    assert "jobs submitted twice: 0" in again.stdout  # known task ids are not reported again


def test_a_shard_elsewhere_brings_its_images_checked_into_out(
    campaign: Campaign, tmp_path: Path
) -> None:
    """A shard run in another folder (a CI artifact): merge copies its images into <out> by
    their recorded hash; one altered on the way is reported, not copied."""
    campaign.write(GRID)
    elsewhere = tmp_path / "artifact"
    elsewhere.mkdir()
    (elsewhere / "campaign.yaml").write_text(campaign.manifest.read_text())
    with serve(SimulatorConfig(seed=44, latency=(0.05, 0.1))) as sim:
        shard = run_cli(
            "run", str(elsewhere / "campaign.yaml"), "--shard", "2/3", "--base-url", sim.base_url
        )
    assert shard.returncode == 0, shard.stderr
    shard_path = elsewhere / "campaign.shard-2-of-3.lock.json"
    records = [r for r in read_lockfile(shard_path).jobs.values()]  # type: ignore[union-attr]
    altered = elsewhere / "outputs" / "campaign" / records[0].images[0].path
    altered.write_bytes(altered.read_bytes() + b"!")
    merged = run_cli("merge", str(campaign.manifest), str(shard_path))
    assert merged.returncode == 0, merged.stderr
    assert f"{len(records) - 1} images copied" in merged.stderr
    assert "image not found or not as recorded: " + records[0].images[0].path in merged.stderr
    for record in records[1:]:
        image = record.images[0]
        assert (campaign.out / image.path).read_bytes() == (
            elsewhere / "outputs" / "campaign" / image.path
        ).read_bytes()
    assert not (campaign.out / records[0].images[0].path).exists()
    lines = (campaign.out / "results.jsonl").read_text().splitlines()
    assert len(lines) == len(records) - 1


def test_merge_refuses_another_campaign_and_a_held_lockfile(campaign: Campaign) -> None:
    """A lockfile of another campaign is refused (exit 2, one line); a merge while a run holds
    the campaign's lockfile, or a shard's, exits 4."""
    campaign.write(GRID)
    foreign = campaign.folder / "other.lock.json"
    with Lockfile.open(foreign, manifest_name="other", manifest_sha256="0" * 64):
        pass
    refused = run_cli("merge", str(campaign.manifest), str(foreign))
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1
    assert "'other'" in refused.stderr and not campaign.lockfile.exists()
    shard = campaign.folder / "campaign.shard-1-of-2.lock.json"
    with Lockfile.open(shard, manifest_name="campaign", manifest_sha256="0" * 64):
        pass
    with Lockfile.open(campaign.lockfile, manifest_name="campaign", manifest_sha256="0" * 64):
        held = run_cli("merge", str(campaign.manifest), str(shard))
    assert held.returncode == 4, held.stderr
    assert "another run holds this lockfile" in held.stderr
    with Lockfile.open(shard, manifest_name="campaign", manifest_sha256="0" * 64):
        running = run_cli("merge", str(campaign.manifest), str(shard))
    assert running.returncode == 4 and str(shard) in running.stderr


def test_bad_shards_are_one_line_and_exit_2(campaign: Campaign) -> None:
    """`--shard` 0/4, 5/4, 1/0 and x are refused by run, plan and status in one line, exit 2."""
    for command in ("run", "plan", "status"):
        for bad in ("0/4", "5/4", "1/0", "x", "1/"):
            done = run_cli(command, str(campaign.manifest), f"--shard={bad}")
            assert done.returncode == 2, (command, bad)
            assert done.stderr.count("\n") == 1 and "--shard" in done.stderr, done.stderr


def test_plan_prices_a_shard_against_its_budget_share(campaign: Campaign) -> None:
    """`plan --shard K/N` lists the shard's jobs and checks them against max_credits // N,
    unless --max-credits is given; over its share it exits 3 (a CI cost gate)."""
    campaign.write(GRID.replace("max_credits: 400", "max_credits: 90"))
    jobs = plan(load_manifest(campaign.manifest)).jobs
    mine = [job for job in jobs if shard_of(job.id, 4) == 2]
    priced = run_cli("plan", str(campaign.manifest), "--shard", "2/4", "--format", "json")
    doc = json.loads(priced.stdout)
    assert [job["id"] for job in doc["jobs"]] == [job.id for job in mine]
    assert doc["budget"]["max_credits"] == 90 // 4
    assert priced.returncode == (0 if 2 * len(mine) <= 22 else 3)
    tight = run_cli("plan", str(campaign.manifest), "--shard", "2/4", "--max-credits", "1")
    assert tight.returncode == 3
    wide = run_cli("plan", str(campaign.manifest), "--shard", "2/4", "--max-credits", "400")
    assert wide.returncode == 0


def test_status_of_a_shard_reports_its_jobs_from_its_lockfile(campaign: Campaign) -> None:
    """`status --shard K/N` reads the shard's lockfile and reports the shard's jobs alone (all
    succeeded after its run, nothing still to spend), and a shard not run yet as all new."""
    campaign.write(GRID)
    jobs = plan(load_manifest(campaign.manifest)).jobs
    mine = [job.id for job in jobs if shard_of(job.id, 2) == 1]
    with serve(SimulatorConfig(seed=61)) as sim:
        ran = run_cli("run", str(campaign.manifest), "--base-url", sim.base_url, "--shard", "1/2")
    assert ran.returncode == 0, ran.stderr
    done = run_cli("status", str(campaign.manifest), "--shard", "1/2", "--format", "json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert [job["id"] for job in doc["jobs"]] == mine
    assert doc["totals"]["by_state"] == {"succeeded": len(mine)}
    text = run_cli("status", str(campaign.manifest), "--shard", "1/2")
    assert f"{len(mine)} of {len(mine)} jobs succeeded" in text.stdout
    assert "campaign.shard-1-of-2.lock.json" in text.stdout
    assert "still to spend: 0" in text.stdout
    other = json.loads(
        run_cli("status", str(campaign.manifest), "--shard", "2/2", "--format", "json").stdout
    )
    assert other["totals"]["by_state"] == {"new": len(jobs) - len(mine)}


def test_new_shards_start_from_the_campaigns_lockfile_and_submit_nothing_done(
    campaign: Campaign,
) -> None:
    """With a campaign lockfile and no shard lockfiles (a CI checkout of the merged lockfile),
    shards leave the campaign's succeeded jobs out and create tasks only for the rest, as
    `plan --shard` priced them beforehand."""
    campaign.write(GRID)
    manifest = str(campaign.manifest)
    with serve(SimulatorConfig(seed=45, latency=(0.05, 0.1))) as sim:
        canary = run_cli("run", manifest, "--limit", "10", "--base-url", sim.base_url)
        assert canary.returncode == 0, canary.stderr
        done = {
            i for i, r in read_lockfile(campaign.lockfile).jobs.items() if r.state == "succeeded"
        }  # type: ignore[union-attr]
        assert len(done) == 10
        for k in (1, 2):
            seen = sim.counters.creates
            priced = run_cli("plan", manifest, "--shard", f"{k}/2", "--format", "json")
            totals = json.loads(priced.stdout)["totals"]
            shard = run_cli("run", manifest, "--shard", f"{k}/2", "--base-url", sim.base_url)
            assert shard.returncode == 0, shard.stderr
            held = set(read_lockfile(_shard_lockfile(campaign, k, 2)).jobs)  # type: ignore[union-attr]
            assert held and not held & done
            assert sim.counters.creates - seen == len(held)
            assert totals["jobs"] == len(held) and totals["credits_to_spend"] == 2 * len(held)
        shards = [str(_shard_lockfile(campaign, k, 2)) for k in (1, 2)]
        merged = run_cli("merge", manifest, *shards)
        rerun = run_cli("run", manifest, "--base-url", sim.base_url)
        counters = sim.counters
    assert merged.returncode == 0, merged.stderr
    assert counters.creates == 48 and "nothing to do" in rerun.stderr
    assert _spent(campaign.lockfile) == 96
    assert_complete(campaign.manifest, campaign.out)


@pytest.mark.parametrize("resume", ["campaign", "shard"])
def test_a_killed_shards_journal_is_folded_by_the_merge_and_no_task_id_is_lost(
    campaign: Campaign, resume: str
) -> None:
    """A shard killed with SIGKILL and merged at once (its changes still in its journal): every
    task the API made is in the campaign's lockfile, but for creates whose answer the kill cut
    off (left `submitting`, with the shard's nonce); the campaign's run, or the shard's run
    again on a fresh CI job (its lockfile made from the merged one), sends those again under
    the key they were sent with, so the API answers with the same task: every task it made
    ends in the lockfile, and none is made twice (creates are answered 0.4 s late: the kill
    cuts some off)."""
    campaign.write(GRID)
    manifest = str(campaign.manifest)
    with serve(SimulatorConfig(seed=46, latency=(1.0, 2.0), create_delay=0.4)) as sim:
        victim = start_cli("run", manifest, "--shard", "1/2", "--base-url", sim.base_url)
        _wait_for(lambda: sim.counters.creates >= 6)
        victim.send_signal(signal.SIGKILL)
        victim.communicate(timeout=30)
        made = set(sim.counters.task_ids)
        shard = _shard_lockfile(campaign, 1, 2)
        shard_nonce = read_lockfile(shard).nonce  # type: ignore[union-attr]
        assert journal_path(shard).stat().st_size > HEADER_SIZE  # unfolded changes
        merged = run_cli("merge", manifest, str(shard))
        assert merged.returncode == 0, merged.stderr
        snapshot = read_lockfile(campaign.lockfile)
        assert snapshot is not None and snapshot.nonce != shard_nonce
        recorded = {r.task_id for r in snapshot.jobs.values()}
        cut_off = [r for r in snapshot.jobs.values() if r.state == "submitting" and not r.task_id]
        assert 1 <= len(made - recorded) <= len(cut_off), (made - recorded, cut_off)
        assert all(r.nonce == shard_nonce for r in cut_off)
        assert all(r.nonce is None for r in snapshot.jobs.values() if r.state != "submitting")
        if resume == "campaign":
            rerun = run_cli("run", manifest, "--base-url", sim.base_url)
        else:  # a fresh CI job: the merged lockfile checked out, the shard's gone
            shard.unlink()
            journal_path(shard).unlink(missing_ok=True)
            rerun = run_cli("run", manifest, "--shard", "1/2", "--base-url", sim.base_url)
            assert run_cli("merge", manifest, str(shard)).returncode == 0
        counters = sim.counters
    assert rerun.returncode == 0, rerun.stderr
    final = read_lockfile(campaign.lockfile)
    assert final is not None
    ran = [r for r in final.jobs.values() if resume == "campaign" or shard_of(r.id, 2) == 1]
    assert made <= {r.task_id for r in ran}  # found again, not made again
    assert len(counters.task_ids) == len(ran)  # one task a job, none twice
    if resume == "campaign":
        assert_complete(campaign.manifest, campaign.out)
        assert_charged_honestly(campaign.manifest, counters, KEY)


def test_shards_run_after_a_killed_campaign_run_send_its_cut_off_creates_under_its_keys(
    campaign: Campaign,
) -> None:
    """The campaign's own run killed with creates cut off, then the campaign run as two shards
    (each shard's lockfile made from the campaign's): the cut-off creates go out again under
    the campaign's keys, so the API answers with the tasks it made; none is made twice."""
    campaign.write(GRID)
    manifest = str(campaign.manifest)
    with serve(SimulatorConfig(seed=47, latency=(1.0, 2.0), create_delay=0.4)) as sim:
        victim = start_cli("run", manifest, "--base-url", sim.base_url)
        _wait_for(lambda: sim.counters.creates >= 6)
        victim.send_signal(signal.SIGKILL)
        victim.communicate(timeout=30)
        made = set(sim.counters.task_ids)
        snapshot = read_lockfile(campaign.lockfile)
        assert snapshot is not None
        assert made - {r.task_id for r in snapshot.jobs.values()}  # some creates were cut off
        shards = [_shard_lockfile(campaign, k, 2) for k in (1, 2)]
        for k in (1, 2):
            ran = run_cli("run", manifest, "--shard", f"{k}/2", "--base-url", sim.base_url)
            assert ran.returncode == 0, ran.stderr
        merged = run_cli("merge", manifest, *map(str, shards))
        counters = sim.counters
    assert merged.returncode == 0, merged.stderr
    final = read_lockfile(campaign.lockfile)
    assert final is not None
    assert made <= {r.task_id for r in final.jobs.values()}
    assert len(counters.task_ids) == len(final.jobs)  # one task a job, none twice
    assert_complete(campaign.manifest, campaign.out)
