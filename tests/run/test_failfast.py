"""Fail fast, say it once: an unreachable host, a refused key; the summary as JSON."""

from __future__ import annotations

import json
import time

from _support.campaign import Campaign, run_cli
from _support.fakeapi import fake_api

from seedance_batch.lockfile import read_lockfile
from seedance_batch.simulator import SimulatorConfig, serve


def test_an_unreachable_host_stops_the_run_within_30_s_saying_it_once(campaign: Campaign) -> None:
    """Nobody listens at the base URL: one line naming the host, within 30 s, exit 1, every
    job new again, no gallery nor results written."""
    with fake_api(lambda _key: (500, {})) as api:
        base_url = api.base_url  # a free port, closed once the block ends
    started = time.monotonic()
    done = run_cli("run", str(campaign.manifest), "--base-url", base_url, "--no-progress")
    took = time.monotonic() - started
    assert done.returncode == 1, done.stderr
    assert took < 30
    assert done.stderr.count("cannot reach the API") == 1, done.stderr
    assert "127.0.0.1" in done.stderr
    snapshot = read_lockfile(campaign.lockfile)
    assert snapshot is not None
    assert {r.state for r in snapshot.jobs.values()} == {"new"}
    assert "possible double charges: 0" in done.stderr
    assert not (campaign.out / "index.html").exists()
    assert not (campaign.out / "results.jsonl").exists()


def test_a_refused_key_is_one_line_first_exit_3_and_writes_no_gallery(campaign: Campaign) -> None:
    """A key the API refuses: one line, the first, exit 3; no index.html or results.jsonl."""
    with serve(SimulatorConfig(keys=frozenset({"sk-the-right-one"}))) as sim:
        done = run_cli("run", str(campaign.manifest), "--base-url", sim.base_url)
    assert done.returncode == 3, done.stderr
    lines = done.stderr.splitlines()
    assert len([line for line in lines if "refused the key" in line]) == 1, done.stderr
    assert "refused the key" in lines[0]
    assert not (campaign.out / "index.html").exists()
    assert not (campaign.out / "results.jsonl").exists()


def test_run_format_json_prints_the_summary_as_one_object(campaign: Campaign) -> None:
    """``run --format json``: one JSON object on stdout with states, credits, double charges,
    elapsed, the paths of the lockfile, results.jsonl and index.html, and the failures."""
    with serve(SimulatorConfig(seed=60)) as sim:
        done = run_cli(
            "run", str(campaign.manifest), "--base-url", sim.base_url, "--format", "json"
        )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["states"] == {"succeeded": 12}
    assert summary["credits"]["charged"] == 32
    assert summary["credits"]["first_attempts"] == 32
    assert summary["possible_double_charges"] == 0
    assert summary["elapsed"] > 0
    assert summary["lockfile"] == str(campaign.lockfile)
    assert summary["results"].endswith("results.jsonl")
    assert summary["gallery"].endswith("index.html")
    assert summary["failures"] == []
    assert summary["exit_code"] == 0
