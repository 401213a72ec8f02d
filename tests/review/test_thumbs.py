"""Thumbnails: small WebP files made once per image in <out>/.thumbs, never through a link."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from seedance_batch._errors import OutputError
from seedance_batch._thumbs import (
    THUMB_SIDE,
    Source,
    ThumbStats,
    make_missing,
    make_thumbnail,
    thumb_is_whole,
    thumb_path,
)


def _noise(width: int, height: int, mode: str = "RGB") -> Image.Image:
    """A picture with detail (random colours, smoothly enlarged), so that its encodings are not
    tiny; with alpha, a cut-out: opaque inside an ellipse, clear outside."""
    small = Image.frombytes("RGB", (64, 64), os.urandom(64 * 64 * 3))
    picture = small.resize((width, height), Image.Resampling.BICUBIC)
    if mode == "RGBA":
        mask = Image.new("L", (width, height), 0)
        ImageDraw.Draw(mask).ellipse(
            (width // 8, height // 8, width * 7 // 8, height * 7 // 8), 255
        )
        picture.putalpha(mask)
    return picture


def _write(out: Path, path: str, image: Image.Image, kind: str, **options: object) -> Source:
    buffer = io.BytesIO()
    image.save(buffer, kind, **options)
    data = buffer.getvalue()
    target = out / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return Source(path, hashlib.sha256(data).hexdigest(), len(data))


@pytest.fixture
def out(tmp_path: Path) -> Path:
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


def test_a_thumbnail_is_small_and_keeps_the_aspect_ratio(out: Path) -> None:
    """A 3000x2000 JPEG and a 1600x2400 PNG with alpha: WebP thumbnails of at most 384 pixels
    a side, the same aspect ratio, alpha kept, a few tens of KB at most."""
    jpeg = _write(out, "hero/a/1.jpg", _noise(3000, 2000), "JPEG", quality=92)
    png = _write(out, "hero/b/1.png", _noise(1600, 2400, "RGBA"), "PNG")
    assert make_thumbnail(out, jpeg) is True
    assert make_thumbnail(out, png) is True
    with Image.open(thumb_path(out, jpeg.sha256)) as thumb:
        assert (thumb.format, thumb.size) == ("WEBP", (THUMB_SIDE, 256))
    with Image.open(thumb_path(out, png.sha256)) as thumb:
        assert thumb.size == (256, THUMB_SIDE)
        assert thumb.mode == "RGBA"
    for source in (jpeg, png):
        assert thumb_path(out, source.sha256).stat().st_size < 40_000


def test_a_thumbnail_is_made_once(out: Path) -> None:
    """A second pass finds every thumbnail whole and rewrites none (same inode, same time)."""
    sources = [_write(out, f"j/v{k}/1.png", _noise(500, 400), "PNG") for k in range(5)]
    assert make_missing(out, sources, workers=3) == ThumbStats(made=5)
    before = {s.sha256: os.stat(thumb_path(out, s.sha256)) for s in sources}
    assert make_missing(out, sources, workers=1) == ThumbStats(present=5)
    for source in sources:
        after = os.stat(thumb_path(out, source.sha256))
        assert (after.st_ino, after.st_mtime_ns) == (
            before[source.sha256].st_ino,
            before[source.sha256].st_mtime_ns,
        )
    assert sorted(p.name for p in (out / ".thumbs").iterdir()) == sorted(
        thumb_path(out, s.sha256).name for s in sources
    )


def test_a_broken_thumbnail_is_made_again(out: Path) -> None:
    """A thumbnail cut short (its RIFF size disagrees with the file's) is not whole: remade."""
    source = _write(out, "j/v/1.png", _noise(500, 400), "PNG")
    make_thumbnail(out, source)
    path = thumb_path(out, source.sha256)
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 2])
    assert not thumb_is_whole(path)
    assert make_thumbnail(out, source) is True
    assert thumb_is_whole(path)


def test_images_that_are_not_what_was_recorded_are_skipped(out: Path, tmp_path: Path) -> None:
    """Missing, another size than recorded, not an image, or a link (to a file or through a
    folder): skipped, and no thumbnail is made of them."""
    good = _write(out, "j/ok/1.png", _noise(300, 300), "PNG")
    resized = Source(good.path, "1" * 64, good.bytes + 1)
    missing = Source("j/none/1.png", "2" * 64, 10)
    (out / "j/text").mkdir(parents=True)
    (out / "j/text/1.png").write_bytes(b"not an image at all")
    text = Source("j/text/1.png", "3" * 64, 19)
    outside = _write(tmp_path, "elsewhere/1.png", _noise(300, 300), "PNG")
    (out / "j/link").mkdir()
    os.symlink(tmp_path / outside.path, out / "j/link/1.png")
    linked = Source("j/link/1.png", outside.sha256, outside.bytes)
    os.symlink(tmp_path / "elsewhere", out / "j/folder-link")
    through = Source("j/folder-link/1.png", "4" * 64, outside.bytes)
    traversal = Source("../elsewhere/1.png", "5" * 64, outside.bytes)
    bad = [resized, missing, text, linked, through, traversal]
    assert make_missing(out, [good, *bad], workers=2) == ThumbStats(made=1, skipped=6)
    assert [p.name for p in (out / ".thumbs").iterdir()] == [thumb_path(out, good.sha256).name]


def test_a_planted_link_at_the_thumbnail_is_replaced_not_followed(
    out: Path, tmp_path: Path
) -> None:
    """A symlink where a thumbnail goes is no thumbnail: the new one replaces the link, and the
    file it pointed to is untouched."""
    source = _write(out, "j/v/1.png", _noise(300, 300), "PNG")
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (out / ".thumbs").mkdir()
    os.symlink(victim, thumb_path(out, source.sha256))
    assert make_thumbnail(out, source) is True
    assert victim.read_text() == "keep me"
    assert not thumb_path(out, source.sha256).is_symlink()


def test_a_thumbs_folder_that_is_a_link_is_refused(out: Path, tmp_path: Path) -> None:
    """<out>/.thumbs pointing elsewhere: OutputError naming it, nothing written there."""
    source = _write(out, "j/v/1.png", _noise(300, 300), "PNG")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.symlink(elsewhere, out / ".thumbs")
    with pytest.raises(OutputError, match=r"\.thumbs"):
        make_thumbnail(out, source)
    assert list(elsewhere.iterdir()) == []


def test_only_a_sha256_names_a_thumbnail(out: Path) -> None:
    """thumb_path refuses anything but 64 lowercase hex digits (no path can be smuggled in)."""
    for bad in ("../x", "A" * 64, "a" * 63, "a" * 64 + "/x", ""):
        with pytest.raises(ValueError):
            thumb_path(out, bad)


def test_a_4k_jpeg_is_decoded_at_a_reduced_scale(tmp_path: Path) -> None:
    """A 4096x4096 JPEG's thumbnail is made without decoding it whole: the process's peak
    memory stays far below the 48 MB its full pixels need (``draft`` decodes at 1/8)."""
    out = tmp_path / "out"
    source = _write(out, "big/1.jpg", _noise(4096, 4096), "JPEG", quality=90)
    script = textwrap.dedent(
        f"""
        import resource
        from pathlib import Path
        from PIL import Image, ImageDraw
        from seedance_batch._thumbs import Source, make_thumbnail
        Image.open(Path({str(out / source.path)!r})).close()  # load the plugins first
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        source = Source({source.path!r}, {source.sha256!r}, {source.bytes})
        assert make_thumbnail(Path({str(out)!r}), source) is True
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    grown_kib = int(done.stdout.strip())
    assert grown_kib < 16 * 1024, grown_kib
