"""A job renamed in the manifest keeps its id: the next run moves its files to the new path,
with no create and no download; gallery and status find a recorded output folder."""

from __future__ import annotations

import json
from types import SimpleNamespace

from _support.campaign import Campaign, run_cli
from _support.checks import assert_complete

from seedance_batch import load_manifest, plan
from seedance_batch._layout import image_relpath
from seedance_batch._run_files import output_folder
from seedance_batch.lockfile import read_lockfile
from seedance_batch.simulator import SimulatorConfig, serve


def test_a_renamed_job_moves_its_files_without_a_create_or_a_download(campaign: Campaign) -> None:
    """pair renamed duo (same request, same id): the rerun sends no create and downloads no
    image; the images are at duo's path, recorded so, and pair's folder is gone."""
    with serve(SimulatorConfig(seed=81)) as sim:
        assert run_cli("run", str(campaign.manifest), "--base-url", sim.base_url).returncode == 0
        before = plan(load_manifest(campaign.manifest)).jobs
        old = next(job for job in before if job.job == "pair")
        old_bytes = sorted(p.read_bytes() for p in (campaign.out / old.output).iterdir())
        campaign.manifest.write_text(
            campaign.manifest.read_text().replace("name: pair", "name: duo")
        )
        new = next(job for job in plan(load_manifest(campaign.manifest)).jobs if job.job == "duo")
        assert new.id == old.id and new.output != old.output
        counters = sim.counters
        again = run_cli("run", str(campaign.manifest), "--base-url", sim.base_url)
        after = sim.counters
    assert again.returncode == 0, again.stderr
    assert after.create_requests == counters.create_requests
    assert len(after.image_requests) == len(counters.image_requests)
    assert sorted(p.read_bytes() for p in (campaign.out / new.output).iterdir()) == old_bytes
    assert not (campaign.out / "pair").exists()
    snapshot = read_lockfile(campaign.lockfile)
    assert snapshot is not None
    assert [i.path for i in snapshot.jobs[new.id].images] == [
        image_relpath(new.output, 1, "png"),
        image_relpath(new.output, 2, "png"),
    ]
    results = (campaign.out / "results.jsonl").read_text()
    assert f'"path": "{image_relpath(new.output, 1, "png")}"' in results and "pair/" not in results
    assert_complete(campaign.manifest, campaign.out)


def test_a_renamed_job_whose_new_place_is_taken_downloads_again(campaign: Campaign) -> None:
    """When the new path is already taken, no move overwrites it: the image counts as missing
    and is fetched again from its task, like any missing image (no create)."""
    with serve(SimulatorConfig(seed=82)) as sim:
        assert run_cli("run", str(campaign.manifest), "--base-url", sim.base_url).returncode == 0
        campaign.manifest.write_text(
            campaign.manifest.read_text().replace("name: pair", "name: duo")
        )
        new = next(job for job in plan(load_manifest(campaign.manifest)).jobs if job.job == "duo")
        (campaign.out / new.output).mkdir(parents=True)
        squatter = campaign.out / image_relpath(new.output, 1, "png")
        squatter.write_bytes(b"someone else's")
        creates = sim.counters.create_requests
        again = run_cli("run", str(campaign.manifest), "--base-url", sim.base_url)
        assert sim.counters.create_requests == creates
    assert again.returncode == 0, again.stderr
    assert_complete(campaign.manifest, campaign.out)


def test_gallery_finds_the_output_folder_the_lockfile_records(campaign: Campaign) -> None:
    """After `run --out elsewhere`, `gallery` without --out rewrites elsewhere/index.html;
    `gallery --out` still wins."""
    elsewhere = campaign.folder / "elsewhere"
    with serve(SimulatorConfig(seed=83)) as sim:
        done = run_cli(
            "run", str(campaign.manifest), "--base-url", sim.base_url, "--out", str(elsewhere)
        )
        assert done.returncode == 0, done.stderr
    (elsewhere / "index.html").unlink()
    shown = run_cli("gallery", str(campaign.manifest))
    assert shown.returncode == 0, shown.stderr
    assert (elsewhere / "index.html").is_file()
    assert not campaign.out.exists()
    third = campaign.folder / "third"
    assert run_cli("gallery", str(campaign.manifest), "--out", str(third)).returncode == 0
    assert (third / "index.html").is_file()
    status = json.loads(run_cli("status", str(campaign.manifest), "--format", "json").stdout)
    assert status["totals"]["by_state"] == {"succeeded": 12}


def test_the_output_folder_is_the_flag_then_the_lockfiles_then_the_manifests(
    campaign: Campaign,
) -> None:
    """--out wins; else the folder the lockfile records (relative to the lockfile's folder);
    else the manifest's. (A stand-in carries `output` until the lockfile has the field.)"""
    manifest = load_manifest(campaign.manifest)
    recorded = SimpleNamespace(output="../shared/outs")
    lockfile = campaign.folder / "locks" / "campaign.lock.json"
    flag = campaign.folder / "flag"
    assert output_folder(manifest, lockfile, recorded, flag) == flag
    assert output_folder(manifest, lockfile, recorded) == campaign.folder / "locks/../shared/outs"
    assert output_folder(manifest, lockfile, SimpleNamespace(output=None)) == manifest.output_dir
    assert output_folder(manifest, lockfile, None) == manifest.output_dir


def test_a_lockfile_of_numbered_files_moves_them_to_readable_names(campaign: Campaign) -> None:
    """Images recorded as ``<folder>/1.png`` (as runs before readable names left them) move to
    ``<folder>/<job>-<variant>-<id8>-1.png`` on the next run: no create, no download."""
    with serve(SimulatorConfig(seed=83)) as sim:
        assert run_cli("run", str(campaign.manifest), "--base-url", sim.base_url).returncode == 0
        data = json.loads(campaign.lockfile.read_text())
        contents = {}
        for entry in data["jobs"].values():
            for index, image in enumerate(entry["images"], start=1):
                folder, _, name = image["path"].rpartition("/")
                old = f"{folder}/{index}.{name.rpartition('.')[2]}"
                (campaign.out / image["path"]).rename(campaign.out / old)
                contents[old] = (campaign.out / old).read_bytes()
                image["path"] = old
        campaign.lockfile.write_text(json.dumps(data, indent=2) + "\n")
        counters = sim.counters
        again = run_cli("run", str(campaign.manifest), "--base-url", sim.base_url)
        after = sim.counters
    assert again.returncode == 0, again.stderr
    assert after.create_requests == counters.create_requests
    assert len(after.image_requests) == len(counters.image_requests)
    snapshot = read_lockfile(campaign.lockfile)
    assert snapshot is not None
    moved = 0
    for record in snapshot.jobs.values():
        for index, image in enumerate(record.images, start=1):
            folder = image.path.rpartition("/")[0]
            assert image.path == f"{folder}/{folder.replace('/', '-')}-{index}.png"
            old = f"{folder}/{index}.png"
            assert not (campaign.out / old).exists()
            assert (campaign.out / image.path).read_bytes() == contents[old]
            moved += 1
    assert moved == len(contents) > 0
    assert_complete(campaign.manifest, campaign.out)
