"""Where an uploaded file's own content ends, so that anything hidden after it (or before it)
is found: the structure walks behind :func:`carebridge.platform.files.inspect`.

A polyglot is a file that is valid as two formats at once, such as a JPEG that is also a web
page or a ZIP archive. Each walk follows its format's own framing (JPEG markers, PNG chunks, the
RIFF size of WebP, the ISO boxes of HEIC, the ``%%EOF`` of PDF) to the end of the content and
returns what follows it. The functions raise :class:`Damaged` when the framing itself is broken.
"""

from __future__ import annotations

import re
import struct

# Markup a browser would run or render: found anywhere in a file that is not a web page, it is
# there to be run by one.
MARKUP = re.compile(rb"<(?:script|html|!doctype\s+html|iframe|svg|\?php)\b", re.IGNORECASE)

PDF_HEADER = b"%PDF-"
# Readers accept a PDF header anywhere in the first kilobyte; CareBridge accepts it only first.
PDF_HEADER_WINDOW = 1024
_PDF_END = b"%%EOF"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_ZIP_END = b"PK\x05\x06"
_ZIP_END_WINDOW = 65_535 + 22  # the longest archive comment, and the end record itself


class Damaged(Exception):
    """The file's framing is broken: truncated, or lengths that point outside the file."""


def jpeg_trailer(data: bytes) -> bytes:
    """What follows the JPEG's end-of-image marker, found by walking its segments (a length
    each) and the entropy-coded data after each start-of-scan (where ``FF`` is followed by
    ``00`` or a restart marker), so an EXIF thumbnail's own end marker is not taken for it."""
    pos = 2
    while True:
        if pos + 2 > len(data) or data[pos] != 0xFF:
            raise Damaged("JPEG marker expected")
        while pos + 1 < len(data) and data[pos + 1] == 0xFF:
            pos += 1  # fill bytes
        if pos + 1 >= len(data):
            raise Damaged("JPEG ends in fill bytes")
        marker = data[pos + 1]
        if marker == 0xD9:
            return data[pos + 2 :]
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            pos += 2
            continue
        if pos + 4 > len(data):
            raise Damaged("JPEG segment truncated")
        (length,) = struct.unpack_from(">H", data, pos + 2)
        pos += 2 + length
        if length < 2 or pos > len(data):
            raise Damaged("JPEG segment outside the file")
        if marker == 0xDA:
            pos = _after_scan(data, pos)


def _after_scan(data: bytes, pos: int) -> int:
    """The position of the first marker after entropy-coded data starting at ``pos``."""
    while True:
        pos = data.find(b"\xff", pos)
        if pos < 0 or pos + 1 >= len(data):
            raise Damaged("JPEG scan without an end")
        following = data[pos + 1]
        if following == 0x00 or 0xD0 <= following <= 0xD7:
            pos += 2
            continue
        if following == 0xFF:
            pos += 1
            continue
        return pos


def png_trailer(data: bytes) -> bytes:
    """What follows the PNG's ``IEND`` chunk (chunks: length, type, data, CRC)."""
    pos = len(_PNG_SIGNATURE)
    while pos + 12 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        pos += 12 + length
        if pos > len(data):
            break
        if kind == b"IEND":
            return data[pos:]
    raise Damaged("PNG without its IEND chunk")


def webp_trailer(data: bytes) -> bytes:
    """What follows the RIFF container whose size the WebP header states (padded to even)."""
    (size,) = struct.unpack_from("<I", data, 4)
    if 8 + size > len(data):
        raise Damaged("WebP shorter than its header says")
    return data[8 + size + (size & 1) :]


def heic_trailer(data: bytes) -> bytes:
    """What follows the ISO base media boxes of a HEIC file: each top-level box names its size
    and a four-letter type; the first thing that is not such a box starts the trailer, and a
    box longer than what is left of the file is a truncated file."""
    pos = 0
    while pos < len(data):
        if pos + 8 > len(data):
            return data[pos:]
        size, kind = struct.unpack_from(">I4s", data, pos)
        header = 8
        if size == 1 and pos + 16 <= len(data):
            (size,) = struct.unpack_from(">Q", data, pos + 8)
            header = 16
        elif size == 0:
            size = len(data) - pos
        if not kind.isalnum() or size < header:
            return data[pos:]
        if pos + size > len(data):
            raise Damaged("HEIC box outside the file")
        pos += size
    return b""


def pdf_trailer(data: bytes) -> bytes:
    """What follows the PDF's last ``%%EOF`` line (an edited PDF has one per revision)."""
    end = data.rfind(_PDF_END)
    if end < 0:
        raise Damaged("PDF without %%EOF")
    return data[end + len(_PDF_END) :]


def ends_as_zip(data: bytes) -> bool:
    """Whether a ZIP reader would take ``data`` for an archive: it looks for the archive's end
    record in the last 64 KiB of a file, wherever the file's own format says it ends (a PDF
    can carry one inside its last object, before its ``%%EOF``)."""
    return _ZIP_END in data[-_ZIP_END_WINDOW:]


def is_png(data: bytes) -> bool:
    return data.startswith(_PNG_SIGNATURE)
