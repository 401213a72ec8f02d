"""``seedance-batch gallery MANIFEST``: rewrites index.html from the lockfile and the files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from _support.gallery import DEMO, build_campaign

from seedance_batch import load_manifest
from seedance_batch.cli import main
from seedance_batch.lockfile import default_lockfile_path


def test_gallery_command_rewrites_the_run_page(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With the default lockfile and folder it writes what the run wrote, byte for byte."""
    manifest_path = tmp_path / "demo.yaml"
    shutil.copy(DEMO, manifest_path)
    out = load_manifest(manifest_path).output_dir
    campaign = build_campaign(
        manifest_path, out, fail=[1], lockfile=default_lockfile_path(manifest_path)
    )
    written = campaign.index.read_bytes()
    campaign.index.unlink()
    assert main(["gallery", str(manifest_path)]) == 0
    captured = capsys.readouterr()
    assert captured.out == f"{campaign.index}\n"
    assert campaign.index.read_bytes() == written
    assert "8 of 9 jobs done, " in written.decode()


def test_gallery_command_with_out_and_lockfile(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--out and --lockfile choose the folder and the lockfile."""
    lockfile = tmp_path / "elsewhere.lock.json"
    campaign = build_campaign(DEMO, tmp_path / "custom out", lockfile=lockfile)
    written = campaign.index.read_bytes()
    campaign.index.unlink()
    code = main(["gallery", str(DEMO), "--out", str(campaign.out), "--lockfile", str(lockfile)])
    assert code == 0
    assert capsys.readouterr().out == f"{campaign.index}\n"
    assert campaign.index.read_bytes() == written


def test_gallery_command_without_lockfile(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before any run the page says that nothing is done yet, with a warning on stderr."""
    out = tmp_path / "out"
    code = main(
        ["gallery", str(DEMO), "--out", str(out), "--lockfile", str(tmp_path / "none.json")]
    )
    captured = capsys.readouterr()
    assert code == 0
    assert "no lockfile" in captured.err
    text = (out / "index.html").read_text(encoding="utf-8")
    assert "0 of 9 jobs done" in text
    assert "<img " not in text


def test_gallery_command_bad_manifest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A manifest with errors exits 2 and writes nothing."""
    manifest_path = tmp_path / "bad.yaml"
    manifest_path.write_text("version: 1\nname: Bad Name\njobs: []\n", encoding="utf-8")
    assert main(["gallery", str(manifest_path), "--out", str(tmp_path / "out")]) == 2
    assert "bad.yaml" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
