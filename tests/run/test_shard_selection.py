"""A shard's jobs, budget share, lockfile and resume command, and how merge folds two records."""

from __future__ import annotations

from pathlib import Path

import pytest
from _support.campaign import Campaign
from hypothesis import given, settings
from hypothesis import strategies as st

from seedance_batch import load_manifest, plan
from seedance_batch._merge import _keyed
from seedance_batch._run_values import RunSummary
from seedance_batch._shards import parse_shard, shard_of
from seedance_batch.cli import build_parser
from seedance_batch.cli.run import resume_command
from seedance_batch.lockfile import JobRecord, default_lockfile_path, fold_records

IDS = st.text(alphabet="0123456789abcdef", min_size=16, max_size=16)


@settings(max_examples=200, deadline=None)
@given(ids=st.lists(IDS, unique=True, max_size=60), count=st.integers(1, 12))
def test_shards_never_overlap_and_always_cover_the_ids(ids: list[str], count: int) -> None:
    """Every id falls in exactly one shard of N, whatever the ids and N."""
    shards = [{i for i in ids if shard_of(i, count) == k} for k in range(1, count + 1)]
    assert sum(len(s) for s in shards) == len(ids)
    assert set().union(*shards) == set(ids)


def test_a_plans_shards_partition_it_and_compose_with_only_and_limit(campaign: Campaign) -> None:
    """Plan.select(shard=) splits the plan into disjoint shards in plan order; --only and
    --limit then narrow the shard, and an --only pattern whose jobs are all elsewhere is no
    error."""
    planned = plan(load_manifest(campaign.manifest))
    parts = [planned.select(shard=(k, 3)).jobs for k in (1, 2, 3)]
    assert sorted(j.id for part in parts for j in part) == sorted(j.id for j in planned.jobs)
    for part in parts:
        assert list(part) == [j for j in planned.jobs if j in part]
    hero = planned.select(["hero"], 2, shard=(2, 3))
    assert [j.id for j in hero.jobs] == [j.id for j in parts[1] if j.job == "hero"][:2]
    assert len(hero.planned_jobs) == len(planned.jobs)
    lonely = next(j for j in planned.jobs if shard_of(j.id, 3) == 1)
    assert planned.select([lonely.id], shard=(2, 3)).jobs == ()


def test_a_shards_budget_is_the_campaigns_divided_by_n_rounded_down(campaign: Campaign) -> None:
    """Shard K of N checks against max_credits // N (N shares never add up to more than the
    campaign's budget); a limit given (--max-credits) replaces the share, undivided."""
    campaign.write(
        campaign.manifest.read_text().replace("jobs:", "budget: {max_credits: 50}\njobs:")
    )
    planned = plan(load_manifest(campaign.manifest))
    assert planned.select(shard=(1, 3)).budget.max_credits == 16
    assert planned.select(shard=(1, 3)).budget_for(max_credits=40).max_credits == 40
    assert planned.with_budget(40).select(shard=(1, 3)).budget.max_credits == 40
    assert planned.budget.max_credits == 50


@pytest.mark.parametrize(
    ("text", "expected"), [("1/4", (1, 4)), ("4/4", (4, 4)), ("1/1", (1, 1)), (" 2/3", (2, 3))]
)
def test_shards_parse_as_k_of_n(text: str, expected: tuple[int, int]) -> None:
    """ "K/N" with 1 <= K <= N parses to (K, N)."""
    assert parse_shard(text) == expected


@pytest.mark.parametrize("text", ["0/4", "5/4", "1/0", "x", "1", "1/", "/4", "a/b", "-1/4"])
def test_bad_shards_say_what_is_wrong(text: str) -> None:
    """Anything but K/N with 1 <= K <= N is a ValueError that shows the text."""
    with pytest.raises(ValueError, match="K/N"):
        parse_shard(text)


def test_a_shards_lockfile_is_named_after_the_shard() -> None:
    """spring.yaml's shard 2 of 4 keeps spring.shard-2-of-4.lock.json beside it."""
    assert default_lockfile_path(Path("m/spring.yaml"), (2, 4)) == Path(
        "m/spring.shard-2-of-4.lock.json"
    )
    assert default_lockfile_path(Path("m/spring.yaml")) == Path("m/spring.lock.json")


def test_the_resume_command_keeps_the_shard() -> None:
    """An interrupted shard's resume command names --shard K/N with the other flags."""
    argv = ["run", "c.yaml", "--shard", "3/4", "--base-url", "http://127.0.0.1:1"]
    args = build_parser(argv).parse_args(argv)
    summary = RunSummary(
        by_state={"new": 1},
        succeeded=0,
        failed=0,
        timed_out=0,
        unfinished=1,
        credits_charged=0,
        credits_charged_total=0,
        possible_double_charges=0,
        images_asked=0,
        images_delivered=0,
        images_saved=0,
        elapsed=0.0,
        lockfile=Path("c.lock.json"),
        results=Path("r"),
        gallery=Path("g"),
    )
    assert resume_command(args, summary) == (
        "seedance-batch run c.yaml --shard 3/4 --base-url http://127.0.0.1:1"
    )


def _record(state: str, task: str | None, credits: int = 0, **fields: object) -> JobRecord:
    return JobRecord(
        id="0123456789abcdef",
        job="hero",
        variant={},
        repeat=0,
        request={"prompt": "p"},
        state=state,  # type: ignore[arg-type]
        task_id=task,
        attempts=1 if task else 0,
        credits_charged=credits,
        **fields,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("current", "incoming", "winner"),
    [
        ("new", "failed", "failed"),
        ("failed", "submitting", "submitting"),
        ("submitting", "submitted", "submitted"),
        ("submitted", "succeeded", "succeeded"),
        ("succeeded", "failed", "succeeded"),
        ("submitted", "new", "submitted"),
    ],
)
def test_the_most_advanced_state_wins(current: str, incoming: str, winner: str) -> None:
    """succeeded > submitted > submitting > failed > new, whichever side it is on."""
    task = {"new": None, "submitting": None}
    one = _record(current, task.get(current, "t1"), 2)
    other = _record(incoming, task.get(incoming, "t1"), 2)
    assert fold_records(one, other).record.state == winner
    assert fold_records(other, one).record.state == winner


def test_two_tasks_of_one_job_add_their_charges_and_keep_both_ids() -> None:
    """Records with different task ids: the winner's id, the other in other_tasks, charges
    summed, the overlap reported once; folded again, nothing changes."""
    ours, theirs = _record("failed", "t1", 4), _record("succeeded", "t2", 4)
    folded = fold_records(ours, theirs)
    assert folded.took_incoming and folded.overlap == ("t2",)
    assert (folded.record.task_id, folded.record.other_tasks) == ("t2", ("t1",))
    assert folded.record.credits_charged == 8
    again = fold_records(folded.record, theirs)
    assert again.record == folded.record and not again.overlap and not again.took_incoming
    assert fold_records(folded.record, ours).record == folded.record


def test_one_task_seen_twice_keeps_the_larger_charge() -> None:
    """The same task in both records is one history: the charge is not counted twice."""
    folded = fold_records(_record("submitted", "t1", 2), _record("succeeded", "t1", 2))
    assert folded.record.credits_charged == 2 and folded.record.other_tasks == ()
    assert folded.overlap == ()


def test_an_interrupted_create_keeps_the_nonce_it_was_sent_with() -> None:
    """Folded into the campaign's lockfile, a shard's `submitting` record carries the shard's
    nonce (its create is sent again under the same key); other records carry none, nor does
    one whose nonce is the campaign's own."""
    shard, campaign = "0123456789abcdef", "fedcba9876543210"
    interrupted = JobRecord("a" * 16, "hero", {}, 1, {"prompt": "p"}, "submitting", attempts=1)
    assert _keyed(interrupted, shard, campaign).nonce == shard
    submitted = interrupted.replace(state="submitted", task_id="t1", nonce=shard)
    assert _keyed(submitted, shard, campaign).nonce is None
    carried = interrupted.replace(nonce=campaign)  # the campaign's, carried into the shard
    assert _keyed(carried, shard, campaign).nonce is None
