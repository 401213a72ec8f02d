"""A profile's rendition of one image, provenance in it: the original bytes with the XMP packet
inserted (nothing re-encoded), or Pillow's re-encoding to a format, a largest side, a quality.

Re-encoded files carry the packet through Pillow's own writers: ``xmp=`` for JPEG (Pillow
11.0 and later) and WebP, an ``iTXt`` chunk named ``XML:com.adobe.xmp`` for PNG (Pillow has no
``xmp=`` for PNG). Images are never enlarged; a JPEG has no alpha, so transparency is laid
on white.
"""

from __future__ import annotations

import io

from PIL import Image, PngImagePlugin

from seedance_batch._delivery_spec import FORMAT_EXTENSIONS, Profile
from seedance_batch.delivery._xmp import insert_xmp, sniff_ext

__all__ = ["render"]

_FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}


def render(data: bytes, profile: Profile, packet: bytes) -> tuple[bytes, str]:
    """The delivered bytes of ``data`` in ``profile`` and their extension (``png``, ``jpg``,
    ``webp``). Raises ValueError (or Pillow's OSError) for bytes that are no image."""
    if profile.format is None:
        return insert_xmp(data, packet), sniff_ext(data)
    with Image.open(io.BytesIO(data)) as opened:
        image = _for_format(_sized(_resizable(opened), profile.max_size), profile.format)
        out = io.BytesIO()
        if profile.format == "png":
            info = PngImagePlugin.PngInfo()
            info.add_itxt("XML:com.adobe.xmp", packet.decode("utf-8"), zip=False)
            image.save(out, "PNG", pnginfo=info)
        else:
            image.save(out, _FORMATS[profile.format], quality=profile.quality, xmp=packet)
    return out.getvalue(), FORMAT_EXTENSIONS[profile.format]


def _resizable(image: Image.Image) -> Image.Image:
    """``image`` in a mode Lanczos resizes (a palette or 16-bit image is made RGB or RGBA)."""
    if image.mode in ("RGB", "RGBA", "L", "LA"):
        return image
    has_alpha = image.mode in ("PA",) or "transparency" in image.info
    return image.convert("RGBA" if has_alpha else "RGB")


def _sized(image: Image.Image, max_size: int | None) -> Image.Image:
    if max_size is None or max(image.size) <= max_size:
        image.load()
        return image
    if image.format == "JPEG":
        image.draft(image.mode, (max_size, max_size))  # decode at a reduced scale first
    width, height = image.size
    scale = max_size / max(width, height)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def _for_format(image: Image.Image, fmt: str) -> Image.Image:
    """``image`` in a mode ``fmt`` can hold: RGB for JPEG (alpha on white), RGB or RGBA else."""
    has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    if fmt == "jpeg":
        if has_alpha:
            rgba = image.convert("RGBA")
            background = Image.new("RGB", rgba.size, (255, 255, 255))
            background.paste(rgba, mask=rgba.getchannel("A"))
            return background
        return image if image.mode in ("RGB", "L") else image.convert("RGB")
    if image.mode in ("RGB", "RGBA") or (fmt == "png" and image.mode in ("L", "LA")):
        return image
    return image.convert("RGBA" if has_alpha else "RGB")
