"""diff for review: a changed job is one row with both prompts, renames are free, OLD may be a
git revision, the new manifest's own budget applies, and the Markdown fits a PR comment."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from _support.reports import cli

#: GitHub refuses a pull request comment longer than this.
GITHUB_COMMENT_LIMIT = 65_536
OLD_TEMPLATE = "on a warm beige pedestal"
NEW_TEMPLATE = "on a cool grey plinth"


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


def _edited(demo: Path, old: str, new: str) -> Path:
    """A copy of the demo beside it as ``old.yaml``; the demo itself edited."""
    before = demo.with_name("old.yaml")
    before.write_text(demo.read_text())
    demo.write_text(demo.read_text().replace(old, new))
    return before


def test_a_new_prompt_is_one_changed_row_with_the_old_and_the_new_prompt(demo: Path) -> None:
    """Editing a template pairs each removed and added job of the same job and variant as one
    changed job, showing both prompts; it is no longer counted as added and removed."""
    old = _edited(demo, OLD_TEMPLATE, NEW_TEMPLATE)
    change = json.loads(cli("diff", str(old), str(demo), "--format", "json").stdout)
    assert change["added"] == [] and change["removed"] == [] and change["kept"] == 4
    assert len(change["changed"]) == 5
    first = change["changed"][0]
    assert first["job"] == "hero" and first["variant"] == {
        "product": "serum",
        "light": "studio light",
    }
    assert (
        first["old"]["prompt"] == "A serum bottle by Lumen on a warm beige pedestal, studio light"
    )
    assert first["new"]["prompt"] == "A serum bottle by Lumen on a cool grey plinth, studio light"
    assert change["credits"]["added"] == 10 == change["budget"]["to_spend"]
    text = cli("diff", str(old), str(demo)).stdout
    assert text.count("~ ") == 5 and "+ " not in text and "\n- " not in text
    assert "    old prompt: A serum bottle by Lumen on a warm beige pedestal, studio light" in text
    assert "    new prompt: A serum bottle by Lumen on a cool grey plinth, studio light" in text
    markdown = cli("diff", str(old), str(demo), "--format", "markdown").stdout
    assert "**Changed**: 5 jobs" in markdown and "| 0 | 0 | 4 | +10 | 20 | 20 | 5 | 0 |" in markdown


def test_renaming_a_job_or_a_value_is_free(demo: Path) -> None:
    """A renamed job keeps its ids: renamed, not added, and the change adds no credits."""
    old = _edited(demo, "- name: macro", "- name: macro-shots")
    done = cli("diff", str(old), str(demo), "--format", "json")
    assert done.returncode == 0, done.stderr
    change = json.loads(done.stdout)
    assert change["added"] == change["removed"] == change["changed"] == []
    assert [(r["old"]["job"], r["new"]["job"]) for r in change["renamed"]] == [
        ("macro", "macro-shots")
    ]
    assert change["credits"]["added"] == 0 and change["budget"]["to_spend"] == 0
    text = cli("diff", str(old), str(demo)).stdout
    assert "macro [-] -> macro-shots [-]  renamed, free" in text
    assert "1 renamed (free), 9 kept; +0 / -0 credits" in text


def test_the_new_manifests_own_budget_applies(demo: Path) -> None:
    """A change that raises budget.max_credits is checked against the raised limit; one that
    lowers it, against the lowered one (exit 3)."""
    old = _edited(demo, "max_credits: 30", "max_credits: 8")
    lowered = cli("diff", str(old), str(demo))
    assert lowered.returncode == 0  # nothing new to send: 0 of 8
    demo.write_text(demo.read_text().replace(OLD_TEMPLATE, NEW_TEMPLATE))
    over = cli("diff", str(old), str(demo))
    assert over.returncode == 3
    assert "OVER BUDGET: spent 0 of 8 credits, this change would add 10" in over.stdout
    demo.write_text(demo.read_text().replace("max_credits: 8", "max_credits: 40"))
    raised = cli("diff", str(old), str(demo), "--format", "json")
    assert raised.returncode == 0
    assert json.loads(raised.stdout)["budget"]["max_credits"] == 40


def _repository(tmp_path: Path, demo: Path) -> Path:
    """A git repository holding the demo in ``manifests/``, committed twice (the second time
    with a new template); the work tree renames the macro job."""
    repo = tmp_path / "repo"
    (repo / "manifests").mkdir(parents=True)
    manifest = repo / "manifests" / "demo.yaml"
    manifest.write_text(demo.read_text())
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "first")
    manifest.write_text(manifest.read_text().replace(OLD_TEMPLATE, NEW_TEMPLATE))
    _git(repo, "commit", "-qam", "second")
    manifest.write_text(manifest.read_text().replace("- name: macro", "- name: macro-shots"))
    return manifest


def test_old_may_be_a_git_revision_of_the_manifests_repository(tmp_path: Path, demo: Path) -> None:
    """OLD as REV:PATH reads the manifest at that revision with git, from the new manifest's
    repository, with the path from its root or from the current folder."""
    manifest = _repository(tmp_path, demo)
    head = json.loads(
        cli("diff", "HEAD:manifests/demo.yaml", str(manifest), "--format", "json").stdout
    )
    assert head["old"] == "HEAD:manifests/demo.yaml"
    assert head["changed"] == [] and len(head["renamed"]) == 1
    before = cli("diff", "HEAD~1:./demo.yaml", "demo.yaml", "--format", "json", cwd=manifest.parent)
    assert before.returncode == 0, before.stderr
    assert len(json.loads(before.stdout)["changed"]) == 5


def test_a_missing_revision_or_path_is_one_line_and_exit_2(tmp_path: Path, demo: Path) -> None:
    """An unknown revision or a path not in it: one line on stderr naming OLD, exit 2."""
    manifest = _repository(tmp_path, demo)
    for old, words in (
        ("HEAD~9:manifests/demo.yaml", "HEAD~9"),
        ("HEAD:manifests/nope.yaml", "nope.yaml"),
    ):
        done = cli("diff", old, str(manifest))
        assert done.returncode == 2, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"seedance-batch: error: {old}: ")
        assert words in lines[0] and done.stdout == ""


def test_a_revision_without_git_is_one_line_and_exit_2(tmp_path: Path, demo: Path) -> None:
    """With no git on PATH, a revision as OLD is bad input: one line saying git is missing."""
    manifest = _repository(tmp_path, demo)
    empty = tmp_path / "no-git"
    empty.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "seedance_batch", "diff", "HEAD:manifests/demo.yaml", str(manifest)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PATH": str(empty)},
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "seedance-batch: error: HEAD:manifests/demo.yaml: a git revision, but git is not installed"
    )


def test_an_invalid_manifest_at_a_revision_names_the_revision(tmp_path: Path, demo: Path) -> None:
    """Problems of the old manifest point at REV:PATH and its line, never a temporary folder."""
    manifest = _repository(tmp_path, demo)
    manifest.write_text(manifest.read_text().replace("version: 1", "version: 7"))
    _git(manifest.parent, "commit", "-qam", "broken")
    manifest.write_text(manifest.read_text().replace("version: 7", "version: 1"))
    done = cli("diff", "HEAD:manifests/demo.yaml", str(manifest))
    assert done.returncode == 2
    assert done.stderr.startswith("HEAD:manifests/demo.yaml:3:10: version: ")
    assert "seedance-batch-revision" not in done.stderr


def test_the_markdown_of_a_500_job_change_fits_a_pull_request_comment(tmp_path: Path) -> None:
    """500 changed prompts: well under GitHub's limit, folded, the rows left out counted."""
    values = ", ".join(f'"shade {i:03d}"' for i in range(500))
    template = "A {shade} lipstick on a long reflective surface, soft studio light, " * 3
    old = tmp_path / "old.yaml"
    old.write_text(
        f'version: 1\nname: big\njobs:\n  - name: hero\n    prompt: "{template.strip()}"\n'
        f"    matrix: {{shade: [{values}]}}\n"
    )
    new = tmp_path / "new.yaml"
    new.write_text(old.read_text().replace("soft studio light", "hard rim light"))
    text = cli("diff", str(old), str(new), "--format", "markdown").stdout
    assert len(text) < GITHUB_COMMENT_LIMIT * 0.8
    assert "<details><summary>Changed: 500 jobs</summary>" in text
    listed = len(re.findall(r"^\| `[0-9a-f]{16}` \| `[0-9a-f]{16}` \|", text, re.MULTILINE))
    left = int(re.findall(r"… and (\d+) more", text)[0])
    assert listed + left == 500 and listed > 20
