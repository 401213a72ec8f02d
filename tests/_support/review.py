"""Helpers of the review tests: a small campaign run against the simulator, copied per test."""

from __future__ import annotations

from pathlib import Path

import httpx

from _support.campaign import RanCampaign, manifest_text, run_to_the_end

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"

#: 9 jobs, 10 images: a model bake-off of two products in two sizes, and a job of two images.
MANIFEST = manifest_text(
    "review-test",
    """jobs:
  - name: hero
    prompt: "A {product} bottle by Lumen on a pedestal"
    matrix:
      product: [serum, cream]
      size: ["1:1", "16:9"]
      model: [gpt-image-2-all, gpt-image-1.5-all]
  - name: pair
    prompt: "Two bottles side by side"
    n: 2
""",
)
IMAGES = 10


class Campaign(RanCampaign):
    """The review tests' campaign, as a run left it."""

    NAME = "review-test"


def run_campaign(folder: Path) -> Campaign:
    """Write the manifest in ``folder`` and run it to the end against the simulator."""
    campaign = Campaign(folder)
    summary = run_to_the_end(campaign, MANIFEST, seed=3, key="sk-review-test")
    assert (summary.succeeded, summary.images_saved) == (9, IMAGES), summary
    return campaign


def host_of(url: str) -> str:
    """``127.0.0.1:<port>`` of ``http://127.0.0.1:<port>/``."""
    return httpx.URL(url).netloc.decode()
