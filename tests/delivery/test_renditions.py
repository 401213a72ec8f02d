"""A profile's rendition: format, largest side (never enlarged), alpha laid on white for
JPEG, palette images resized smoothly, the XMP packet in every format."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from seedance_batch._delivery_spec import Profile
from seedance_batch.delivery._renditions import render

PACKET = b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/"/>'


def _png(mode: str, size: tuple[int, int] = (64, 40), **info: object) -> bytes:
    image = Image.new(mode, size)
    out = io.BytesIO()
    image.save(out, "PNG", **info)
    return out.getvalue()


@pytest.mark.parametrize(
    ("fmt", "ext", "pillow"),
    [("webp", "webp", "WEBP"), ("jpeg", "jpg", "JPEG"), ("png", "png", "PNG")],
)
def test_each_format_within_its_largest_side(fmt: str, ext: str, pillow: str) -> None:
    """The rendition has the profile's format and extension, its largest side at max_size
    with the aspect ratio kept, and the packet in it."""
    data, got_ext = render(_png("RGB"), Profile("p", fmt, 32, 80), PACKET)
    assert got_ext == ext
    with Image.open(io.BytesIO(data)) as image:
        assert (image.format, image.size) == (pillow, (32, 20))
        assert PACKET in (
            image.info["xmp"]
            if isinstance(image.info["xmp"], bytes)
            else image.info["xmp"].encode()
        )


def test_a_small_image_is_never_enlarged() -> None:
    """An image smaller than max_size keeps its size."""
    data, _ = render(_png("RGB"), Profile("p", "webp", 4000), PACKET)
    with Image.open(io.BytesIO(data)) as image:
        assert image.size == (64, 40)


def test_alpha_becomes_white_in_jpeg_and_stays_in_webp() -> None:
    """A transparent image is laid on white for JPEG (which has no alpha) and keeps its
    alpha in WebP; a palette image with transparency too."""
    clear = _png("RGBA")
    jpeg, _ = render(clear, Profile("p", "jpeg", None, 95), PACKET)
    with Image.open(io.BytesIO(jpeg)) as image:
        assert image.mode == "RGB" and min(image.getpixel((5, 5))) >= 250
    palette = Image.new("P", (64, 40))
    out = io.BytesIO()
    palette.save(out, "PNG", transparency=0)
    for source in (clear, out.getvalue()):
        webp, _ = render(source, Profile("p", "webp", 32, 80), PACKET)
        with Image.open(io.BytesIO(webp)) as image:
            assert image.mode == "RGBA" and image.getpixel((5, 5))[3] == 0


def test_quality_is_the_profiles() -> None:
    """A lower quality gives a smaller file, from the same source."""
    noise = Image.effect_noise((256, 256), 64).convert("RGB")
    out = io.BytesIO()
    noise.save(out, "PNG")
    high, _ = render(out.getvalue(), Profile("p", "jpeg", None, 95), PACKET)
    low, _ = render(out.getvalue(), Profile("p", "jpeg", None, 20), PACKET)
    assert len(low) < len(high) / 2
