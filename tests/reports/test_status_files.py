"""status tells the truth about the files: missing images, short deliveries, the run holding
the lockfile, and a lockfile of another campaign."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from _support.reports import ROOT, Record, cli

from seedance_batch import load_manifest, plan

MANIFEST = textwrap.dedent(
    """\
    version: 1
    name: files
    jobs:
      - name: pair
        prompt: "A {x}"
        n: 2
        matrix: {x: [a, b, c]}
    """
)


@pytest.fixture
def campaign(tmp_path: Path) -> Path:
    """Three jobs of n 2, in a folder of their own; outputs go to outputs/files."""
    path = tmp_path / "files.yaml"
    path.write_text(MANIFEST)
    return path


def _outputs(campaign: Path, record: Record) -> list[str]:
    """Job 0 has a regular file and a link; job 1 delivered 1 of 2, now gone; job 2 has a
    folder where an image was and a regular file. Returns the three jobs' output folders."""
    record(campaign, dict.fromkeys(range(3), "succeeded"), images={1: 1})
    folders = [job.output for job in plan(load_manifest(campaign)).jobs]
    out = campaign.parent / "outputs" / "files"
    for folder in folders:
        (out / folder).mkdir(parents=True)
    (out / folders[0] / "1.png").write_bytes(b"png")
    elsewhere = campaign.parent / "elsewhere.png"
    elsewhere.write_bytes(b"png")
    (out / folders[0] / "2.png").symlink_to(elsewhere)
    (out / folders[2] / "1.png").mkdir()
    (out / folders[2] / "2.png").write_bytes(b"png")
    return folders


def test_status_counts_images_missing_on_disk(campaign: Path, record: Record) -> None:
    """A recorded image that is gone, a link or a folder counts as missing, in every format."""
    folders = _outputs(campaign, record)
    missing = [f"{folders[0]}/2.png", f"{folders[1]}/1.png", f"{folders[2]}/1.png"]
    text = cli("status", str(campaign))
    assert text.returncode == 0, text.stderr
    assert "missing on disk (3 images recorded but not in" in text.stdout
    assert all(f"  {path}" in text.stdout.splitlines() for path in missing)
    document = json.loads(cli("status", str(campaign), "--format", "json").stdout)
    assert document["totals"]["images_missing"] == 3
    assert [p for j in document["jobs"] for p in j.get("missing", [])] == missing
    markdown = cli("status", str(campaign), "--format", "markdown").stdout
    assert "**Missing on disk**: 3 images" in markdown


def test_status_flags_jobs_delivered_short_of_n(campaign: Path, record: Record) -> None:
    """A job that succeeded with fewer images than its n is flagged, in every format."""
    folders = _outputs(campaign, record)
    ids = [job.id for job in plan(load_manifest(campaign)).jobs]
    text = cli("status", str(campaign)).stdout
    assert "short of n (1 jobs delivered fewer images than asked):" in text
    assert f"  {ids[1]} pair [x=b]: 1 of 2" in text.splitlines()
    document = json.loads(cli("status", str(campaign), "--format", "json").stdout)
    short = [j for j in document["jobs"] if "short" in j]
    assert [(j["id"], j["short"]) for j in short] == [(ids[1], {"images": 1, "n": 2})]
    assert document["totals"]["jobs_short"] == 1
    assert "**Short of n**" in cli("status", str(campaign), "--format", "markdown").stdout
    assert folders


HOLD = """
import sys
from seedance_batch.lockfile import Lockfile
lock = Lockfile.open(sys.argv[1], manifest_name="files", manifest_sha256="0" * 64)
print("ready", flush=True)
sys.stdin.read()
lock.close()
"""


def test_status_says_when_a_run_holds_the_lockfile(campaign: Path, record: Record) -> None:
    """While another process holds the run lock, status names its pid and since when."""
    record(campaign, {0: "submitted"})
    lockfile = campaign.with_name("files.lock.json")
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(lockfile)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        text = cli("status", str(campaign)).stdout
        assert f"a run holds this lockfile now: pid {child.pid} on " in text
        assert " since " in text
        document = json.loads(cli("status", str(campaign), "--format", "json").stdout)
        assert document["held_by"]["pid"] == child.pid
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=30)
    after = json.loads(cli("status", str(campaign), "--format", "json").stdout)
    assert after["held_by"] is None


def test_nobody_holding_the_lockfile_is_said_by_its_absence(campaign: Path, record: Record) -> None:
    """Without a run, status says nothing of a holder and its JSON has held_by null."""
    record(campaign, {0: "succeeded"})
    assert "holds this lockfile" not in cli("status", str(campaign)).stdout
    assert json.loads(cli("status", str(campaign), "--format", "json").stdout)["held_by"] is None


@pytest.mark.parametrize("command", ["plan", "status"])
def test_a_lockfile_of_another_campaign_is_refused(
    campaign: Path, record: Record, command: str
) -> None:
    """plan and status refuse a lockfile recorded for another manifest name, hinting --adopt."""
    record(campaign, {0: "succeeded"}, name="other")
    done = cli(command, str(campaign))
    assert done.returncode == 2, done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "'other'" in lines[0] and "'files'" in lines[0]
    assert "run --adopt" in lines[0] and "Traceback" not in done.stderr
    assert os.fspath(campaign.with_name("files.lock.json")) in lines[0]
