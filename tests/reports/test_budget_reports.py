"""One campaign budget: what the lockfile spent plus what the next run adds, in every report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from _support.reports import Record, cli

from seedance_batch import load_manifest, plan
from seedance_batch._errors import SelectionError
from seedance_batch.lockfile import read_lockfile

SUCCEEDED_4 = {0: "succeeded", 1: "succeeded", 2: "succeeded", 3: "succeeded"}
CHARGED_4 = {0: 2, 1: 2, 2: 2, 3: 2}


def test_campaign_budget_counts_spent_plus_to_spend() -> None:
    """within is spent + to_spend <= max_credits; spare is what is left; no max is within."""
    from seedance_batch._budget import Budget, campaign_budget

    assert campaign_budget(max_credits=10, spent=8, to_spend=2) == Budget(10, 8, 2, True)
    over = campaign_budget(max_credits=10, spent=8, to_spend=3)
    assert not over.within and over.spare == -1
    assert campaign_budget(max_credits=None, spent=99, to_spend=9).within
    assert campaign_budget(max_credits=None, spent=0, to_spend=0).spare is None


def test_plan_budget_counts_what_the_lockfile_has_spent(demo: Path, record: Record) -> None:
    """Charges recorded in the lockfile, orphans included, count against max_credits."""
    record(demo, SUCCEEDED_4, charged=CHARGED_4, orphan_charged=10)
    manifest = load_manifest(demo)
    result = plan(manifest, read_lockfile(demo.with_name("demo.lock.json")))
    budget = result.budget_for()
    assert (budget.spent, budget.to_spend, budget.max_credits) == (18, 12, 30)
    assert budget.within and budget.spare == 0
    assert not result.budget_for(max_credits=29).within
    assert result.budget == budget
    assert result.totals.credits_spent == 18


def test_budget_for_retry_failed_adds_the_failed_jobs(demo: Path, record: Record) -> None:
    """budget_for(retry_failed=True) adds credits_to_retry to what the run would spend."""
    states = dict.fromkeys(range(9), "succeeded") | {1: "failed"}
    record(demo, states)
    result = plan(load_manifest(demo), read_lockfile(demo.with_name("demo.lock.json")))
    assert result.budget_for(max_credits=0).within
    retry = result.budget_for(retry_failed=True, max_credits=0)
    assert (retry.to_spend, retry.within) == (2, False)


def test_plan_reports_say_spent_of_max_and_what_the_run_adds(demo: Path, record: Record) -> None:
    """Text, Markdown and JSON plans show spent X of Y and what this run would add."""
    record(demo, SUCCEEDED_4, charged=CHARGED_4, orphan_charged=10)
    text = cli("plan", str(demo))
    assert text.returncode == 0, text.stderr
    line = "budget: spent 18 of 30 credits, this run would add 12 (0 to spare)"
    assert line in text.stdout
    assert line in cli("plan", str(demo), "--format", "markdown").stdout
    document = json.loads(cli("plan", str(demo), "--format", "json").stdout)
    assert document["budget"] == {"max_credits": 30, "spent": 18, "to_spend": 12, "within": True}
    assert document["totals"]["credits_spent"] == 18
    over = cli("plan", str(demo), "--max-credits", "29")
    assert over.returncode == 3
    assert "OVER BUDGET: spent 18 of 29 credits, this run would add 12 (1 over)" in over.stdout


def test_plan_retry_failed_over_budget_exits_3_like_run(demo: Path, record: Record) -> None:
    """plan --retry-failed --max-credits 0 with a failed job refuses (exit 3), as run does."""
    record(demo, dict.fromkeys(range(9), "succeeded") | {1: "failed"})
    assert cli("plan", str(demo), "--max-credits", "0").returncode == 0
    done = cli("plan", str(demo), "--retry-failed", "--max-credits", "0", "--format", "json")
    assert done.returncode == 3
    assert json.loads(done.stdout)["budget"] == {
        "max_credits": 0,
        "spent": 0,
        "to_spend": 2,
        "within": False,
    }


def test_status_shows_the_same_budget_line_as_plan(demo: Path, record: Record) -> None:
    """status prints the plan's budget line, and its JSON the same budget object."""
    record(demo, SUCCEEDED_4, charged=CHARGED_4, orphan_charged=10)
    line = "budget: spent 18 of 30 credits, this run would add 12 (0 to spare)"
    assert line in cli("status", str(demo)).stdout
    assert line in cli("status", str(demo), "--format", "markdown").stdout
    document = json.loads(cli("status", str(demo), "--format", "json").stdout)
    assert document["budget"] == {"max_credits": 30, "spent": 18, "to_spend": 12, "within": True}


def test_diff_counts_what_the_campaign_has_spent(demo: Path, record: Record) -> None:
    """diff adds what the change would send to what the new manifest's lockfile spent."""
    record(demo, dict.fromkeys(range(9), "succeeded"), charged=dict.fromkeys(range(9), 2))
    old = demo.with_name("old.yaml")
    old.write_text(demo.read_text())
    demo.write_text(demo.read_text().replace("[studio light, golden hour]", "[studio light, dusk]"))
    done = cli("diff", str(old), str(demo), "--max-credits", "20", "--format", "json")
    assert done.returncode == 3, done.stdout
    assert json.loads(done.stdout)["budget"] == {
        "max_credits": 20,
        "spent": 18,
        "to_spend": 4,
        "within": False,
    }
    text = cli("diff", str(old), str(demo), "--max-credits", "22").stdout
    assert "budget: spent 18 of 22 credits, this change would add 4 (0 to spare)" in text


def test_only_matching_nothing_is_a_selection_error_naming_the_jobs(demo: Path) -> None:
    """Plan.select raises SelectionError listing the jobs when a pattern matches nothing."""
    result = plan(load_manifest(demo))
    with pytest.raises(SelectionError, match=r"'nope'.*hero, lifestyle, macro"):
        result.select(["hero", "nope"])
    assert result.select(["hero", "mac*"]).totals.jobs == 6


@pytest.mark.parametrize("command", ["plan", "run"])
def test_only_matching_nothing_exits_2_with_one_line(demo: Path, command: str) -> None:
    """plan and run --only NOPE exit 2 with one line listing the job names, nothing sent."""
    env = {**os.environ, "SEEDANCE_API_KEY": "sk-test-1", "SEEDANCE_BASE_URL": "http://127.0.0.1:9"}
    done = subprocess.run(
        [sys.executable, "-m", "seedance_batch", command, str(demo), "--only", "nope"],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "'nope'" in lines[0] and "hero, lifestyle, macro" in lines[0]
    assert done.stdout == ""
