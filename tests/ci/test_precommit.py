"""The pre-commit hook this repository ships, run for real by the pre-commit package."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRE_COMMIT = Path(sys.executable).with_name("pre-commit")


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


@pytest.fixture(scope="module")
def campaign_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A temporary git repository with one good and one bad manifest staged."""
    repo = tmp_path_factory.mktemp("campaign-repo")
    _git(repo, "init", "-q")
    _git(repo, "config", "user.email", "test@example.com")
    _git(repo, "config", "user.name", "test")
    (repo / "manifests").mkdir()
    shutil.copy(ROOT / "manifests" / "demo.yaml", repo / "manifests" / "good.yaml")
    (repo / "manifests" / "bad.yaml").write_text(
        "version: 1\nname: bad\njobs:\n  - name: a\n    prompt: p\n    n: 3\n"
    )
    _git(repo, "add", "manifests")
    return repo


def _try_repo(repo: Path, *files: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PRE_COMMIT_HOME": str(repo.parent / "pre-commit-home")}
    return subprocess.run(
        [str(PRE_COMMIT), "try-repo", str(ROOT), "seedance-batch-validate", "--files", *files],
        cwd=repo,
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=600,
    )


def test_hook_passes_a_valid_manifest(campaign_repo: Path) -> None:
    """pre-commit runs seedance-batch validate from .pre-commit-hooks.yaml and passes."""
    done = _try_repo(campaign_repo, "manifests/good.yaml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "seedance-batch validate" in done.stdout
    assert "Passed" in done.stdout


def test_hook_refuses_a_bad_manifest_naming_the_line(campaign_repo: Path) -> None:
    """The hook fails on a bad manifest and shows FILE:LINE:COL of the problem."""
    done = _try_repo(campaign_repo, "manifests/bad.yaml")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "manifests/bad.yaml:6:8: jobs[0].n: 3 is not one of 1, 2, 4" in done.stdout
