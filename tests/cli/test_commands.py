"""The command line over real processes: validate, plan and status, their formats and exits."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from seedance_batch import load_manifest, plan
from seedance_batch.lockfile import JobRecord, Lockfile

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "manifests" / "demo.yaml"


def cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "seedance_batch", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    """The demo manifest in a folder of its own (so its lockfile is the test's)."""
    target = tmp_path / "demo.yaml"
    shutil.copy(DEMO, target)
    return target


def _record(demo: Path, states: dict[int, str]) -> list[str]:
    """Write a real lockfile giving the first jobs of the demo these states; return all ids."""
    manifest = load_manifest(demo)
    jobs = plan(manifest).jobs
    with Lockfile.open(
        demo.with_name("demo.lock.json"), manifest_name=manifest.name, manifest_sha256="0" * 64
    ) as lock:
        lock.adopt_plan(jobs)
        for index, state in states.items():
            job = jobs[index]
            record = JobRecord(job.id, job.job, dict(job.variant), job.repeat, dict(job.request))
            task = f"task-{index}" if state in ("submitted", "succeeded", "failed") else None
            error = "content policy" if state == "failed" else None
            lock.put(record.replace(state=state, task_id=task, attempts=1, error=error))
        orphan = JobRecord("f" * 16, "gone", {"size": "1:1"}, 0, {"prompt": "old"}, "succeeded")
        lock.put(orphan.replace(task_id="task-old", attempts=1))
    return [job.id for job in jobs]


def test_validate_prints_one_ok_line_per_manifest() -> None:
    """validate prints `ok NAME: N jobs, N images, N credits` for each manifest, exit 0."""
    done = cli("validate", "manifests/demo.yaml", "manifests/watch-4k-heroes.yaml")
    assert done.returncode == 0
    assert done.stdout.splitlines() == [
        "ok demo: 9 jobs, 9 images, 20 credits",
        "ok watch-4k-heroes: 18 jobs, 18 images, 72 credits",
    ]


def test_plan_json_has_exactly_the_contracts_fields(demo: Path) -> None:
    """plan --format json prints the contract's object with the contract's fields."""
    done = cli("plan", str(demo), "--format", "json")
    assert done.returncode == 0
    document = json.loads(done.stdout)
    assert list(document) == ["manifest", "name", "jobs", "totals", "budget"]
    assert list(document["jobs"][0]) == [
        "id", "job", "variant", "repeat", "request", "images", "credits", "output", "state",
    ]  # fmt: skip
    assert list(document["totals"]) == [
        "jobs", "images", "credits", "credits_to_spend", "credits_to_retry", "credits_to_reroll",
        "credits_spent", "by_state", "by_model", "by_resolution",
    ]  # fmt: skip
    assert document["budget"] == {"max_credits": 30, "spent": 0, "to_spend": 20, "within": True}
    assert document["totals"]["credits"] == 20 == sum(j["credits"] for j in document["jobs"])


def test_plan_over_budget_exits_3_and_says_so(demo: Path) -> None:
    """A plan over --max-credits says OVER BUDGET plainly and exits 3."""
    done = cli("plan", str(demo), "--max-credits", "19")
    assert done.returncode == 3
    assert "OVER BUDGET: spent 0 of 19 credits, this run would add 20 (1 over)" in done.stdout


def test_plan_with_a_lockfile_shows_states_and_what_is_left_to_spend(demo: Path) -> None:
    """With a lockfile, each job shows its state; to_spend and to_retry follow the states."""
    ids = _record(demo, {0: "succeeded", 1: "failed", 2: "submitted", 3: "submitting"})
    done = cli("plan", str(demo), "--format", "json")
    document = json.loads(done.stdout)
    states = {j["id"]: j["state"] for j in document["jobs"]}
    assert [states[i] for i in ids[:5]] == ["succeeded", "failed", "submitted", "submitting", "new"]
    totals = document["totals"]
    assert totals["credits_to_retry"] == 2
    assert totals["credits_to_spend"] == 20 - 2 - 2 - 2  # succeeded, failed, submitted
    text = cli("plan", str(demo)).stdout
    headers = [line.split() for line in text.splitlines() if line.split()[:1] == ["id"]]
    assert headers and all(header[-1] == "state" for header in headers)
    assert "to spend: 14 credits; failed jobs (--retry-failed): 2 credits" in text
    assert "orphaned: 1 jobs" in text


def test_plan_only_and_limit_narrow_the_plan_and_its_budget(demo: Path) -> None:
    """--only and --limit narrow the plan; the budget check applies to the subset."""
    only = json.loads(cli("plan", str(demo), "--format", "json", "--only", "macro").stdout)
    assert [j["job"] for j in only["jobs"]] == ["macro"]
    limited = cli("plan", str(demo), "--format", "json", "--limit", "2", "--max-credits", "4")
    assert limited.returncode == 0
    assert json.loads(limited.stdout)["totals"]["jobs"] == 2
    assert cli("plan", str(demo), "--limit", "3", "--max-credits", "4").returncode == 3


def test_plan_markdown_starts_with_totals(demo: Path) -> None:
    """plan --format markdown is a heading, then a totals table, ready for a step summary."""
    lines = cli("plan", str(demo), "--format", "markdown").stdout.splitlines()
    assert lines[0] == "### seedance-batch plan: `demo`"
    assert lines[2].startswith("| jobs | images | credits |")
    assert lines[4].startswith("| 9 | 9 | 20 |")


def test_long_plans_are_summarised_unless_verbose(tmp_path: Path) -> None:
    """A plan of 30 jobs lists 20 and a count of the rest; --verbose lists all 30."""
    manifest = tmp_path / "long.yaml"
    values = ", ".join(f"v{i}" for i in range(30))
    manifest.write_text(
        "version: 1\nname: long\njobs:\n  - name: j\n"
        f'    prompt: "{{x}}"\n    matrix: {{x: [{values}]}}\n'
    )
    ids = [job.id for job in plan(load_manifest(manifest)).jobs]
    short = cli("plan", str(manifest)).stdout
    full = cli("plan", str(manifest), "--verbose").stdout
    assert sum(i in short for i in ids) == 20
    assert "... and 10 more jobs (--verbose lists every job)" in short
    assert all(i in full for i in ids)


def test_status_json_lists_orphans_after_planned_jobs(demo: Path) -> None:
    """status --format json follows the contract; orphaned jobs come last, flagged."""
    ids = _record(demo, {0: "succeeded", 1: "failed"})
    done = cli("status", str(demo), "--format", "json")
    assert done.returncode == 0
    document = json.loads(done.stdout)
    assert [j["id"] for j in document["jobs"]] == [*ids, "f" * 16]
    assert document["jobs"][-1]["orphaned"] is True
    assert document["jobs"][0]["task_id"] == "task-0"
    assert document["totals"]["by_state"] == {"new": 7, "succeeded": 1, "failed": 1}
    text = cli("status", str(demo)).stdout
    assert "content policy" in text and "orphaned (1;" in text


def test_bad_flags_exit_2_and_help_exits_0() -> None:
    """Unknown flags are bad input (exit 2); --help is not an error."""
    assert cli("plan", "manifests/demo.yaml", "--format", "yaml").returncode == 2
    assert cli("plan", "manifests/demo.yaml", "--limit", "0").returncode == 2
    assert cli("--help").returncode == 0


def test_console_script_is_installed() -> None:
    """The seedance-batch console script runs the same main as python -m."""
    script = Path(sys.executable).with_name("seedance-batch")
    done = subprocess.run([str(script), "--version"], capture_output=True, text=True, check=False)
    assert done.returncode == 0
    assert done.stdout.startswith("seedance-batch ")


def test_plan_markdown_shows_what_changed_against_the_lockfile(demo: Path) -> None:
    """With a lockfile, the markdown says what is added, done, failed and orphaned, in credits."""
    _record(demo, {0: "succeeded", 1: "succeeded", 2: "failed"})
    demo.write_text(demo.read_text().replace("[studio light, golden hour]", "[studio light, dusk]"))
    text = cli("plan", str(demo), "--format", "markdown").stdout
    assert "| added since the lockfile | 2 | 4 | to spend |" in text
    assert "| already done | 1 | 2 | already charged |" in text
    assert "| failed (`--retry-failed`) | 1 | 2 | to retry |" in text
    assert "| removed from the manifest (orphaned; `prune`) | 3 | | |" in text
    status = cli("status", str(demo), "--format", "markdown").stdout
    assert status.splitlines()[0] == "### seedance-batch status: `demo`"
    assert "content policy" in status and "**Orphaned**" in status
