"""Small files of every kind an upload may be, made on the spot (Pillow, pillow-heif, fpdf2):
the allowed ones, and the hostile ones a sender might try."""

from __future__ import annotations

import io
import struct
import zlib

from fpdf import FPDF
from PIL import ExifTags, Image

# A GPS position in EXIF form: 48°51'29.6" N, 2°17'40.2" E.
GPS = {
    ExifTags.GPS.GPSLatitudeRef: "N",
    ExifTags.GPS.GPSLatitude: (48.0, 51.0, 29.6),
    ExifTags.GPS.GPSLongitudeRef: "E",
    ExifTags.GPS.GPSLongitude: (2.0, 17.0, 40.2),
}
CANARY = "canary-4f1d2c: the patient's rash on the left arm"


def picture(width: int = 64, height: int = 48, mode: str = "RGB") -> Image.Image:
    """An image whose left half is red and right half blue, so a rotation shows."""
    image = Image.new("RGB", (width, height), (220, 20, 20))
    image.paste((20, 20, 220), (width // 2, 0, width, height))
    return image.convert(mode)


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def png(width: int = 64, height: int = 48, mode: str = "RGB") -> bytes:
    return encode(picture(width, height, mode), "PNG")


def jpeg(
    width: int = 64, height: int = 48, *, gps: bool = False, orientation: int | None = None
) -> bytes:
    """A JPEG, with a camera's EXIF (make, model, GPS position, orientation) when asked."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "PhoneMaker"
    exif[ExifTags.Base.Model] = "Phone 12"
    if gps:
        exif[ExifTags.Base.GPSInfo] = GPS
    if orientation is not None:
        exif[ExifTags.Base.Orientation] = orientation
    return encode(picture(width, height), "JPEG", exif=exif.tobytes(), quality=90)


def webp(width: int = 64, height: int = 48) -> bytes:
    return encode(picture(width, height), "WEBP", quality=90)


def heic(width: int = 64, height: int = 48) -> bytes:
    import pillow_heif

    pillow_heif.register_heif_opener()
    return encode(picture(width, height), "HEIF", quality=80)


def pdf(text: str = "Blood test results") -> bytes:
    document = FPDF()
    document.add_page()
    document.set_font("helvetica", size=12)
    document.cell(text=text)
    return bytes(document.output())


def text(body: str = CANARY) -> bytes:
    return f"{body}\nSecond line, with accents: é, ü, ß.\n".encode()


def html() -> bytes:
    return b"<!DOCTYPE html>\n<html><body><script>alert(document.cookie)</script></body></html>\n"


def zip_archive() -> bytes:
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("evil.html", html())
    return out.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data)
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def png_bomb(width: int = 65_000, height: int = 65_000) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` 8-bit RGB pixels (65,000 x 65,000: about
    12 GB decoded) with a few bytes of image data: a decompression bomb's shape, made without
    allocating it."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00" * 1024)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", pixels)
        + _chunk(b"IEND", b"")
    )
