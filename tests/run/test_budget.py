"""The budget is the campaign's: what the lockfile has spent plus what a run sends stay within."""

from __future__ import annotations

import json

from _support.campaign import KEY, Campaign, run_cli

from seedance_batch.lockfile import read_lockfile
from seedance_batch.simulator import SimulatorConfig, serve


def _manifest(prompt: str, *, max_credits: int, extra: str = "") -> str:
    """Two 1K jobs of one image (2 credits each), a budget, fast polls."""
    return f"""
    version: 1
    name: campaign
    budget: {{max_credits: {max_credits}}}
    execution: {{concurrency: 2, requests_per_second: 200, poll_interval: 0.05, poll_max: 0.1}}
    jobs:
      - name: hero
        prompt: "{prompt}, {{light}}"
        matrix: {{light: [studio, dusk]}}
    {extra}
    """


def test_prompt_edits_never_spend_past_the_campaign_budget(campaign: Campaign) -> None:
    """Runs after prompt edits orphan the old jobs; their credits still count: the third run
    of 4 credits against a budget of 10 (8 spent) is refused, exit 3, nothing sent."""
    with serve(SimulatorConfig(seed=40)) as sim:
        for prompt in ("A jar", "A bottle"):
            campaign.write(_manifest(prompt, max_credits=10))
            done = run_cli("run", str(campaign.manifest), "--base-url", sim.base_url)
            assert done.returncode == 0, done.stderr
        requests = sim.counters.requests
        campaign.write(_manifest("A tube", max_credits=10))
        third = run_cli("run", str(campaign.manifest), "--base-url", sim.base_url)
        assert sim.counters.requests == requests
        charged = sim.counters.charges[KEY]
    assert third.returncode == 3, third.stderr
    assert "8 credits already spent" in third.stderr
    assert "would spend up to 4 credits, max_credits is 10" in third.stderr
    assert charged == 8


def test_resubmissions_stop_at_the_campaign_budget(campaign: Campaign) -> None:
    """With 4 credits spent, a new job whose tasks keep failing is resubmitted only while the
    campaign stays within 8 credits; it is counted and listed once, as failed, with why."""
    campaign.write(_manifest("A jar", max_credits=8))
    with serve(SimulatorConfig(seed=41)) as sim:
        assert run_cli("run", str(campaign.manifest), "--base-url", sim.base_url).returncode == 0
        first = sim.counters.charges[KEY]
    extra = "  - name: more\n        prompt: A lid"
    campaign.write(_manifest("A jar", max_credits=8, extra=extra))
    with serve(SimulatorConfig(seed=42, fail_rate=1.0)) as sim:
        done = run_cli(
            "run", str(campaign.manifest), "--base-url", sim.base_url, "--format", "json"
        )
        second = sim.counters.charges[KEY]
    assert first == 4
    assert second == 4  # two attempts of 2 credits; a third would pass the budget
    assert done.returncode == 3, done.stderr
    summary = json.loads(done.stdout)
    assert summary["this_run"] == {"succeeded": 0, "failed": 1, "timed_out": 0, "unfinished": 0}
    assert [f["job"] for f in summary["failures"]] == ["more"]
    assert "not submitted again: the budget is reached" in summary["failures"][0]["message"]
    assert summary["credits"]["first_attempts"] == 2
    assert summary["credits"]["resubmissions"] == 2
    assert summary["credits"]["spent_total"] == 8
    assert summary["states"] == {"failed": 1, "succeeded": 2}
    assert "this run: 0 succeeded, 1 failed, 0 timed out, 0 left" in done.stderr
    assert "the budget stopped the run: 8 of 8 credits spent" in done.stderr
    snapshot = read_lockfile(campaign.lockfile)
    assert snapshot is not None
    assert sum(r.credits_charged for r in snapshot.jobs.values()) == 8
