"""The file-system boundary of a run: a folder that cannot take the images is found before
anything is spent, and a file that cannot be written mid-run is one line, exit 1, with the
lockfile valid and a rerun that submits nothing twice. Real mounts (as root), real files."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from _support.campaign import Campaign, run_cli
from _support.checks import assert_complete

from seedance_batch.lockfile import read_lockfile
from seedance_batch.simulator import SimulatorConfig, serve


def _mount(*args: str) -> None:
    done = subprocess.run(["mount", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"mount {' '.join(args)} failed: {done.stderr.strip()}")


@contextmanager
def mounted(folder: Path, *options: str) -> Iterator[Path]:
    """A small tmpfs at ``folder`` (``-o`` options given), unmounted afterwards; skipped with
    its reason when not root or when mount fails."""
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a tmpfs")
    folder.mkdir(parents=True, exist_ok=True)
    _mount("-t", "tmpfs", "-o", ",".join(options), "tmpfs", str(folder))
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False, capture_output=True)


def _one_error_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("seedance-batch: error:")]
    assert len(errors) == 1, stderr
    return errors[0]


def _states(campaign: Campaign) -> list[str]:
    snapshot = read_lockfile(campaign.lockfile)  # valid, whatever happened
    assert snapshot is not None
    return sorted(r.state for r in snapshot.jobs.values())


# -- before anything is spent -----------------------------------------------------------------


def test_a_read_only_output_folder_is_refused_before_any_create(campaign: Campaign) -> None:
    """A read-only --out (a tmpfs remounted ro): one line naming it, exit 1, no create sent."""
    with mounted(campaign.folder / "ro", "size=1m") as folder:
        _mount("-o", "remount,ro", str(folder))
        with serve(SimulatorConfig(seed=61)) as sim:
            done = run_cli(
                "run", str(campaign.manifest), "--base-url", sim.base_url, "--out", str(folder)
            )
            counters = sim.counters
    assert done.returncode == 1, done.stderr
    line = _one_error_line(done.stderr)
    assert str(folder) in line and "Read-only file system" in line
    assert counters.create_requests == 0
    assert set(_states(campaign)) == {"new"}


def test_a_file_where_the_output_folder_must_be_is_refused_before_any_create(
    campaign: Campaign,
) -> None:
    """--out naming a file: one line naming it, exit 1, no create sent, the file untouched."""
    blocker = campaign.folder / "taken"
    blocker.write_text("mine")
    with serve(SimulatorConfig(seed=62)) as sim:
        done = run_cli(
            "run",
            str(campaign.manifest),
            "--base-url",
            sim.base_url,
            "--out",
            str(blocker / "campaign"),
        )
        counters = sim.counters
    assert done.returncode == 1, done.stderr
    assert str(blocker) in _one_error_line(done.stderr)
    assert counters.create_requests == 0
    assert blocker.read_text() == "mine"
    assert set(_states(campaign)) == {"new"}


def test_an_output_path_too_long_is_refused_before_any_create(campaign: Campaign) -> None:
    """An --out whose name is longer than the file system allows: one line, exit 1, no create."""
    too_long = campaign.folder / ("x" * 300)
    with serve(SimulatorConfig(seed=63)) as sim:
        done = run_cli(
            "run", str(campaign.manifest), "--base-url", sim.base_url, "--out", str(too_long)
        )
        counters = sim.counters
    assert done.returncode == 1, done.stderr
    assert "too long" in _one_error_line(done.stderr).lower()
    assert counters.create_requests == 0


def test_an_output_folder_too_deep_for_the_images_is_refused(campaign: Campaign) -> None:
    """An --out so deep that the images' paths would pass PATH_MAX: refused before a create."""
    deep = campaign.folder.joinpath(*(["d" * 200] * 20))
    with serve(SimulatorConfig(seed=64)) as sim:
        done = run_cli(
            "run", str(campaign.manifest), "--base-url", sim.base_url, "--out", str(deep)
        )
        counters = sim.counters
    assert done.returncode == 1, done.stderr
    _one_error_line(done.stderr)
    assert counters.create_requests == 0


# -- mid-run ------------------------------------------------------------------------------------


def test_a_full_disk_is_one_line_and_a_rerun_after_the_fix_submits_nothing_twice(
    campaign: Campaign,
) -> None:
    """--out on a 64 KiB tmpfs fills mid-run: exit 1, no traceback, the reason said, the
    lockfile valid; after the tmpfs grows, the rerun completes with no second create."""
    with mounted(campaign.folder / "small", "size=64k") as folder:
        out = folder / "campaign"
        with serve(SimulatorConfig(seed=65)) as sim:
            args = ("run", str(campaign.manifest), "--base-url", sim.base_url, "--out", str(out))
            full = run_cli(*args)
            creates = sim.counters.creates
            assert full.returncode == 1, full.stderr
            assert "Traceback" not in full.stderr
            assert "No space left on device" in full.stderr
            assert creates == 12
            assert "submitting" not in _states(campaign)
            _mount("-o", "remount,size=4m", str(folder))
            again = run_cli(*args)
            assert sim.counters.creates == creates
        assert again.returncode == 0, again.stderr
        assert_complete(campaign.manifest, out)


def test_a_file_where_a_job_folder_must_be_is_one_line_and_resumes(campaign: Campaign) -> None:
    """A file at <out>/pair: the pair job is left with one line naming it (no traceback),
    exit 1; once the file is gone, the rerun polls its task and creates nothing new."""
    campaign.out.mkdir(parents=True)
    (campaign.out / "pair").write_text("not a folder")
    with serve(SimulatorConfig(seed=66)) as sim:
        first = run_cli("run", str(campaign.manifest), "--base-url", sim.base_url)
        creates = sim.counters.creates
        assert first.returncode == 1, first.stderr
        assert "Traceback" not in first.stderr
        assert [line for line in first.stderr.splitlines() if "pair" in line and "a file" in line]
        assert "submitted" in _states(campaign)
        (campaign.out / "pair").unlink()
        again = run_cli("run", str(campaign.manifest), "--base-url", sim.base_url)
        assert sim.counters.creates == creates == 12
    assert again.returncode == 0, again.stderr
    assert_complete(campaign.manifest, campaign.out)


def test_a_read_only_job_folder_mid_run_is_exit_1_and_resumes(campaign: Campaign) -> None:
    """<out>/hero on a read-only tmpfs: the hero jobs are left (exit 1, no traceback), the rest
    done; once it is writable, the rerun completes with no second create."""
    with mounted(campaign.out / "hero", "size=1m") as hero:
        _mount("-o", "remount,ro", str(hero))
        with serve(SimulatorConfig(seed=67)) as sim:
            first = run_cli("run", str(campaign.manifest), "--base-url", sim.base_url)
            creates = sim.counters.creates
            assert first.returncode == 1, first.stderr
            assert "Traceback" not in first.stderr
            assert "Read-only file system" in first.stderr
            assert _states(campaign).count("succeeded") == 4
            _mount("-o", "remount,rw", str(hero))
            again = run_cli("run", str(campaign.manifest), "--base-url", sim.base_url)
            assert sim.counters.creates == creates == 12
        assert again.returncode == 0, again.stderr
        assert_complete(campaign.manifest, campaign.out)


# -- gallery and prune ----------------------------------------------------------------------------


def test_gallery_and_prune_on_a_read_only_folder_are_one_line_and_exit_1(
    campaign: Campaign,
) -> None:
    """`gallery` and `prune` on a folder remounted read-only: one line with the path and the
    reason, exit 1, the orphans still recorded; once writable again, prune removes them."""
    with mounted(campaign.folder / "outs", "size=2m") as folder:
        out = ("--out", str(folder))
        with serve(SimulatorConfig(seed=68)) as sim:
            done = run_cli("run", str(campaign.manifest), "--base-url", sim.base_url, *out)
            assert done.returncode == 0, done.stderr
        campaign.manifest.write_text(
            campaign.manifest.read_text().replace("[studio, dusk]", "[studio]")
        )
        _mount("-o", "remount,ro", str(folder))
        gallery = run_cli("gallery", str(campaign.manifest), *out)
        assert gallery.returncode == 1, gallery.stderr
        line = _one_error_line(gallery.stderr)
        assert str(folder / "index.html") in line and "Read-only file system" in line
        prune = run_cli("prune", str(campaign.manifest), *out)
        assert prune.returncode == 1, prune.stderr
        line = _one_error_line(prune.stderr)
        assert str(folder) in line and "Read-only file system" in line
        assert len(_states(campaign)) == 12
        _mount("-o", "remount,rw", str(folder))
        again = run_cli("prune", str(campaign.manifest), *out)
        assert again.returncode == 0, again.stderr
        assert len(_states(campaign)) == 8
