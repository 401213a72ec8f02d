"""Helpers of the run tests: the test campaign, the CLI as a real process, file trees."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, TypeVar

if TYPE_CHECKING:
    from seedance_batch import RunSummary

ROOT = Path(__file__).resolve().parents[2]
KEY = "sk-test-7d1e0c4a9b"

#: The execution block of the test manifests: four tasks at once, fast polls, a short timeout.
FAST_EXECUTION = """execution:
  concurrency: 4
  requests_per_second: 200
  poll_interval: 0.05
  poll_max: 0.2
  task_timeout: 20
"""


def manifest_text(name: str, rest: str) -> str:
    """A test manifest named ``name`` (model gpt-image-2-all, the fast execution block), then
    ``rest`` (YAML from the top level: ``jobs:`` and whatever else the test needs)."""
    return (
        f"version: 1\nname: {name}\ndefaults: {{model: gpt-image-2-all}}\n" + FAST_EXECUTION + rest
    )


#: A campaign of 12 jobs (14 images, 32 credits): 1K and 4K, n 1 and 2, named prompts.
CAMPAIGN = (
    """
version: 1
name: campaign
defaults: {model: gpt-image-2-all}
vars: {brand: Lumen}
"""
    + FAST_EXECUTION
    + """jobs:
  - name: hero
    prompt: "A {product} by {brand}, {light}"
    matrix:
      product: [serum, cream]
      light: [studio, dusk]
      size: ["1:1", "16:9"]
  - name: pair
    prompt: "Two {brand} bottles side by side"
    n: 2
  - name: big
    prompts:
      front: "A {brand} bottle, front view"
      side: "A {brand} bottle, side view"
    resolution: 4k
    size: "4:5"
  - name: more
    prompt: "A {brand} jar on linen, {mood}"
    matrix:
      mood: [calm]
    n: 2
"""
)


@dataclass
class Campaign:
    """A manifest in a temporary folder, with where its lockfile and outputs land."""

    folder: Path
    manifest: Path

    @property
    def lockfile(self) -> Path:
        return self.manifest.with_name(self.manifest.stem + ".lock.json")

    @property
    def out(self) -> Path:
        return self.folder / "outputs" / "campaign"

    def write(self, text: str) -> None:
        self.manifest.write_text(textwrap.dedent(text).lstrip())


_Ran = TypeVar("_Ran", bound="RanCampaign")


@dataclass(frozen=True)
class RanCampaign:
    """A campaign folder as a run left it: ``<NAME>.yaml``, its lockfile, its review file and
    ``outputs/<NAME>``; a test's helpers give their campaign its ``NAME``."""

    NAME: ClassVar[str] = "campaign"
    folder: Path

    @property
    def manifest(self) -> Path:
        return self.folder / f"{self.NAME}.yaml"

    @property
    def lockfile(self) -> Path:
        return self.folder / f"{self.NAME}.lock.json"

    @property
    def review_file(self) -> Path:
        return self.folder / f"{self.NAME}.review.yaml"

    @property
    def out(self) -> Path:
        return self.folder / "outputs" / self.NAME

    def copy(self: _Ran, to: Path) -> _Ran:
        """The same campaign in ``to``, for one test alone."""
        shutil.copytree(self.folder, to)
        return type(self)(to)


def run_to_the_end(
    campaign: RanCampaign,
    manifest: str,
    *,
    seed: int,
    key: str,
    files: Mapping[str, str] | None = None,
) -> RunSummary:
    """Write ``manifest`` (and ``files`` beside it, by name) into the campaign's folder and run
    it to the end against a simulator (latency 0.05 s); the run's summary."""
    from seedance_batch import RunOptions, load_manifest, run
    from seedance_batch.simulator import SimulatorConfig, serve

    campaign.folder.mkdir(parents=True, exist_ok=True)
    campaign.manifest.write_text(textwrap.dedent(manifest).lstrip(), encoding="utf-8")
    for name, text in (files or {}).items():
        (campaign.folder / name).write_text(text, encoding="utf-8")
    with serve(SimulatorConfig(seed=seed, latency=0.05)) as simulator:
        options = RunOptions(base_url=simulator.base_url, poll_interval=0.05, poll_max=0.2)
        # In a thread: Playwright's sync API may already run an event loop in this one.
        with ThreadPoolExecutor(1) as pool:
            loaded = load_manifest(campaign.manifest)
            return pool.submit(run, loaded, options, api_key=key).result()


def cli_env(key: str | None = KEY) -> dict[str, str]:
    """The environment of a CLI process: this one's, with only the given key."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEEDANCE_")}
    if key is not None:
        env["SEEDANCE_API_KEY"] = key
    return env


def run_cli(
    *args: str, key: str | None = KEY, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m seedance_batch ARGS`` as a real process, stdin closed."""
    return subprocess.run(
        [sys.executable, "-m", "seedance_batch", *args],
        capture_output=True,
        text=True,
        env=cli_env(key),
        stdin=subprocess.DEVNULL,
        timeout=timeout,
        check=False,
        cwd=ROOT,
    )


def start_cli(*args: str, key: str | None = KEY) -> subprocess.Popen[str]:
    """Start ``python -m seedance_batch ARGS`` in the background."""
    return subprocess.Popen(
        [sys.executable, "-m", "seedance_batch", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(key),
        stdin=subprocess.DEVNULL,
        cwd=ROOT,
    )


def product_files(folder: Path) -> list[Path]:
    """Every file a run produces under ``folder``, but the journal: the run lock, which names
    its holder (pid, since) and is never committed."""
    return [p for p in sorted(folder.rglob("*")) if p.is_file() and not p.name.endswith(".journal")]


def tree_bytes(folder: Path) -> dict[str, bytes]:
    """Every product file under ``folder`` and its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in product_files(folder)}
