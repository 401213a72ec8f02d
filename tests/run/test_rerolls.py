"""Rerolls against the simulator: a new take for each job whose images are all rejected."""

from __future__ import annotations

import json
import shlex
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from _support.campaign import FAST_EXECUTION, KEY, Campaign, run_cli, start_cli, tree_bytes
from _support.simulator import api_client, create, task_id_of

from seedance_batch import RunOptions, load_manifest, plan, run
from seedance_batch._decisions import Decision, Located, ReviewFile, default_review_path
from seedance_batch._errors import BudgetExceededError
from seedance_batch._events import Notice
from seedance_batch._layout import image_relpath
from seedance_batch._rerolls import reroll_notice
from seedance_batch.lockfile import JobRecord, read_lockfile
from seedance_batch.simulator import Simulator, SimulatorConfig, serve

#: 5 jobs, 7 images, 14 credits: two products of two images each, a job repeated twice.
MANIFEST = (
    """
version: 1
name: rerolls
defaults: {model: gpt-image-2-all}
budget: {max_takes: 3}
output: {dir: outputs/campaign}
"""
    + FAST_EXECUTION
    + """jobs:
  - name: hero
    prompt: "A {product} bottle on a pedestal"
    matrix:
      product: [serum, cream]
    n: 2
  - name: pair
    prompt: "Two bottles side by side"
    repeat: 2
  - name: solo
    prompt: "A jar on linen"
"""
)


@pytest.fixture
def campaign(tmp_path: Path) -> Campaign:
    """The reroll campaign in its own folder, not yet run."""
    made = Campaign(tmp_path, tmp_path / "campaign.yaml")
    made.write(MANIFEST)
    return made


def _run(
    campaign: Campaign,
    sim: Simulator,
    on_event: Callable[[Any], None] | None = None,
    **options: Any,
) -> Any:
    """run() from Python against ``sim`` with ``options``."""
    return run(
        load_manifest(campaign.manifest),
        RunOptions(base_url=sim.base_url, **options),
        api_key=KEY,
        on_event=on_event,
    )


def _records(campaign: Campaign) -> dict[str, JobRecord]:
    snapshot = read_lockfile(campaign.lockfile)
    assert snapshot is not None
    return dict(snapshot.jobs)


def _results(campaign: Campaign) -> list[dict[str, Any]]:
    text = (campaign.out / "results.jsonl").read_text("utf-8")
    return [json.loads(line) for line in text.splitlines()]


def _ids(campaign: Campaign, job: str, **variant: str) -> list[str]:
    """The ids of the planned jobs named ``job`` whose variant holds ``variant``, in plan order."""
    return [
        j.id
        for j in plan(load_manifest(campaign.manifest)).jobs
        if j.job == job and all(j.variant.get(k) == v for k, v in variant.items())
    ]


def _decide(
    campaign: Campaign, decision: Decision, chosen: Callable[[dict[str, Any]], bool]
) -> list[str]:
    """Write ``decision`` in the review file for every image of results.jsonl that ``chosen``
    picks, as the review app does; their hashes."""
    lines = _results(campaign)
    located = {line["sha256"]: Located(line["job_id"], line["path"]) for line in lines}
    review = ReviewFile(default_review_path(campaign.manifest), "rerolls", "Test")
    picked = [line["sha256"] for line in lines if chosen(line)]
    for sha in picked:
        review.decide(located, sha, decision)
    return picked


def _of(job_id: str, take: int | None = None) -> Callable[[dict[str, Any]], bool]:
    return lambda line: line["job_id"] == job_id and take in (None, line["take"])


def _plan_json(campaign: Campaign, *args: str) -> tuple[int, dict[str, Any]]:
    done = run_cli("plan", str(campaign.manifest), "--format", "json", *args)
    assert done.returncode in (0, 3), done.stderr
    return done.returncode, json.loads(done.stdout)


def test_a_rejected_job_gets_a_second_take_beside_the_first(campaign: Campaign) -> None:
    """Both images of hero/serum rejected: --reroll-rejected makes one new task whose images
    land beside the first take's (-t2- in their names), which stay, byte for byte; the
    lockfile keeps take 1 in ``takes``; results.jsonl lists both takes, each line with its take."""
    [serum] = _ids(campaign, "hero", product="serum")
    with serve(SimulatorConfig(seed=41)) as sim:
        assert _run(campaign, sim).succeeded == 5
        rejected = _decide(campaign, "rejected", _of(serum))
        assert len(rejected) == 2
        first = _records(campaign)[serum]
        before = tree_bytes(campaign.out)
        sim.reset_counters()
        summary = _run(campaign, sim, reroll_rejected=True)
        counters = sim.counters
    assert summary.succeeded == 1 and counters.creates == 1 and counters.charges[KEY] == 4
    job = _records(campaign)[serum]
    assert job.take == 2 and len(job.takes) == 1
    assert job.takes[0].images == first.images and job.takes[0].task_id == first.task_id
    assert job.task_id != first.task_id and job.state == "succeeded" and job.attempts == 1
    assert job.credits_charged == 2 * first.credits_charged
    [planned] = [j for j in plan(load_manifest(campaign.manifest)).jobs if j.id == serum]
    assert [i.path for i in job.images] == [
        image_relpath(planned.output, k, "png", take=2) for k in (1, 2)
    ]
    assert all("-t2-" in i.path for i in job.images)
    assert {i.sha256 for i in job.images}.isdisjoint(rejected)
    after = tree_bytes(campaign.out)
    for image in first.images:  # the first take's files are kept as they were
        assert after[image.path] == before[image.path]
    for image in job.images:
        assert (campaign.out / image.path).stat().st_size == image.bytes
    lines = _results(campaign)
    assert list(lines[0]) == [
        "path", "job", "job_id", "variant", "repeat", "take", "index", "prompt", "model",
        "size", "resolution", "task_id", "url", "sha256", "bytes",
    ]  # fmt: skip
    mine = [
        (line["take"], line["index"], line["task_id"]) for line in lines if line["job_id"] == serum
    ]
    assert mine == [
        (1, 1, first.task_id),
        (1, 2, first.task_id),
        (2, 1, job.task_id),
        (2, 2, job.task_id),
    ]
    assert {line["take"] for line in lines if line["job_id"] != serum} == {1}


def test_the_second_takes_key_carries_the_take(campaign: Campaign) -> None:
    """The reroll's create was sent with <nonce>-<id>-t2-1: the same key and body sent again
    is an idempotent replay of take 2's task, while take 1's key still names take 1's task."""
    [solo] = _ids(campaign, "solo")
    with serve(SimulatorConfig(seed=42)) as sim:
        _run(campaign, sim)
        _decide(campaign, "rejected", _of(solo))
        _run(campaign, sim, reroll_rejected=True)
        job = _records(campaign)[solo]
        snapshot = read_lockfile(campaign.lockfile)
        assert snapshot is not None and snapshot.nonce is not None
        body = dict(job.request)
        with api_client(sim, KEY) as client:
            sim.reset_counters()
            again = create(client, body, f"{snapshot.nonce}-{solo}-t2-1").json()
            first = create(client, body, f"{snapshot.nonce}-{solo}-1").json()
            counters = sim.counters
    assert task_id_of(again) == job.task_id
    assert task_id_of(first) == job.takes[0].task_id != job.task_id
    assert counters.idempotent_replays == 2 and counters.creates == 0


def test_undecided_or_approved_images_never_reroll(campaign: Campaign) -> None:
    """One of two images rejected and one undecided: no reroll; a repeat whose image is rejected
    while its variant's other repeat is approved (or favourite): no reroll; nothing is sent."""
    [serum] = _ids(campaign, "hero", product="serum")
    pair = _ids(campaign, "pair")
    with serve(SimulatorConfig(seed=43)) as sim:
        _run(campaign, sim)
        serum_images = [line["sha256"] for line in _results(campaign) if line["job_id"] == serum]
        _decide(campaign, "rejected", lambda line: line["sha256"] == serum_images[0])
        _decide(campaign, "rejected", _of(pair[0]))
        _decide(campaign, "favourite", _of(pair[1]))
        assert _plan_json(campaign)[1]["totals"]["credits_to_reroll"] == 0
        sim.reset_counters()
        events: list[object] = []
        summary = _run(campaign, sim, reroll_rejected=True, on_event=events.append)
        assert sim.counters.requests == 0
    assert summary.succeeded == 0
    assert Notice("info", reroll_notice(0, 0)) in events
    assert all(not r.takes for r in _records(campaign).values())


def test_each_repeat_takes_its_own_take(campaign: Campaign) -> None:
    """Both repeats of pair rejected: each repeat (a job of its own) gets its own second take."""
    pair = _ids(campaign, "pair")
    with serve(SimulatorConfig(seed=44)) as sim:
        _run(campaign, sim)
        _decide(campaign, "rejected", lambda line: line["job_id"] in pair)
        sim.reset_counters()
        _run(campaign, sim, reroll_rejected=True)
        assert sim.counters.creates == 2
    records = _records(campaign)
    assert [records[i].take for i in pair] == [2, 2]


def test_max_takes_is_the_most_takes_a_job_gets(campaign: Campaign) -> None:
    """With budget.max_takes 2, a job rejected again after its second take is not rerolled:
    plan prices nothing and the run sends nothing."""
    campaign.write(MANIFEST.replace("max_takes: 3", "max_takes: 2"))
    [solo] = _ids(campaign, "solo")
    with serve(SimulatorConfig(seed=45)) as sim:
        _run(campaign, sim)
        _decide(campaign, "rejected", _of(solo))
        _run(campaign, sim, reroll_rejected=True)
        _decide(campaign, "rejected", _of(solo, take=2))
        assert _plan_json(campaign, "--reroll-rejected")[1]["totals"]["credits_to_reroll"] == 0
        sim.reset_counters()
        _run(campaign, sim, reroll_rejected=True)
        assert sim.counters.requests == 0
    assert _records(campaign)[solo].take == 2


def test_only_narrows_the_reroll(campaign: Campaign) -> None:
    """Both hero products rejected; --only with one job id rerolls that job alone."""
    serum, cream = _ids(campaign, "hero")
    with serve(SimulatorConfig(seed=46)) as sim:
        _run(campaign, sim)
        _decide(campaign, "rejected", lambda line: line["job"] == "hero")
        sim.reset_counters()
        _run(campaign, sim, reroll_rejected=True, only=(cream[:8],))
        assert sim.counters.creates == 1
    records = _records(campaign)
    assert (records[serum].take, records[cream].take) == (1, 2)


def test_plan_prices_the_reroll_and_the_run_charges_exactly_that(campaign: Campaign) -> None:
    """plan shows credits_to_reroll always and counts it in the budget with --reroll-rejected
    (exit 3 when it would pass max_credits); the run then charges exactly that much, and a
    plain rerun afterwards sends nothing."""
    serum = _ids(campaign, "hero")[0]
    [solo] = _ids(campaign, "solo")
    with serve(SimulatorConfig(seed=47)) as sim:
        _run(campaign, sim)
        _decide(campaign, "rejected", lambda line: line["job_id"] in (serum, solo))
        code, plain = _plan_json(campaign)
        assert code == 0 and plain["totals"]["credits_to_reroll"] == 4 + 2
        assert plain["budget"]["to_spend"] == 0
        code, priced = _plan_json(campaign, "--reroll-rejected")
        assert code == 0 and priced["budget"]["to_spend"] == 6
        code, over = _plan_json(campaign, "--reroll-rejected", "--max-credits", "19")
        assert code == 3 and over["budget"]["within"] is False
        text = run_cli("plan", str(campaign.manifest), "--reroll-rejected")
        assert "new takes of rejected images (--reroll-rejected): 6 credits" in text.stdout
        markdown = run_cli("plan", str(campaign.manifest), "--format", "markdown").stdout
        assert "| to reroll |" in markdown and "| 6 |" in markdown
        assert "all images rejected (`--reroll-rejected`) | 2 | 6 |" in markdown
        sim.reset_counters()
        summary = _run(campaign, sim, reroll_rejected=True)
        assert sim.counters.charges[KEY] == 6 == summary.credits_charged
        assert summary.credits_spent_total == 14 + 6
        sim.reset_counters()
        again = _run(campaign, sim)
        assert sim.counters.requests == 0 and again.credits_charged == 0
    assert _plan_json(campaign, "--reroll-rejected")[1]["totals"]["credits_to_reroll"] == 0


def test_a_reroll_past_the_budget_is_refused_before_anything_moves(campaign: Campaign) -> None:
    """A reroll that would take the campaign past max_credits: BudgetExceededError (exit 3 on
    the command line), no create, and the lockfile still holds each job's first take only."""
    [solo] = _ids(campaign, "solo")
    with serve(SimulatorConfig(seed=48)) as sim:
        _run(campaign, sim)
        _decide(campaign, "rejected", _of(solo))
        before = campaign.lockfile.read_bytes()
        sim.reset_counters()
        with pytest.raises(BudgetExceededError):
            _run(campaign, sim, reroll_rejected=True, max_credits=15)
        done = run_cli(
            "run", str(campaign.manifest), "--base-url", sim.base_url, "--reroll-rejected",
            "--max-credits", "15",
        )  # fmt: skip
        assert sim.counters.requests == 0
    assert done.returncode == 3, done.stderr
    assert campaign.lockfile.read_bytes() == before
    assert _records(campaign)[solo].take == 1


def test_kill_9_during_the_rerolls_create_resumes_with_the_same_key(campaign: Campaign) -> None:
    """Killed (-9) while take 2's create is answered slowly: the job is left submitting in
    take 2 with take 1 kept; a plain rerun sends the same key (a replay, no second task),
    reports the possible double charge and finishes take 2."""
    [solo] = _ids(campaign, "solo")
    with serve(SimulatorConfig(seed=49)) as sim:
        _run(campaign, sim)
        _decide(campaign, "rejected", _of(solo))
        first = _records(campaign)[solo]
    with serve(SimulatorConfig(seed=49, create_delay=3.0)) as sim:
        process = start_cli(
            "run", str(campaign.manifest), "--base-url", sim.base_url, "--reroll-rejected"
        )
        deadline = time.monotonic() + 30
        while sim.counters.creates < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=30)
        assert process.returncode == -signal.SIGKILL
        left = _records(campaign)[solo]
        assert (left.state, left.take, left.attempts) == ("submitting", 2, 1)
        assert left.takes[0].images == first.images
        done = run_cli("run", str(campaign.manifest), "--base-url", sim.base_url)
        counters = sim.counters
    assert done.returncode == 0, done.stderr
    assert "possible double charges: 1" in done.stderr
    assert counters.creates == 1 and counters.idempotent_replays == 1
    job = _records(campaign)[solo]
    assert (job.state, job.take, job.possible_double_charges) == ("succeeded", 2, 1)
    assert job.task_id == counters.task_ids[0] and job.takes[0].task_id == first.task_id
    assert all((campaign.out / i.path).is_file() for _, i in job.all_images())


def _rerolled_solo(campaign: Campaign, sim: Simulator) -> JobRecord:
    """The campaign run, solo's image rejected and rerolled: solo's record with two takes."""
    [solo] = _ids(campaign, "solo")
    _run(campaign, sim)
    _decide(campaign, "rejected", _of(solo))
    _run(campaign, sim, reroll_rejected=True)
    record = _records(campaign)[solo]
    assert record.take == 2
    return record


def test_a_renamed_job_moves_the_files_of_every_take(campaign: Campaign) -> None:
    """solo renamed single (its id unchanged): a plain run moves both takes' files to the new
    folder and records their new paths, with no request and no byte changed."""
    with serve(SimulatorConfig(seed=50)) as sim:
        before = _rerolled_solo(campaign, sim)
        campaign.write(MANIFEST.replace("name: solo", "name: single"))
        sim.reset_counters()
        _run(campaign, sim)
        assert sim.counters.requests == 0
    after = _records(campaign)[before.id]
    moved = [i.path for _, i in after.all_images()]
    assert [take for take, _ in after.all_images()] == [1, 2]
    assert all(path.startswith("single/") for path in moved)
    assert moved[1].endswith("-t2-1.png") and not moved[0].endswith("-t2-1.png")
    old = [image for _, image in before.all_images()]
    for image, path in zip(old, moved, strict=True):
        assert not (campaign.out / image.path).exists()
        assert (campaign.out / path).stat().st_size == image.bytes


def test_prune_of_an_orphaned_rerolled_job_removes_every_take(campaign: Campaign) -> None:
    """solo's prompt edited (an orphan): prune removes its entry and both takes' files, and
    leaves every planned job's files."""
    with serve(SimulatorConfig(seed=51)) as sim:
        record = _rerolled_solo(campaign, sim)
    campaign.write(MANIFEST.replace("A jar on linen", "A jar on slate"))
    files = [campaign.out / image.path for _, image in record.all_images()]
    assert all(f.is_file() for f in files)
    kept = [
        campaign.out / i.path
        for r in _records(campaign).values()
        if r.id != record.id
        for _, i in r.all_images()
    ]
    done = run_cli("prune", str(campaign.manifest))
    assert done.returncode == 0, done.stderr
    assert not any(f.exists() for f in files)
    assert all(f.is_file() for f in kept)
    assert record.id not in _records(campaign)


def test_an_interrupted_reroll_is_resumed_by_the_advised_command(campaign: Campaign) -> None:
    """Ctrl-C while the new takes are in flight: the advised resume command carries
    --reroll-rejected, and running it finishes each take 2 without starting a third."""
    [serum] = _ids(campaign, "hero", product="serum")
    [solo] = _ids(campaign, "solo")
    with serve(SimulatorConfig(seed=52)) as sim:
        _run(campaign, sim)
        _decide(campaign, "rejected", lambda line: line["job_id"] in (serum, solo))
    with serve(SimulatorConfig(seed=52, latency=1.5)) as sim:
        process = start_cli(
            "run", str(campaign.manifest), "--base-url", sim.base_url, "--reroll-rejected"
        )
        deadline = time.monotonic() + 30
        while sim.counters.creates < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
        assert process.returncode == 130, stderr
        [line] = [line for line in stderr.splitlines() if "Resume with:" in line]
        command = shlex.split(line.split("Resume with:", 1)[1])
        assert "--reroll-rejected" in command
        resumed = run_cli(*command[1:])
        creates = sim.counters.creates
    assert resumed.returncode == 0, resumed.stderr
    records = _records(campaign)
    assert (records[serum].take, records[solo].take) == (2, 2)
    assert {records[serum].state, records[solo].state} == {"succeeded"}
    assert creates == 2
