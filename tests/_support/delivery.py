"""Helpers of the delivery tests: a small campaign run against the simulator, copied per test,
its review file written, and the CLI and exiftool as real processes."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest

from _support.campaign import RanCampaign, manifest_text, run_cli, run_to_the_end
from seedance_batch._decisions import Entry, render_review

#: 5 jobs, 6 images (the simulator's are 32x32 PNGs): a product in two sizes, one job of two.
MANIFEST = manifest_text(
    "delivery-test",
    """delivery:
  name: "{job}/{variant}-t{take}-{index}.{ext}"
  profiles:
    web: {format: webp, max_size: 24, quality: 80}
    thumb: {format: jpeg, max_size: 16, quality: 70}
    print: {format: png}
jobs:
  - name: hero
    prompt: "A {product} bottle by Lumen on a pedestal"
    matrix:
      product: [serum, Night Cream]
      size: ["1:1", "16:9"]
  - name: pair
    prompt: "Two bottles side by side"
    n: 2
""",
)
IMAGES = 6
EXIFTOOL = shutil.which("exiftool")
#: Skips a test that reads files back with exiftool, saying how to get it (`make test` does).
needs_exiftool = pytest.mark.skipif(
    EXIFTOOL is None,
    reason="exiftool is not installed: sh .ci/install-exiftool (apt-get install "
    "libimage-exiftool-perl); `make test` installs it",
)


class Campaign(RanCampaign):
    """The delivery tests' campaign, as a run left it."""

    NAME = "delivery-test"

    def images(self) -> list[tuple[str, str]]:
        """Every image (sha256, path) in plan order, as the lockfile has them."""
        jobs = json.loads(self.lockfile.read_text())["jobs"]
        return [(i["sha256"], i["path"]) for job in jobs.values() for i in job["images"]]

    def decide(self, decisions: dict[str, str]) -> None:
        """Write the review file: ``decisions`` maps an image's sha256 to its decision."""
        paths = dict(self.images())
        entries = [
            Entry(sha, None, paths[sha], decision, "Ada Tester")  # type: ignore[arg-type]
            for sha, decision in decisions.items()
        ]
        text = render_review("delivery-test", entries)
        self.review_file.write_text(text, encoding="utf-8")

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(args[0], str(self.manifest), *args[1:])


def run_campaign(
    folder: Path, manifest: str = MANIFEST, files: Mapping[str, str] | None = None
) -> Campaign:
    """Write the manifest (and ``files`` beside it, by name) in ``folder`` and run it to the
    end against the simulator; a manifest of its own names its campaign ``delivery-test`` too."""
    campaign = Campaign(folder)
    summary = run_to_the_end(campaign, manifest, seed=5, key="sk-delivery-test", files=files)
    assert summary.images_saved == (IMAGES if manifest is MANIFEST else summary.images_asked), (
        summary
    )
    return campaign


def exiftool(path: Path) -> dict[str, object]:
    """What exiftool (Debian's) reads in ``path``: its XMP tags, by group-qualified name."""
    assert EXIFTOOL is not None
    done = subprocess.run(
        [EXIFTOOL, "-j", "-G1", "-XMP:all", "-struct", str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    found: dict[str, object] = json.loads(done.stdout)[0]
    return found
