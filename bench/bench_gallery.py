"""The gallery with 5,000 images: time to render the HTML, to write it, and to open it in Chromium.

A campaign of 1,250 jobs x 4 images (two aspect ratios) is laid out in a temporary folder with
real PNG files, as a run leaves it. Figures: ``render_gallery`` (pure, median of 5), the header
probe of 5,000 files, ``write_gallery`` (both), the page's size; then, in headless Chromium when
one is installed (``/usr/bin/chromium``, ``chromium`` on PATH, or ``SEEDANCE_CHROMIUM``), the
time to DOMContentLoaded and to the load event from a ``file://`` URL (median of 3), and how
many images the first screen loaded (the others wait, lazily, until scrolled to).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._support import chromium, grid_manifest
from tests._support.gallery import succeeded

IMAGES = 5_000
MANIFEST = grid_manifest(
    "bench-gallery",
    "5,000 images for the gallery benchmark",
    "{model: gpt-image-2-all, n: 4}",
    'size: ["1:1", "16:9"]',
)
TIMING = """
() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const paint = performance.getEntriesByName('first-contentful-paint')[0];
  const images = [...document.images];
  return {
    dcl: nav.domContentLoadedEventEnd,
    load: nav.loadEventEnd,
    fcp: paint ? paint.startTime : null,
    images: images.length,
    loaded: images.filter(i => i.complete && i.naturalWidth > 0).length,
  };
}
"""


def _campaign(folder: Path) -> tuple[Any, Any, dict[str, Any], Path]:
    from seedance_batch import load_manifest, plan

    path = folder / "bench.yaml"
    path.write_text(MANIFEST, encoding="utf-8")
    manifest = load_manifest(path)
    jobs = plan(manifest).jobs
    out = folder / "out"
    return manifest, jobs, {job.id: succeeded(job, out, width=256) for job in jobs}, out


def _browser(index: Path) -> None:
    with chromium() as browser:
        if browser is not None:
            for width, height, label in (
                (1280, 900, "desktop 1280x900"),
                (390, 844, "phone 390x844"),
            ):
                figures = []
                for _ in range(3):
                    context = browser.new_context(viewport={"width": width, "height": height})
                    page = context.new_page()
                    page.goto(index.as_uri(), wait_until="load")
                    figures.append(page.evaluate(TIMING))
                    context.close()
                dcl = statistics.median(f["dcl"] for f in figures)
                load = statistics.median(f["load"] for f in figures)
                fcp = statistics.median(f["fcp"] or 0 for f in figures)
                last = figures[-1]
                print(
                    f"   chromium {label}: DOMContentLoaded {dcl:.0f} ms, "
                    f"first paint {fcp:.0f} ms, load {load:.0f} ms; "
                    f"{last['loaded']} of {last['images']} images loaded by then (the rest lazily)"
                )


def main() -> None:
    from seedance_batch._gallery import probe_images, render_gallery, write_gallery

    with tempfile.TemporaryDirectory(prefix="bench-gallery-") as temporary:
        manifest, jobs, records, out = _campaign(Path(temporary))
        count = sum(len(r.images) for r in records.values())
        assert count == IMAGES, count

        rounds = []
        for _ in range(5):
            started = time.perf_counter()
            text = render_gallery(manifest, jobs, records)
            rounds.append(time.perf_counter() - started)
        print(
            f"   render_gallery, {count:,} images: {statistics.median(rounds) * 1000:.0f} ms "
            f"(median of 5), {len(text.encode()) / 1e6:.2f} MB of HTML"
        )
        started = time.perf_counter()
        probe_images(out, jobs, records)
        print(
            f"   probe of {count:,} image headers: {(time.perf_counter() - started) * 1000:.0f} ms"
        )
        started = time.perf_counter()
        index = write_gallery(out, manifest, jobs, records)
        first = time.perf_counter() - started
        started = time.perf_counter()
        write_gallery(out, manifest, jobs, records)
        again = time.perf_counter() - started
        print(
            f"   write_gallery: {first * 1000:.0f} ms, unchanged rewrite (skipped) "
            f"{again * 1000:.0f} ms"
        )
        _browser(index)
