"""The static gallery of 10,000 images: its HTML weight (all pages, the largest page), the time
to render, write and open it in Chromium, and ``status`` over the same campaign's review file.

A campaign of 1,250 variants x 2 repeats x 4 images is laid out in a temporary folder with real,
distinct PNG files, as a run leaves it, with a lockfile and a review file deciding about a third
of the images. Figures: ``render_gallery`` (pure, median of 3) with its pages' total and largest
size (the target: under 2 MB in all), ``write_gallery`` the first time (the thumbnails made
then) and unchanged (skipped); ``status`` with its JSON; then, in headless Chromium when one is
installed (``/usr/bin/chromium``, ``chromium`` on PATH, or ``SEEDANCE_CHROMIUM``), the time to
DOMContentLoaded and to the load event of page 1 from a ``file://`` URL (median of 3), and how
many thumbnails the first screen loaded (the others wait, lazily, until scrolled to).
"""

from __future__ import annotations

import hashlib
import statistics
import struct
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

from bench._support import chromium, grid_manifest

IMAGES = 10_000
#: The gallery's target, in bytes of HTML over all its pages.
MAX_HTML = 2_000_000
MANIFEST = grid_manifest(
    "bench-gallery",
    "10,000 images for the gallery benchmark",
    "{model: gpt-image-2-all, n: 4}",
    'size: ["1:1", "16:9"]',
).replace('crisp detail"\n', 'crisp detail"\n    repeat: 2\n')
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


def _png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    raw = (b"\x00" + bytes(rgb) * width) * height

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))


def _campaign(folder: Path) -> tuple[Any, Any, dict[str, Any], Path, dict[str, Any]]:
    """The manifest, its jobs, their records, ``<out>``, and the review's entries; the
    lockfile and the review file are written beside the manifest."""
    from seedance_batch import load_manifest, plan
    from seedance_batch._decisions import Entry, render_review
    from seedance_batch._layout import image_relpath
    from seedance_batch.lockfile import ImageRecord, JobRecord, render_lockfile

    path = folder / "bench.yaml"
    path.write_text(MANIFEST, encoding="utf-8")
    manifest = load_manifest(path)
    jobs = plan(manifest).jobs
    out = folder / "out"
    records: dict[str, Any] = {}
    entries: dict[str, Any] = {}
    decisions = ("favourite", "approved", "approved", "rejected", "rejected")
    count = 0
    for job in jobs:
        wide = job.request["size"] == "16:9"
        images = []
        for k in range(1, job.images + 1):
            count += 1
            data = _png(128, 72 if wide else 128, (count % 256, count // 256 % 256, 140))
            relative = image_relpath(job.output, k, "png")
            target = out / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            digest = hashlib.sha256(data).hexdigest()
            images.append(
                ImageRecord(f"http://127.0.0.1:9/{job.id}/{k}", relative, digest, len(data))
            )
            if count % 3 == 0:
                decision = decisions[count // 3 % len(decisions)]
                entries[digest] = Entry(digest, job.id, relative, decision, "bench")  # type: ignore[arg-type]
        records[job.id] = JobRecord(
            id=job.id,
            job=job.job,
            variant=dict(job.variant),
            repeat=job.repeat,
            request=dict(job.request),
            state="succeeded",
            task_id=f"task_{job.id}",
            attempts=1,
            images=tuple(images),
            credits_charged=job.credits,
        )
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    (folder / "bench.lock.json").write_bytes(render_lockfile(manifest.name, sha, records.values()))
    (folder / "bench.review.yaml").write_text(
        render_review(manifest.name, entries.values()), encoding="utf-8"
    )
    return manifest, jobs, records, out, entries


def _browser(index: Path) -> None:
    with chromium() as browser:
        if browser is None:
            return
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


def _status(manifest: Any) -> None:
    from seedance_batch._status import status
    from seedance_batch.reports import status_json

    rounds = []
    for _ in range(3):
        started = time.perf_counter()
        report = status(manifest)
        status_json(report)
        rounds.append(time.perf_counter() - started)
    counts = report.decisions
    print(
        f"   status with its review file, {counts.images:,} images: "
        f"{statistics.median(rounds) * 1000:.0f} ms (median of 3, JSON included); "
        f"{counts.approved:,} approved, {counts.rejected:,} rejected, "
        f"{counts.undecided:,} undecided; {len(report.unapproved):,} of "
        f"{len(report.variants):,} variants not approved yet"
    )


def main() -> None:
    from seedance_batch._gallery import PAGE_IMAGES, render_gallery, write_gallery

    with tempfile.TemporaryDirectory(prefix="bench-gallery-") as temporary:
        manifest, jobs, records, out, entries = _campaign(Path(temporary))
        count = sum(len(r.images) for r in records.values())
        assert count == IMAGES, count

        rounds = []
        for _ in range(3):
            started = time.perf_counter()
            pages = render_gallery(manifest, jobs, records, decisions=entries)
            rounds.append(time.perf_counter() - started)
        sizes = [len(page.encode()) for page in pages]
        verdict = "under" if sum(sizes) < MAX_HTML else "OVER"
        print(
            f"   render_gallery, {count:,} images: {statistics.median(rounds) * 1000:.0f} ms "
            f"(median of 3); {len(pages)} pages of at most {PAGE_IMAGES} images; HTML "
            f"{sum(sizes) / 1e6:.2f} MB in all ({verdict} {MAX_HTML / 1e6:.0f} MB), largest page "
            f"{max(sizes) / 1e3:.0f} kB, {sum(sizes) / count:.0f} bytes per image"
        )
        started = time.perf_counter()
        index = write_gallery(out, manifest, jobs, records)
        first = time.perf_counter() - started
        started = time.perf_counter()
        write_gallery(out, manifest, jobs, records)
        again = time.perf_counter() - started
        print(
            f"   write_gallery: {first:.1f} s the first time ({count:,} thumbnails made), "
            f"unchanged rewrite (skipped) {again * 1000:.0f} ms"
        )
        _status(manifest)
        _browser(index)
