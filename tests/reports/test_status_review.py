"""status reads the review file: decisions per job and in total, and the ship gate
(``--require-approved``) that waits until every planned variant has an approved image."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from _support.reports import Record, cli, image_sha256

from seedance_batch import load_manifest, plan
from seedance_batch._decisions import Entry, render_review
from seedance_batch.cli import main

MANIFEST = textwrap.dedent(
    """\
    version: 1
    name: gate
    jobs:
      - name: pair
        prompt: "A {x}"
        n: 2
        matrix: {x: [a, b, c]}
      - name: twice
        prompt: "A lamp"
        repeat: 2
    """
)


@pytest.fixture
def campaign(tmp_path: Path) -> Path:
    """pair: three variants of n 2; twice: one variant of two repeats (n 1)."""
    path = tmp_path / "gate.yaml"
    path.write_text(MANIFEST)
    return path


def _paths(campaign: Path) -> list[list[str]]:
    """Each planned job's image paths, as write_records records them."""
    jobs = plan(load_manifest(campaign)).jobs
    return [[f"{job.output}/{k}.png" for k in range(1, job.images + 1)] for job in jobs]


def _review(campaign: Path, decisions: dict[str, str]) -> Path:
    """The review file beside the manifest, with these decisions by image path."""
    entries = [Entry(image_sha256(path), None, path, d) for path, d in decisions.items()]  # type: ignore[arg-type]
    target = campaign.with_name("gate.review.yaml")
    target.write_text(render_review("gate", entries), encoding="utf-8")
    return target


def _status(campaign: Path, *args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["status", str(campaign), *args])
    return code, capsys.readouterr().out


def test_json_counts_decisions_per_job_and_in_total(
    campaign: Path, record: Record, capsys: pytest.CaptureFixture[str]
) -> None:
    """Approved (favourite included), rejected and undecided per job and in totals, with the
    variants still missing and why; every existing key is still there."""
    ids = record(campaign, dict.fromkeys(range(5), "succeeded"))
    paths = _paths(campaign)
    _review(
        campaign,
        {paths[0][0]: "favourite", paths[0][1]: "rejected", paths[1][0]: "rejected",
         paths[1][1]: "rejected", paths[3][0]: "approved"},
    )  # fmt: skip
    code, out = _status(campaign, "--format", "json", capsys=capsys)
    assert code == 0  # without --require-approved, status only reports
    document = json.loads(out)
    decisions = [job["decisions"] for job in document["jobs"]]
    assert decisions == [
        {"approved": 1, "rejected": 1, "undecided": 0},
        {"approved": 0, "rejected": 2, "undecided": 0},
        {"approved": 0, "rejected": 0, "undecided": 2},
        {"approved": 1, "rejected": 0, "undecided": 0},
        {"approved": 0, "rejected": 0, "undecided": 1},
    ]
    assert document["totals"]["decisions"] == {"approved": 2, "rejected": 3, "undecided": 3}
    assert document["totals"]["variants"] == 5 - 1  # the two repeats are one variant
    assert document["totals"]["variants_approved"] == 2
    assert document["ready"] is False
    assert document["missing"] == [
        {"id": ids[1], "job": "pair", "variant": {"x": "b"}, "reason": "all rejected", "images": 2},
        {"id": ids[2], "job": "pair", "variant": {"x": "c"}, "reason": "undecided", "images": 2},
    ]
    for key in ("by_state", "credits_charged", "credits_spent", "images", "images_missing"):
        assert key in document["totals"]
    assert {"name", "jobs", "budget", "held_by"} <= set(document)


def test_gate_fails_until_every_variant_is_approved(
    campaign: Path, record: Record, capsys: pytest.CaptureFixture[str]
) -> None:
    """--require-approved exits 1 listing each missing variant and why, then 0 once one image of
    every variant is approved; an approval of either repeat counts for the variant."""
    ids = record(campaign, {0: "succeeded", 1: "succeeded", 2: "failed", 3: "succeeded"})
    paths = _paths(campaign)
    _review(campaign, {paths[0][1]: "approved", paths[1][0]: "rejected", paths[1][1]: "rejected"})
    code, out = _status(campaign, "--require-approved", capsys=capsys)
    assert code == 1
    lines = out.splitlines()
    assert "not ready to ship: 3 of 4 variants have no approved image" in out
    assert f"  {ids[1]} pair [x=b]: all rejected (2 images)" in lines
    assert f"  {ids[2]} pair [x=c]: no image yet" in lines
    assert f"  {ids[3]} twice [-]: undecided (1 image)" in lines
    assert not any(line.startswith(f"  {ids[0]} ") for line in lines)

    record(campaign, dict.fromkeys(range(5), "succeeded"))
    paths = _paths(campaign)
    _review(
        campaign,
        {paths[0][1]: "approved", paths[1][0]: "favourite", paths[2][1]: "approved",
         paths[4][0]: "approved"},
    )  # fmt: skip
    code, out = _status(campaign, "--require-approved", capsys=capsys)
    assert code == 0, out
    assert out.splitlines()[-1] == "ready to ship: all 4 variants have an approved image"


def test_gate_exit_code_from_a_real_process(campaign: Path, record: Record) -> None:
    """The command line itself exits 1 for a campaign not ready, in JSON too."""
    record(campaign, {0: "succeeded"})
    done = cli("status", str(campaign), "--require-approved", "--format", "json")
    assert done.returncode == 1, done.stderr
    document = json.loads(done.stdout)
    assert document["ready"] is False
    assert [m["reason"] for m in document["missing"]] == ["undecided", *["no image yet"] * 3]


def test_missing_review_file_means_undecided(
    campaign: Path, record: Record, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without a review file every image is undecided, and the text says where it looked."""
    record(campaign, dict.fromkeys(range(5), "succeeded"))
    code, out = _status(campaign, capsys=capsys)
    assert code == 0
    review = campaign.with_name("gate.review.yaml")
    assert (
        f"review: 0 approved, 0 rejected, 8 undecided images; 0 of 4 variants approved ({review})"
        in out
    )
    lines = out.splitlines()
    at = next(n for n, line in enumerate(lines) if line.startswith("review: "))
    assert lines[at + 1].split() == [
        "job",
        "variants",
        "ready",
        "approved",
        "rejected",
        "undecided",
    ]
    assert lines[at + 2].split() == ["pair", "3", "0", "0", "0", "6"]
    assert lines[at + 3].split() == ["twice", "1", "0", "0", "0", "2"]


def test_broken_review_file_is_one_line_exit_2(
    campaign: Path, record: Record, capsys: pytest.CaptureFixture[str]
) -> None:
    """A review file that is not one: one line naming the file, line and column; exit 2."""
    record(campaign, {0: "succeeded"})
    review = campaign.with_name("gate.review.yaml")
    review.write_text("version: 1\ncampaign: gate\ndecisions:\n  nothex:\n    decision: ok\n")
    assert main(["status", str(campaign), "--require-approved"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1
    assert captured.err.startswith(f"{review}:4:3: decisions.nothex: ")
    assert "Traceback" not in captured.err


def test_orphans_never_block_the_gate(
    campaign: Path, record: Record, capsys: pytest.CaptureFixture[str]
) -> None:
    """An orphaned entry with undecided images is no variant of the plan: ready without it."""
    record(campaign, dict.fromkeys(range(5), "succeeded"), orphan_charged=2)
    paths = _paths(campaign)
    _review(campaign, {p[0]: "approved" for p in paths})
    code, out = _status(campaign, "--require-approved", "--format", "json", capsys=capsys)
    assert code == 0
    document = json.loads(out)
    assert document["jobs"][-1]["orphaned"] is True
    assert document["ready"] is True and document["missing"] == []


def test_markdown_has_the_review_table_and_the_gate(
    campaign: Path, record: Record, capsys: pytest.CaptureFixture[str]
) -> None:
    """Markdown: a review table per job with a total row, the verdict, and with the gate the
    variants not approved yet, escaped for a pull request comment."""
    ids = record(campaign, dict.fromkeys(range(5), "succeeded"))
    paths = _paths(campaign)
    _review(campaign, {paths[0][0]: "approved", paths[1][0]: "rejected"})
    code, out = _status(campaign, "--format", "markdown", "--require-approved", capsys=capsys)
    assert code == 1
    assert "| job | variants | ready | approved | rejected | undecided |" in out
    assert "| pair | 3 | 1 | 1 | 1 | 4 |" in out
    assert "| twice | 1 | 0 | 0 | 0 | 2 |" in out
    assert "| **total** | 4 | 1 | 1 | 1 | 6 |" in out
    assert "❌ **Not ready to ship**: 3 of 4 variants have no approved image." in out
    assert f"| `{ids[1]}` | pair | x=b | undecided | 2 |" in out
    assert f"| `{ids[3]}` | twice | - | undecided | 2 |" in out
    code, out = _status(campaign, "--format", "markdown", capsys=capsys)
    assert code == 0
    assert "**Not approved yet**" not in out  # the list comes with the gate only
