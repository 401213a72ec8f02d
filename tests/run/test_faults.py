"""Every fault of the simulator, alone and together: reruns end complete, paid for honestly."""

from __future__ import annotations

import pytest
from _support.campaign import KEY, Campaign
from _support.checks import assert_charged_honestly, assert_complete

from seedance_batch import RunOptions, RunSummary, load_manifest, run
from seedance_batch.cli._errors import run_exit_code
from seedance_batch.client import RetryPolicy
from seedance_batch.simulator import Counters, SimulatorConfig, Variants, serve

FAST_RETRIES = RetryPolicy(base=0.01, cap=0.05, max_retries=6)

FAULTS = {
    "latency-range": SimulatorConfig(seed=11, latency=(0.0, 0.3)),
    "fail-rate": SimulatorConfig(seed=12, fail_rate=0.4),
    "error-rate": SimulatorConfig(seed=13, error_rate=0.3),
    "rate-limit": SimulatorConfig(seed=14, rate_limit=40),
    "reset-rate": SimulatorConfig(seed=15, reset_rate=0.25),
    "truncate-rate": SimulatorConfig(seed=16, truncate_rate=0.4),
    "short-delivery": SimulatorConfig(seed=17, variants=Variants(short_delivery_rate=1.0)),
    "answer-variants": SimulatorConfig(
        seed=18,
        variants=Variants(
            status_words="mixed", envelope="mixed", id_field="mixed", url_placement="mixed"
        ),
    ),
    "all-together": SimulatorConfig(
        seed=19,
        latency=(0.0, 0.2),
        fail_rate=0.2,
        error_rate=0.15,
        rate_limit=60,
        reset_rate=0.1,
        truncate_rate=0.2,
        variants=Variants(
            status_words="mixed",
            envelope="mixed",
            id_field="mixed",
            url_placement="mixed",
            short_delivery_rate=0.5,
            retry_after="http-date",
        ),
    ),
}


def _run_until_done(
    campaign: Campaign, config: SimulatorConfig
) -> tuple[list[RunSummary], Counters]:
    summaries = []
    with serve(config) as sim:
        for _ in range(8):
            summary = run(
                load_manifest(campaign.manifest),
                RunOptions(base_url=sim.base_url, retry_failed=True, retry=FAST_RETRIES, seed=1),
                api_key=KEY,
            )
            summaries.append(summary)
            if run_exit_code(summary) == 0:
                break
        counters = sim.counters
    assert run_exit_code(summaries[-1]) == 0, [s.messages for s in summaries]
    assert_complete(campaign.manifest, campaign.out)
    assert_charged_honestly(campaign.manifest, counters, KEY)
    return summaries, counters


@pytest.mark.parametrize("fault", list(FAULTS))
def test_fault_ends_complete_after_reruns(campaign: Campaign, fault: str) -> None:
    """Under the fault, reruns end with every image verified and no unreported double charge."""
    summaries, counters = _run_until_done(campaign, FAULTS[fault])
    if fault == "short-delivery":
        assert summaries[0].images_delivered < summaries[0].images_asked
    if fault == "fail-rate" or counters.creates > 12:  # some task failed and was sent again
        assert sum(s.credits_charged for s in summaries) > 32  # failed tasks count as charged


def test_exit_1_when_jobs_fail_and_a_plain_rerun_leaves_them(campaign: Campaign) -> None:
    """Failed jobs exit 1; a plain rerun does not resubmit them; --retry-failed does."""
    with serve(SimulatorConfig(seed=21, fail_rate=1.0)) as sim:
        options = RunOptions(base_url=sim.base_url, retry=FAST_RETRIES, max_attempts=2)
        first = run(load_manifest(campaign.manifest), options, api_key=KEY)
        creates = sim.counters.create_requests
        plain = run(load_manifest(campaign.manifest), options, api_key=KEY)
        assert sim.counters.create_requests == creates
    assert run_exit_code(first) == 1 and first.failed == 12
    assert creates == 24  # max_attempts submissions per job within the run
    assert run_exit_code(plain) == 1
    with serve(SimulatorConfig(seed=22)) as sim:
        retried = run(
            load_manifest(campaign.manifest),
            RunOptions(base_url=sim.base_url, retry_failed=True, retry=FAST_RETRIES),
            api_key=KEY,
        )
    assert run_exit_code(retried) == 0
    assert_complete(campaign.manifest, campaign.out)


def test_task_timeout_leaves_the_task_for_the_next_run(campaign: Campaign) -> None:
    """A task past task_timeout stays submitted (exit 1); the next run polls it, never resubmits."""
    with serve(SimulatorConfig(seed=23, latency=1.5)) as sim:
        first = run(
            load_manifest(campaign.manifest),
            RunOptions(base_url=sim.base_url, task_timeout=0.3, concurrency=12),
            api_key=KEY,
        )
        creates = sim.counters.creates
        second = run(
            load_manifest(campaign.manifest),
            RunOptions(base_url=sim.base_url, task_timeout=30, concurrency=12),
            api_key=KEY,
        )
        assert sim.counters.creates == creates
    assert run_exit_code(first) == 1 and first.timed_out == 12
    assert run_exit_code(second) == 0
    assert_complete(campaign.manifest, campaign.out)


def test_retries_never_take_the_run_past_its_budget(campaign: Campaign) -> None:
    """Resubmissions of failed tasks stop at max_credits: exit 3, and the API charged no more."""
    with serve(SimulatorConfig(seed=24, fail_rate=1.0)) as sim:
        summary = run(
            load_manifest(campaign.manifest),
            RunOptions(base_url=sim.base_url, retry=FAST_RETRIES, max_credits=40),
            api_key=KEY,
        )
        charged = sim.counters.charges[KEY]
    assert run_exit_code(summary) == 3
    assert summary.stopped == "budget"
    assert 32 <= charged <= 40
    assert summary.credits_charged == charged
