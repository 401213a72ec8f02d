"""Provenance inserted into the original bytes: every format read back by exiftool and Pillow,
pixels unchanged, every other chunk (a C2PA manifest's too) kept byte for byte."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import pytest
from _support.delivery import exiftool, needs_exiftool
from PIL import Image

from seedance_batch.delivery._xmp import DIGITAL_SOURCE_TYPE, Provenance, insert_xmp

PROVENANCE = Provenance(
    prompt='A "serum" <bottle> & a jar, Crème',
    model="gpt-image-2-all",
    campaign="spring",
    job="hero",
    job_id="0123456789abcdef",
    tool="seedance-batch 9.9",
)
PACKET = PROVENANCE.packet()


def _image(fmt: str, mode: str = "RGB", **save: object) -> bytes:
    image = Image.new(mode, (48, 32), (200, 120, 40, 128)[: len(mode)])
    image.putpixel((3, 4), (1, 2, 3, 4)[: len(mode)])
    out = io.BytesIO()
    image.save(out, fmt, **save)
    return out.getvalue()


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _with_cabx(png: bytes) -> tuple[bytes, bytes]:
    """``png`` with a ``caBX`` chunk (where C2PA keeps its manifest) before its IDAT."""
    chunk = _png_chunk(b"caBX", b"jumb" + bytes(range(256)) * 4)
    idat = png.index(b"IDAT") - 4
    return png[:idat] + chunk + png[idat:], chunk


FORMATS = [
    ("png", _image("PNG")),
    ("jpg", _image("JPEG", quality=90)),
    ("webp-lossy", _image("WEBP", quality=80)),
    ("webp-lossless", _image("WEBP", "RGBA", lossless=True)),
    ("webp-extended", _image("WEBP", exif=b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x00")),
]


@pytest.mark.parametrize(("kind", "data"), FORMATS, ids=[k for k, _ in FORMATS])
def test_pillow_reads_the_packet_and_the_same_pixels(kind: str, data: bytes) -> None:
    """Pillow reads the inserted packet back, and decodes the very pixels of the original."""
    labelled = insert_xmp(data, PACKET)
    with Image.open(io.BytesIO(labelled)) as after, Image.open(io.BytesIO(data)) as before:
        assert after.size == before.size
        assert after.tobytes() == before.tobytes()
        xmp = after.info.get("xmp")
    assert isinstance(xmp, bytes | str)
    text = xmp.decode() if isinstance(xmp, bytes) else xmp
    assert DIGITAL_SOURCE_TYPE in text
    assert '"serum" &lt;bottle&gt; &amp; a jar' in text


@needs_exiftool
@pytest.mark.parametrize(("kind", "data"), FORMATS, ids=[k for k, _ in FORMATS])
def test_exiftool_reads_every_field(kind: str, data: bytes, tmp_path: Path) -> None:
    """exiftool finds the digital source type, the prompt, the tool and our own fields."""
    path = tmp_path / f"image.{kind.split('-')[0]}"
    path.write_bytes(insert_xmp(data, PACKET))
    tags = exiftool(path)
    assert tags["XMP-iptcExt:DigitalSourceType"] == DIGITAL_SOURCE_TYPE
    assert tags["XMP-dc:Description"] == PROVENANCE.prompt
    assert tags["XMP-xmp:CreatorTool"] == "seedance-batch 9.9"
    assert tags["XMP-sdb:Campaign"] == "spring"
    assert tags["XMP-sdb:JobId"] == "0123456789abcdef"
    assert tags["XMP-sdb:Model"] == "gpt-image-2-all"


def test_a_png_keeps_its_c2pa_chunk_byte_for_byte() -> None:
    """A PNG's caBX chunk (its C2PA manifest) is in the labelled file unchanged, and every
    original byte is there in order: only the XMP chunk was added."""
    png, chunk = _with_cabx(_image("PNG"))
    labelled = insert_xmp(png, PACKET)
    assert chunk in labelled
    added = len(labelled) - len(png)
    start = labelled.index(b"iTXt") - 4
    assert labelled[:start] + labelled[start + added :] == png


def test_a_jpeg_keeps_its_app11_and_exif_segments() -> None:
    """A JPEG's JFIF and Exif segments stay first, the XMP segment follows them, and an APP11
    (C2PA's JUMBF) after them is kept: the original bytes are all there, in order."""
    jpeg = _image("JPEG", exif=b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x00")
    at = 2
    while jpeg[at + 1] in (0xE0, 0xE1):  # JFIF, then Exif, as Pillow writes them
        at += 2 + struct.unpack(">H", jpeg[at + 2 : at + 4])[0]
    app11 = b"\xff\xeb" + struct.pack(">H", 2 + 20) + b"JP" + bytes(18)
    jpeg = jpeg[:at] + app11 + jpeg[at:]
    labelled = insert_xmp(jpeg, PACKET)
    xmp_start = labelled.index(b"http://ns.adobe.com/xap/1.0/") - 4
    assert xmp_start == at
    added = len(labelled) - len(jpeg)
    assert labelled[:xmp_start] + labelled[xmp_start + added :] == jpeg
    assert labelled.index(app11) == at + added


def test_inserting_twice_replaces_the_packet() -> None:
    """A packet already there is replaced in its place: one XMP packet, never two."""
    for _kind, data in FORMATS:
        once = insert_xmp(data, PACKET)
        other = Provenance(**{**PROVENANCE.__dict__, "prompt": "another"}).packet()
        twice = insert_xmp(once, other)
        assert twice.count(b"<x:xmpmeta") == 1
        assert b"another" in twice
        grown = len(twice) - len(once) - (len(other) - len(PACKET))
        assert grown in (-1, 0, 1)  # a WebP chunk is padded to an even length


def test_anything_else_is_refused() -> None:
    """Bytes that are no PNG, JPEG or WebP are refused, not labelled."""
    with pytest.raises(ValueError, match="not a PNG, JPEG or WebP"):
        insert_xmp(b"GIF89a" + bytes(20), PACKET)
