"""Provenance in the file: an XMP packet that labels the image AI-generated, and its insertion
into PNG, JPEG or WebP bytes without re-encoding them (every other chunk kept, C2PA's too).

The packet says (namespaces: ``dc``, ``xmp``, IPTC's ``Iptc4xmpExt`` and our own ``sdb``):
``Iptc4xmpExt:DigitalSourceType`` = IPTC's ``trainedAlgorithmicMedia``, ``dc:description`` =
the prompt, ``xmp:CreatorTool`` = ``seedance-batch <version>``, and ``sdb:Campaign``,
``sdb:Job``, ``sdb:JobId``, ``sdb:Model``. An XMP packet already in the bytes is replaced in
its place; no other byte of the image changes.
"""

from __future__ import annotations

import re
import struct
import zlib
from dataclasses import dataclass
from typing import Final
from xml.sax.saxutils import escape, quoteattr

__all__ = ["DIGITAL_SOURCE_TYPE", "SDB_NAMESPACE", "Provenance", "insert_xmp", "sniff_ext"]

DIGITAL_SOURCE_TYPE: Final = (
    "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
)
SDB_NAMESPACE: Final = "https://github.com/seedance-batch/seedance-batch/ns/xmp/1.0/"
_PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"
_PNG_KEYWORD: Final = b"XML:com.adobe.xmp"
_JPEG_XMP: Final = b"http://ns.adobe.com/xap/1.0/\x00"
_JPEG_MAX_SEGMENT: Final = 65535 - 2
_NOT_XML: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass(frozen=True)
class Provenance:
    """What a delivered file says of itself."""

    prompt: str
    model: str
    campaign: str
    job: str
    job_id: str
    tool: str

    def packet(self) -> bytes:
        """The XMP packet (UTF-8), as XMP's specification wraps it."""
        fields = {
            "Iptc4xmpExt:DigitalSourceType": DIGITAL_SOURCE_TYPE,
            "xmp:CreatorTool": self.tool,
            "sdb:Campaign": self.campaign,
            "sdb:Job": self.job,
            "sdb:JobId": self.job_id,
            "sdb:Model": self.model,
        }
        attributes = "".join(f"\n   {k}={quoteattr(_xml_text(v))}" for k, v in fields.items())
        text = (
            '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
            '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
            ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
            '  <rdf:Description rdf:about=""\n'
            '   xmlns:dc="http://purl.org/dc/elements/1.1/"\n'
            '   xmlns:xmp="http://ns.adobe.com/xap/1.0/"\n'
            '   xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"\n'
            f'   xmlns:sdb="{SDB_NAMESPACE}"{attributes}>\n'
            "   <dc:description><rdf:Alt>"
            f'<rdf:li xml:lang="x-default">{escape(_xml_text(self.prompt))}</rdf:li>'
            "</rdf:Alt></dc:description>\n"
            "  </rdf:Description>\n"
            " </rdf:RDF>\n"
            "</x:xmpmeta>\n"
            '<?xpacket end="w"?>'
        )
        return text.encode("utf-8")


def _xml_text(value: str) -> str:
    """``value`` without the characters XML 1.0 cannot hold (controls but tab and newline)."""
    return _NOT_XML.sub("", value)


def sniff_ext(data: bytes) -> str:
    """``png``, ``jpg`` or ``webp`` by the bytes; ValueError for anything else."""
    if data.startswith(_PNG_SIGNATURE):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    raise ValueError("not a PNG, JPEG or WebP image")


def insert_xmp(data: bytes, packet: bytes) -> bytes:
    """``data`` with ``packet`` as its XMP, by its format; every other byte kept in order."""
    ext = sniff_ext(data)
    if ext == "png":
        return _png(data, packet)
    if ext == "jpg":
        return _jpeg(data, packet)
    return _webp(data, packet)


def _png_chunks(data: bytes) -> list[tuple[bytes, int, int]]:
    """Each chunk's type, start and end (CRC included), up to IEND."""
    chunks = []
    at = len(_PNG_SIGNATURE)
    while at + 12 <= len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind = data[at + 4 : at + 8]
        end = at + 12 + length
        if end > len(data):
            raise ValueError("a PNG chunk runs past the end of the file")
        chunks.append((kind, at, end))
        at = end
        if kind == b"IEND":
            break
    return chunks


def _png(data: bytes, packet: bytes) -> bytes:
    body = _PNG_KEYWORD + b"\x00\x00\x00\x00\x00" + packet  # iTXt: uncompressed, no language
    chunk = struct.pack(">I", len(body)) + b"iTXt" + body
    chunk += struct.pack(">I", zlib.crc32(b"iTXt" + body))
    chunks = _png_chunks(data)
    for kind, start, end in chunks:
        if kind == b"iTXt" and data[start + 8 : start + 8 + len(_PNG_KEYWORD) + 1] == (
            _PNG_KEYWORD + b"\x00"
        ):
            return data[:start] + chunk + data[end:]
    first_data = next((start for kind, start, _ in chunks if kind == b"IDAT"), None)
    if first_data is None:
        raise ValueError("a PNG without image data")
    return data[:first_data] + chunk + data[first_data:]


def _jpeg(data: bytes, packet: bytes) -> bytes:
    payload = _JPEG_XMP + packet
    if len(payload) > _JPEG_MAX_SEGMENT:
        raise ValueError("the XMP packet is too long for one JPEG segment")
    segment = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    at = 2  # after SOI
    insert = 2
    while at + 4 <= len(data) and data[at] == 0xFF and _is_header(data[at + 1]):
        marker = data[at + 1]
        (length,) = struct.unpack(">H", data[at + 2 : at + 4])
        end = at + 2 + length
        if marker == 0xE1 and data[at + 4 : at + 4 + len(_JPEG_XMP)] == _JPEG_XMP:
            return data[:at] + segment + data[end:]
        if marker in (0xE0, 0xE1) and insert == at:  # JFIF and Exif stay first
            insert = end
        at = end
    return data[:insert] + segment + data[insert:]


def _is_header(marker: int) -> bool:
    """An APPn segment or a comment: what comes before the tables and the frame."""
    return 0xE0 <= marker <= 0xEF or marker == 0xFE


def _webp_chunks(data: bytes) -> list[tuple[bytes, int, int]]:
    chunks = []
    at = 12
    while at + 8 <= len(data):
        kind = data[at : at + 4]
        (size,) = struct.unpack("<I", data[at + 4 : at + 8])
        end = at + 8 + size + (size & 1)
        chunks.append((kind, at, min(end, len(data))))
        at = end
    return chunks


def _webp_canvas(data: bytes, kind: bytes, start: int) -> tuple[int, int, bool]:
    """Width, height and alpha of a simple WebP's ``VP8 `` or ``VP8L`` bitstream."""
    body = data[start + 8 :]
    if kind == b"VP8 ":
        width, height = struct.unpack("<HH", body[6:10])
        return width & 0x3FFF, height & 0x3FFF, False
    if kind == b"VP8L":
        (bits,) = struct.unpack("<I", body[1:5])
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, bool(bits >> 28 & 1)
    raise ValueError(f"a WebP whose first chunk is {kind!r}")


def _webp(data: bytes, packet: bytes) -> bytes:
    chunks = _webp_chunks(data)
    if not chunks:
        raise ValueError("a WebP without chunks")
    xmp = b"XMP " + struct.pack("<I", len(packet)) + packet + b"\x00" * (len(packet) & 1)
    kept = [data[s:e] for kind, s, e in chunks if kind != b"XMP "]
    kind, start, _ = chunks[0]
    if kind == b"VP8X":
        head = bytearray(kept[0])
        head[8] |= 0x04  # the XMP flag
        kept[0] = bytes(head)
    else:
        width, height, alpha = _webp_canvas(data, kind, start)
        flags = 0x04 | (0x10 if alpha else 0)
        vp8x = b"VP8X" + struct.pack("<I", 10) + bytes([flags, 0, 0, 0])
        vp8x += (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
        kept.insert(0, vp8x)
    body = b"WEBP" + b"".join(kept) + xmp
    return b"RIFF" + struct.pack("<I", len(body)) + body
