"""The review app over a 10,000-image campaign: its first page served and rendered in Chromium.

A campaign of 2,500 jobs x 4 images (two aspect ratios, two models, 25 x 25 products and
surfaces) is laid out in a temporary folder as a run leaves it: a lockfile, and a small distinct
PNG per image. ``seedance-batch review --port 0 --no-open`` serves it in a process of its own, as
a user starts it (making the missing thumbnails in the background meanwhile, as it always does).
Figures: the time to read the campaign; ``/api/images`` of the first page (median of 5); then,
in headless Chromium, the time from navigation to the page drawn with every thumbnail on screen
loaded: a page seen for the first time (its thumbnails made on demand, unless the background
got there first) and the first page again (thumbnails cached by the server, not the browser: a
new context each time), medians of 3 each, with the weight transferred (HTML, JSON, thumbnails).
Target: under 1 s.
"""

from __future__ import annotations

import hashlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench._support import chromium, grid_manifest
from tests._support.gallery import succeeded

IMAGES = 10_000
MANIFEST = grid_manifest(
    "bench-review",
    "10,000 images for the review benchmark",
    "{n: 4}",
    'size: ["1:1", "16:9"]',
    "model: [gpt-image-2-all, gpt-image-1.5-all]",
)
#: Resolves when the page is drawn and every thumbnail in the viewport has loaded.
FIRST_SCREEN = """
async () => {
  while (document.body.dataset.ready !== '1') await new Promise(r => setTimeout(r, 5));
  const visible = [...document.querySelectorAll('main .card img')].filter(img => {
    const box = img.getBoundingClientRect();
    return box.bottom > 0 && box.top < innerHeight;
  });
  await Promise.all(visible.map(img => img.complete ? null : new Promise(r => {
    img.onload = img.onerror = r;
  })));
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  const resources = performance.getEntriesByType('resource');
  const nav = performance.getEntriesByType('navigation')[0];
  const kind = (name) => resources.filter(e => new URL(e.name).pathname.startsWith(name))
    .reduce((sum, e) => sum + e.transferSize, 0);
  return {
    ms: performance.now(),
    cards: document.querySelectorAll('main .card').length,
    visible: visible.length,
    loaded: visible.filter(i => i.naturalWidth > 0).length,
    html: nav.transferSize, api: kind('/api/'), thumbs: kind('/thumbs/'),
  };
}
"""


def _campaign(folder: Path) -> Path:
    from seedance_batch import load_manifest, plan
    from seedance_batch.lockfile import render_lockfile

    path = folder / "bench-review.yaml"
    path.write_text(MANIFEST, encoding="utf-8")
    manifest = load_manifest(path)
    records = [succeeded(job, manifest.output_dir, width=256) for job in plan(manifest).jobs]
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    path.with_name("bench-review.lock.json").write_bytes(
        render_lockfile(manifest.name, sha, records)
    )
    return path


def _browser(url: str) -> None:
    with chromium() as browser:
        if browser is not None:
            floor = []
            for _ in range(3):
                context = browser.new_context(viewport={"width": 1280, "height": 900})
                page = context.new_page()
                page.goto(url + "api/images?limit=1", wait_until="load")
                floor.append(page.evaluate("() => performance.now()"))
                context.close()
            print(
                f"   chromium's floor here and now: a 1-KB answer of the same server shown in "
                f"{statistics.median(floor):.0f} ms (median of 3)"
            )
            for label in ("a page seen first", "the first page again"):
                figures: list[dict[str, Any]] = []
                for run in range(3):
                    context = browser.new_context(viewport={"width": 1280, "height": 900})
                    page = context.new_page()
                    # another page each time, so that its thumbnails are not made yet
                    target = url + (f"#page={run * 20 + 2}" if label.endswith("first") else "")
                    page.goto(target, wait_until="commit")
                    figures.append(page.evaluate(FIRST_SCREEN))
                    context.close()
                last = figures[-1]
                assert last["loaded"] == last["visible"], last
                weight = last["html"] + last["api"] + last["thumbs"]
                print(
                    f"   chromium, {label}: first page shown in "
                    f"{statistics.median(f['ms'] for f in figures):.0f} ms (median of 3, target "
                    f"< 1000 ms); {last['cards']} cards, {last['visible']} thumbnails on screen; "
                    f"weight {weight / 1000:.0f} KB (HTML {last['html'] / 1000:.0f} KB, JSON "
                    f"{last['api'] / 1000:.0f} KB, thumbnails {last['thumbs'] / 1000:.0f} KB)"
                )


def main() -> None:
    from seedance_batch.review import load_campaign

    with tempfile.TemporaryDirectory(prefix="bench-review-") as temporary:
        started = time.perf_counter()
        manifest = _campaign(Path(temporary))
        print(
            f"   {IMAGES:,} images laid out in {time.perf_counter() - started:.1f} s "
            f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)"
        )
        started = time.perf_counter()
        campaign = load_campaign(manifest)
        assert len(campaign.images) == IMAGES, len(campaign.images)
        print(
            f"   campaign read (plan + lockfile): {(time.perf_counter() - started) * 1000:.0f} ms"
        )
        # The command itself, in its own process, as a user starts it.
        command = [sys.executable, "-m", "seedance_batch", "review", str(manifest), "--port", "0"]
        server = subprocess.Popen(
            [*command, "--no-open"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        try:
            assert server.stdout is not None
            url = server.stdout.readline().strip()
            with httpx.Client(base_url=url) as client:
                rounds = []
                for _ in range(5):
                    started = time.perf_counter()
                    answer = client.get("/api/images", params={"decision": "undecided"})
                    rounds.append(time.perf_counter() - started)
            assert answer.json()["total"] == IMAGES
            print(
                f"   /api/images, first page of {IMAGES:,} filtered: "
                f"{statistics.median(rounds) * 1000:.0f} ms (median of 5), "
                f"{len(answer.content) / 1000:.0f} KB"
            )
            _browser(url)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)
