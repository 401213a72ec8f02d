"""Thumbnails of 1,000 4K-sized JPEGs: ``make_missing`` beside Pillow's own bare loop.

The files are 3840x2160 JPEGs (what a 4K campaign delivers), eight distinct pictures each
written 125 times with a different comment segment, so that every file has its own SHA-256 and
is decoded in full like any other. The bare loop is the same Pillow work with nothing around
it: open, ``draft``, ``thumbnail``, WebP encode, a plain write. ``make_missing`` adds what makes
it safe (no link followed, the recorded size checked, a valid thumbnail skipped, an exclusive
temporary renamed into place). Both run single-threaded, in ten interleaved rounds of a tenth
of the files each (so another process on the machine slows both alike); the figures are the
medians of the rounds, and the target is within 1.3x. Then ``make_missing`` with its thread
pool, and a second pass that finds every thumbnail present.
``SEEDANCE_BENCH_THUMBS`` sets another number of images.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

IMAGES = int(os.environ.get("SEEDANCE_BENCH_THUMBS", "1000"))
ROUNDS = 10
WIDTH, HEIGHT = 3840, 2160
PICTURES = 8


def _pictures() -> list[bytes]:
    """Distinct 4K JPEGs: random colours smoothly enlarged, over a gradient."""
    from PIL import Image

    pictures = []
    for k in range(PICTURES):
        noise = Image.frombytes("RGB", (96, 54), os.urandom(96 * 54 * 3))
        picture = noise.resize((WIDTH, HEIGHT), Image.Resampling.BICUBIC)
        buffer = io.BytesIO()
        picture.save(buffer, "JPEG", quality=90 - k)
        pictures.append(buffer.getvalue())
    return pictures


def _with_comment(jpeg: bytes, text: bytes) -> bytes:
    """The JPEG with a COM segment after SOI: other bytes, the same pixels."""
    return jpeg[:2] + b"\xff\xfe" + (len(text) + 2).to_bytes(2, "big") + text + jpeg[2:]


def _campaign(out: Path) -> list[object]:
    from seedance_batch._thumbs import Source

    sources: list[object] = []
    pictures = _pictures()
    for k in range(IMAGES):
        data = _with_comment(pictures[k % PICTURES], f"image {k}".encode())
        relative = f"job/v{k // 100:03d}/{k}.jpg"
        (out / relative).parent.mkdir(parents=True, exist_ok=True)
        (out / relative).write_bytes(data)
        sources.append(Source(relative, hashlib.sha256(data).hexdigest(), len(data)))
    return sources


def _bare(out: Path, sources: list[object], into: Path) -> None:
    """Pillow alone: the same operations as make_thumbnail, nothing checked or made safe."""
    from PIL import Image

    from seedance_batch._thumbs import QUALITY, THUMB_SIDE, WEBP_METHOD

    into.mkdir(exist_ok=True)
    for source in sources:
        with Image.open(out / source.path) as image:  # type: ignore[attr-defined]
            image.draft("RGB", (THUMB_SIDE, THUMB_SIDE))
            image.thumbnail((THUMB_SIDE, THUMB_SIDE), Image.Resampling.LANCZOS, reducing_gap=2.0)
            buffer = io.BytesIO()
            image.save(buffer, "WEBP", quality=QUALITY, method=WEBP_METHOD)
        (into / f"{source.sha256}.webp").write_bytes(buffer.getvalue())  # type: ignore[attr-defined]


def main() -> None:
    from seedance_batch._thumbs import THUMBS_DIR, make_missing

    with tempfile.TemporaryDirectory(prefix="bench-thumbs-") as temporary:
        out = Path(temporary) / "out"
        started = time.perf_counter()
        sources = _campaign(out)
        size = sum(s.bytes for s in sources) / len(sources)  # type: ignore[attr-defined]
        print(
            f"   {IMAGES:,} JPEGs of {WIDTH}x{HEIGHT}, {size / 1e6:.2f} MB each, laid out in "
            f"{time.perf_counter() - started:.1f} s (load average {os.getloadavg()[0]:.1f} on "
            f"{os.cpu_count()} cores)"
        )
        step = max(1, IMAGES // ROUNDS)
        bare_rates, ours_rates = [], []
        for start in range(0, IMAGES, step):
            chunk = sources[start : start + step]
            started = time.perf_counter()
            _bare(out, chunk, Path(temporary) / "bare")
            bare_rates.append(len(chunk) / (time.perf_counter() - started))
            started = time.perf_counter()
            stats = make_missing(out, chunk, workers=1)
            ours_rates.append(len(chunk) / (time.perf_counter() - started))
            assert stats.made == len(chunk), stats
        bare, ours = statistics.median(bare_rates), statistics.median(ours_rates)
        thumbs = list((out / THUMBS_DIR).iterdir())
        weight = sum(p.stat().st_size for p in thumbs) / len(thumbs)
        print(
            f"   one thread: make_missing {ours:.1f} images/s, Pillow's bare loop "
            f"{bare:.1f} images/s: {bare / ours:.2f}x the bare loop's time (target <= 1.3x; "
            f"medians of {len(ours_rates)} rounds)"
        )
        print(f"   thumbnails: {len(thumbs):,}, {weight / 1000:.1f} KB each on average")
        shutil.rmtree(out / THUMBS_DIR)
        workers = min(8, os.cpu_count() or 1)
        started = time.perf_counter()
        make_missing(out, sources)
        pooled = time.perf_counter() - started
        print(
            f"   {workers} threads: make_missing {IMAGES / pooled:.1f} images/s "
            f"({pooled:.1f} s for {IMAGES:,})"
        )
        started = time.perf_counter()
        again = make_missing(out, sources)
        print(
            f"   second pass: {again.present:,} present, none made, "
            f"{(time.perf_counter() - started) * 1000:.0f} ms"
        )
