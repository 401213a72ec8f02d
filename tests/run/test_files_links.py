"""Nothing is written outside <out>, whatever is planted inside it: links at guessable
temporary names, recorded images turned into links, and hand-edited orphans for prune."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from _support.campaign import KEY, Campaign, run_cli
from _support.checks import assert_complete

from seedance_batch import RunOptions, load_manifest, plan, run
from seedance_batch._layout import image_relpath
from seedance_batch._results import result_lines, write_results
from seedance_batch.cli._errors import run_exit_code
from seedance_batch.lockfile import read_lockfile
from seedance_batch.simulator import SimulatorConfig, serve

PRECIOUS = b"precious, not an image\n"


def _victim(campaign: Campaign) -> Path:
    victim = campaign.folder / "victim.txt"
    victim.write_bytes(PRECIOUS)
    return victim


def _is_regular(path: Path) -> bool:
    return stat.S_ISREG(os.lstat(path).st_mode)


def _outside_copy_as_link(campaign: Campaign, image: Path) -> Path:
    """Replace ``image`` by a link to a copy of its bytes outside <out>; return the copy."""
    copy = campaign.folder / f"copy-{image.name}"
    copy.write_bytes(image.read_bytes())
    image.unlink()
    image.symlink_to(copy)
    return copy


def test_links_at_guessable_temporary_names_leave_their_targets_untouched(
    campaign: Campaign,
) -> None:
    """Links planted at every old temporary name (.N.part in each job folder,
    .results.jsonl.tmp-<pid>, .index.html.tmp-<pid>) never see a byte: the run completes."""
    victim = _victim(campaign)
    jobs = plan(load_manifest(campaign.manifest)).jobs
    planted = [
        campaign.out / f".results.jsonl.tmp-{os.getpid()}",
        campaign.out / f".index.html.tmp-{os.getpid()}",
    ]
    for job in jobs:
        planted += [campaign.out / job.output / f".{k}.part" for k in (1, 2)]
    for link in planted:
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(victim)
    with serve(SimulatorConfig(seed=71)) as sim:
        summary = run(
            load_manifest(campaign.manifest), RunOptions(base_url=sim.base_url), api_key=KEY
        )
    assert run_exit_code(summary) == 0, summary.messages
    assert victim.read_bytes() == PRECIOUS
    for link in planted:
        assert link.is_symlink()
        link.unlink()
    assert_complete(campaign.manifest, campaign.out)


def test_a_recorded_image_now_a_link_is_missing_and_downloaded_again(campaign: Campaign) -> None:
    """An image replaced by a link (to a same-size file elsewhere) counts as missing: the rerun
    downloads it again from its task (no create) into a regular file; the link's target stays."""
    with serve(SimulatorConfig(seed=72)) as sim:
        assert run_cli("run", str(campaign.manifest), "--base-url", sim.base_url).returncode == 0
        image = next(campaign.out.rglob("*-1.png"))
        original = image.read_bytes()
        copy = _outside_copy_as_link(campaign, image)
        copy_inode = os.stat(copy).st_ino
        creates = sim.counters.creates
        again = run_cli("run", str(campaign.manifest), "--base-url", sim.base_url)
        assert sim.counters.creates == creates
    assert again.returncode == 0, again.stderr
    assert "images missing; downloading again" in again.stderr
    assert _is_regular(image) and image.read_bytes() == original
    assert os.stat(copy).st_ino == copy_inode and copy.read_bytes() == original
    assert_complete(campaign.manifest, campaign.out)


def test_gallery_and_results_count_a_linked_image_as_missing(campaign: Campaign) -> None:
    """A recorded image that is now a link, or a folder, is shown as missing in index.html and
    left out of results.jsonl: neither lists a file that is not the one the run saved."""
    with serve(SimulatorConfig(seed=73)) as sim:
        assert run_cli("run", str(campaign.manifest), "--base-url", sim.base_url).returncode == 0
    linked = campaign.out / next(iter(sorted(campaign.out.rglob("*-1.png")))).relative_to(
        campaign.out
    )
    _outside_copy_as_link(campaign, linked)
    pair_folder = next((campaign.out / "pair").iterdir())
    folder_instead = pair_folder / f"pair-{pair_folder.name}-2.png"
    folder_instead.unlink()
    folder_instead.mkdir()
    done = run_cli("gallery", str(campaign.manifest))
    assert done.returncode == 0, done.stderr
    page = (campaign.out / "index.html").read_text()
    for path in (linked, folder_instead):
        assert f"missing: {path.relative_to(campaign.out).as_posix()}" in page
    snapshot = read_lockfile(campaign.lockfile)
    assert snapshot is not None
    write_results(
        campaign.out, result_lines(plan(load_manifest(campaign.manifest)).jobs, snapshot.jobs)
    )
    listed = {
        json.loads(line)["path"]
        for line in (campaign.out / "results.jsonl").read_text().splitlines()
    }
    assert len(listed) == 12
    assert linked.relative_to(campaign.out).as_posix() not in listed
    assert folder_instead.relative_to(campaign.out).as_posix() not in listed


def _orphan_the_dusk_jobs(campaign: Campaign) -> None:
    campaign.manifest.write_text(
        campaign.manifest.read_text().replace("[studio, dusk]", "[studio]")
    )


def _orphans(campaign: Campaign) -> list[str]:
    planned = {job.id for job in plan(load_manifest(campaign.manifest)).jobs}
    snapshot = read_lockfile(campaign.lockfile)
    assert snapshot is not None
    return [job_id for job_id in snapshot.jobs if job_id not in planned]


def test_prune_never_removes_a_file_a_planned_job_records(campaign: Campaign) -> None:
    """A hand-edited orphan entry whose image points at a planned job's image: prune removes
    the entry and the orphans' own files, never the planned job's image."""
    with serve(SimulatorConfig(seed=74)) as sim:
        assert run_cli("run", str(campaign.manifest), "--base-url", sim.base_url).returncode == 0
    _orphan_the_dusk_jobs(campaign)
    planned = plan(load_manifest(campaign.manifest)).jobs
    pair = next(job for job in planned if job.job == "pair")
    data = json.loads(campaign.lockfile.read_text())  # the hand edit
    data["jobs"][_orphans(campaign)[0]]["images"][0]["path"] = image_relpath(pair.output, 1, "png")
    campaign.lockfile.write_text(json.dumps(data, indent=2) + "\n")
    kept = {job.output: sorted((campaign.out / job.output).iterdir()) for job in planned}
    done = run_cli("prune", str(campaign.manifest))
    assert done.returncode == 0, done.stderr
    for output, files in kept.items():
        assert sorted((campaign.out / output).iterdir()) == files
    assert (campaign.out / image_relpath(pair.output, 1, "png")).is_file()
    snapshot = read_lockfile(campaign.lockfile)
    assert snapshot is not None and set(snapshot.jobs) == {job.id for job in planned}


def test_prune_never_follows_a_link_at_an_orphans_folder(campaign: Campaign) -> None:
    """An orphan's folder replaced by a link to a planned job's folder: prune removes nothing
    through it; the planned job's images stay."""
    with serve(SimulatorConfig(seed=75)) as sim:
        assert run_cli("run", str(campaign.manifest), "--base-url", sim.base_url).returncode == 0
    _orphan_the_dusk_jobs(campaign)
    planned = plan(load_manifest(campaign.manifest)).jobs
    pair = next(job for job in planned if job.job == "pair")
    snapshot = read_lockfile(campaign.lockfile)
    assert snapshot is not None
    orphan = next(r for i, r in snapshot.jobs.items() if i not in {j.id for j in planned})
    folder = campaign.out / orphan.images[0].path.rpartition("/")[0]
    for file in folder.iterdir():
        file.unlink()
    folder.rmdir()
    folder.symlink_to(campaign.out / pair.output, target_is_directory=True)
    before = sorted((campaign.out / pair.output).iterdir())
    done = run_cli("prune", str(campaign.manifest))
    assert done.returncode == 0, done.stderr
    assert sorted((campaign.out / pair.output).iterdir()) == before
    assert len(before) == 2
