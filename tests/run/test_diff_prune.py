"""diff shows what a change costs; prune removes orphans and their files, and nothing else."""

from __future__ import annotations

import json

from _support.campaign import Campaign, run_cli, tree_bytes

from seedance_batch import load_manifest, plan
from seedance_batch._layout import image_relpath
from seedance_batch.lockfile import read_lockfile
from seedance_batch.simulator import SimulatorConfig, serve


def test_diff_counts_added_removed_kept_and_credits(campaign: Campaign) -> None:
    """A changed axis shows as removed and added jobs with their credits; over budget exits 3."""
    new = campaign.folder / "new.yaml"
    new.write_text(campaign.manifest.read_text().replace("[studio, dusk]", "[studio, noon, dusk]"))
    done = run_cli("diff", str(campaign.manifest), str(new), "--format", "json")
    assert done.returncode == 0, done.stderr
    change = json.loads(done.stdout)
    assert len(change["added"]) == 4 and change["removed"] == [] and change["kept"] == 12
    assert change["credits"] == {"added": 8, "removed": 0, "old_total": 32, "new_total": 40}
    assert {a["variant"]["light"] for a in change["added"]} == {"noon"}
    refused = run_cli("diff", str(campaign.manifest), str(new), "--max-credits", "7")
    assert refused.returncode == 3
    assert "OVER BUDGET: spent 0 of 7 credits, this change would add 8 (1 over)" in refused.stdout
    markdown = run_cli("diff", str(campaign.manifest), str(new), "--format", "markdown").stdout
    assert markdown.splitlines()[4].startswith("| 4 | 0 | 12 | +8 | 32 | 40 |")


def test_prune_removes_orphans_and_their_files_and_nothing_else(campaign: Campaign) -> None:
    """After an edit, prune drops orphaned entries and their images; other files survive."""
    with serve(SimulatorConfig(seed=41)) as sim:
        assert run_cli("run", str(campaign.manifest), "--base-url", sim.base_url).returncode == 0
    old_ids = {job.id for job in plan(load_manifest(campaign.manifest)).jobs}
    campaign.manifest.write_text(
        campaign.manifest.read_text().replace("[studio, dusk]", "[studio]")
    )
    kept = {job.id: job for job in plan(load_manifest(campaign.manifest)).jobs}
    orphans = old_ids - set(kept)
    assert len(orphans) == 4
    user_file = campaign.out / "notes.txt"
    user_file.write_text("mine")
    status = json.loads(run_cli("status", str(campaign.manifest), "--format", "json").stdout)
    assert {j["id"] for j in status["jobs"] if j.get("orphaned")} == orphans
    before = tree_bytes(campaign.folder)
    dry = run_cli("prune", str(campaign.manifest), "--dry-run")
    assert dry.returncode == 0 and "would remove 4 orphaned jobs and 4 files" in dry.stdout
    assert tree_bytes(campaign.folder) == before
    done = run_cli("prune", str(campaign.manifest))
    assert done.returncode == 0, done.stderr
    snapshot = read_lockfile(campaign.lockfile)
    assert snapshot is not None and set(snapshot.jobs) == set(kept)
    after = tree_bytes(campaign.folder)
    gone = set(before) - set(after)
    assert len(gone) == 4 and all(any(o[:8] in path for o in orphans) for path in gone)
    assert user_file.read_text() == "mine"
    for job in kept.values():
        assert (campaign.out / image_relpath(job.output, 1, "png")).is_file()
    assert (
        run_cli("run", str(campaign.manifest), "--base-url", "http://127.0.0.1:9").returncode == 0
    )
