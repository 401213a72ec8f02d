"""Export of 1,000 images in a WebP profile, beside Pillow's own bare convert loop, then a second,
unchanged export of the same images.

The campaign is laid out as a run leaves it (a lockfile, the files under <out>): 1,000 PNGs of
1024x1024 (what a 1K square job delivers), eight distinct pictures of smooth colour noise, each
written 125 times with its own ``tEXt`` chunk, so that every file has its own SHA-256 and is
decoded in full. The profile is ``{format: webp, max_size: 768, quality: 80}``. The bare loop is
the same Pillow work and nothing else: open, resize (Lanczos), WebP encode, a plain write; it
runs before and after the export, and its mean is the figure.
``export`` adds what makes it a delivery: the source re-hashed against the lockfile, the XMP
packet, the rendition's SHA-256, an atomic write, the record. Target: within 1.3x of the bare
loop, and the second export (every file kept, nothing read but the record and the delivered
files' hashes) under 1 s. ``SEEDANCE_BENCH_EXPORT`` sets another number of images.
"""

from __future__ import annotations

import hashlib
import io
import os
import struct
import tempfile
import textwrap
import time
import zlib
from pathlib import Path

IMAGES = int(os.environ.get("SEEDANCE_BENCH_EXPORT", "1000"))
SIDE = 1024
PICTURES = 8
MAX_SIZE, QUALITY = 768, 80


def _manifest(images: int) -> str:
    products = ", ".join(f"p{k:03d}" for k in range(max(1, images // 4)))
    return textwrap.dedent(
        f"""\
        version: 1
        name: bench-export
        defaults: {{n: 4}}
        delivery:
          name: "{{job}}/{{product}}-{{index}}.{{ext}}"
          profiles:
            web: {{format: webp, max_size: {MAX_SIZE}, quality: {QUALITY}}}
        jobs:
          - name: shot
            prompt: "A {{product}} bottle on a warm beige pedestal, studio light"
            matrix:
              product: [{products}]
        """
    )


def _pictures() -> list[bytes]:
    from PIL import Image

    pictures = []
    for _ in range(PICTURES):
        noise = Image.frombytes("RGB", (32, 32), os.urandom(32 * 32 * 3))
        buffer = io.BytesIO()
        noise.resize((SIDE, SIDE), Image.Resampling.BICUBIC).save(buffer, "PNG")
        pictures.append(buffer.getvalue())
    return pictures


def _with_text(png: bytes, text: bytes) -> bytes:
    """The PNG with a ``tEXt`` chunk after IHDR: other bytes, the same pixels."""
    body = b"tEXt" + b"Comment\x00" + text
    chunk = struct.pack(">I", len(body) - 4) + body + struct.pack(">I", zlib.crc32(body))
    return png[:33] + chunk + png[33:]


def _campaign(folder: Path) -> tuple[Path, list[Path]]:
    from seedance_batch import load_manifest, plan
    from seedance_batch.lockfile import ImageRecord, JobRecord, render_lockfile

    path = folder / "bench-export.yaml"
    path.write_text(_manifest(IMAGES), encoding="utf-8")
    manifest = load_manifest(path)
    pictures = _pictures()
    records, files, seed = [], [], 0
    for job in plan(manifest).jobs:
        images = []
        for k in range(1, job.images + 1):
            data = _with_text(pictures[seed % PICTURES], f"image {seed}".encode())
            seed += 1
            relative = f"{job.output}/{k}.png"
            target = manifest.output_dir / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            files.append(target)
            digest = hashlib.sha256(data).hexdigest()
            images.append(ImageRecord(f"http://127.0.0.1:9/{seed}", relative, digest, len(data)))
        fields = {"variant": dict(job.variant), "request": dict(job.request)}
        records.append(
            JobRecord(job.id, job.job, repeat=job.repeat, state="succeeded", attempts=1,
                      task_id=f"task_{job.id}", images=tuple(images),
                      credits_charged=job.credits, **fields)
        )  # fmt: skip
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    path.with_name("bench-export.lock.json").write_bytes(
        render_lockfile(manifest.name, sha, records)
    )
    return path, files


def _bare(files: list[Path], into: Path) -> None:
    """Pillow alone: open, resize, encode, write; nothing checked, labelled or recorded."""
    from PIL import Image

    into.mkdir()
    for k, file in enumerate(files):
        with Image.open(file) as image:
            size = (MAX_SIZE, MAX_SIZE)
            small = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
            buffer = io.BytesIO()
            small.save(buffer, "WEBP", quality=QUALITY)
        (into / f"{k}.webp").write_bytes(buffer.getvalue())


def main() -> None:
    from seedance_batch import load_manifest
    from seedance_batch.delivery import export

    with tempfile.TemporaryDirectory() as folder:
        manifest_path, files = _campaign(Path(folder))
        manifest = load_manifest(manifest_path)
        started = time.perf_counter()
        _bare(files, Path(folder) / "bare")
        bare = time.perf_counter() - started
        dest = str(Path(folder) / "dest")
        started = time.perf_counter()
        first = export(manifest, dest, everything=True)
        exported = time.perf_counter() - started
        started = time.perf_counter()
        _bare(files, Path(folder) / "bare-again")  # after as well: the machine's load, halved
        bare = (bare + time.perf_counter() - started) / 2
        started = time.perf_counter()
        second = export(manifest, dest, everything=True)
        again = time.perf_counter() - started
    count = len(files)
    assert first.written == count and second.kept == count and second.written == 0
    print(f"   {count} PNGs of {SIDE}x{SIDE} -> webp max {MAX_SIZE} q{QUALITY}")
    print(f"   Pillow's bare loop: {count / bare:8.1f} images/s ({bare:.2f} s)")
    print(f"   export:             {count / exported:8.1f} images/s ({exported:.2f} s)")
    print(f"   ratio export/bare:  {exported / bare:8.2f}x (target within 1.3x)")
    print(f"   unchanged export:   {again:8.3f} s (target under 1 s)")
