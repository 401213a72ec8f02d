"""A journal that cannot be written stops the run at once and loses no task id."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from _support.campaign import KEY, Campaign, run_cli, start_cli
from _support.checks import assert_charged_honestly, assert_complete

from seedance_batch.lockfile import read_lockfile
from seedance_batch.simulator import SimulatorConfig, serve


@contextlib.contextmanager
def _small_tmpfs(folder: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs mounted at ``folder`` (root only), unmounted after the block."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs to fill needs root")
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def _fill(folder: Path) -> Path:
    """Fill the file system of ``folder`` to the last byte; the filler's path."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    try:
        for size in (65536, 4096, 1):
            with contextlib.suppress(OSError):
                while os.write(fd, b"\0" * size) == size:
                    pass
    finally:
        os.close(fd)
    return filler


def test_a_full_disk_under_the_journal_stops_the_run_and_prints_every_task_id(
    campaign: Campaign,
) -> None:
    """The lockfile's disk fills while creates wait for their answers: the run stops creating,
    exits 1 (not 2), prints every task id it could not record; after the fix, a rerun resends
    those creates with their keys and completes, paid for once."""
    with _small_tmpfs(campaign.folder / "disk") as disk:
        lockfile = disk / "campaign.lock.json"
        args = ["run", str(campaign.manifest), "--lockfile", str(lockfile), "--no-progress"]
        with serve(SimulatorConfig(seed=80, create_delay=1.5)) as sim:
            process = start_cli(*args, "--base-url", sim.base_url)
            deadline = time.monotonic() + 30
            while sim.counters.creates < 4 and time.monotonic() < deadline:
                time.sleep(0.01)
            filler = _fill(disk)
            _, stderr = process.communicate(timeout=60)
            task_ids = sim.counters.task_ids
            assert process.returncode == 1, stderr
            assert "lockfile cannot be written" in stderr
            snapshot = read_lockfile(lockfile)
            assert snapshot is not None
            recorded = {r.task_id for r in snapshot.jobs.values()}
            # every task paid for is in the lockfile or printed (how many of the creates in
            # flight got recorded depends on the slack left in the journal's last page)
            for task_id in task_ids:
                assert task_id in recorded or task_id in stderr
            assert len(task_ids) < 12  # the run stopped creating
            assert "Traceback" not in stderr
            filler.unlink()
            again = run_cli(*args, "--base-url", sim.base_url)
            counters = sim.counters
        assert again.returncode == 0, again.stderr
        assert counters.creates == 12
        (campaign.folder / "campaign.lock.json").write_bytes(lockfile.read_bytes())
    assert_complete(campaign.manifest, campaign.out)
    assert_charged_honestly(campaign.manifest, counters, KEY)
