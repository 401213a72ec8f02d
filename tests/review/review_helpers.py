"""Helpers of the review tests: a small campaign run against the simulator, copied per test."""

from __future__ import annotations

import shutil
import textwrap
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"

#: 9 jobs, 10 images: a model bake-off of two products in two sizes, and a job of two images.
MANIFEST = """
version: 1
name: review-test
defaults: {model: gpt-image-2-all}
execution:
  concurrency: 4
  requests_per_second: 200
  poll_interval: 0.05
  poll_max: 0.2
  task_timeout: 20
jobs:
  - name: hero
    prompt: "A {product} bottle by Lumen on a pedestal"
    matrix:
      product: [serum, cream]
      size: ["1:1", "16:9"]
      model: [gpt-image-2-all, gpt-image-1.5-all]
  - name: pair
    prompt: "Two bottles side by side"
    n: 2
"""
IMAGES = 10


@dataclass(frozen=True)
class Campaign:
    """A campaign folder: the manifest, its lockfile and its outputs, as a run left them."""

    folder: Path

    @property
    def manifest(self) -> Path:
        return self.folder / "review-test.yaml"

    @property
    def review_file(self) -> Path:
        return self.folder / "review-test.review.yaml"

    @property
    def out(self) -> Path:
        return self.folder / "outputs" / "review-test"

    def copy(self, to: Path) -> Campaign:
        """The same campaign in ``to`` (a fresh review file, fresh thumbnails)."""
        shutil.copytree(self.folder, to)
        return Campaign(to)


def run_campaign(folder: Path) -> Campaign:
    """Write the manifest in ``folder`` and run it to the end against the simulator."""
    from seedance_batch import RunOptions, load_manifest, run
    from seedance_batch.simulator import SimulatorConfig, serve

    folder.mkdir(parents=True, exist_ok=True)
    campaign = Campaign(folder)
    campaign.manifest.write_text(textwrap.dedent(MANIFEST).lstrip(), encoding="utf-8")
    with serve(SimulatorConfig(seed=3, latency=0.05)) as simulator:
        options = RunOptions(base_url=simulator.base_url, poll_interval=0.05, poll_max=0.2)
        # In a thread: Playwright's sync API may already run an event loop in this one.
        with ThreadPoolExecutor(1) as pool:
            manifest = load_manifest(campaign.manifest)
            summary = pool.submit(run, manifest, options, api_key="sk-review-test").result()
    assert (summary.succeeded, summary.images_saved) == (9, IMAGES), summary
    return campaign


def host_of(url: str) -> str:
    """``127.0.0.1:<port>`` of ``http://127.0.0.1:<port>/``."""
    return httpx.URL(url).netloc.decode()
