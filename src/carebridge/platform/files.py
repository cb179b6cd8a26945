"""Uploaded files: what a person may send, decided by the file's content, never by its name or
the type their device declared. See docs/security.md, "Uploaded files".

:func:`inspect` takes an upload and either refuses it with an error a patient understands (422
with a specific code, 413 when too large) or returns what to keep: images re-encoded without
metadata and with a thumbnail (:mod:`carebridge.platform.images`), PDFs and text as sent, and a
safe download name. The work is CPU-bound: async callers run it in a thread.
"""

from __future__ import annotations

import posixpath
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from carebridge.platform import filestructure, images
from carebridge.platform.errors import Invalid, TooLarge


@dataclass(frozen=True)
class FileType:
    name: str  # for people: "a PNG image"
    media_type: str
    extensions: tuple[str, ...]  # the first is given to names that have none of them
    image_format: str | None = None  # Pillow's name, for images


PDF = FileType("a PDF document", "application/pdf", (".pdf",))
JPEG = FileType("a JPEG photo", "image/jpeg", (".jpg", ".jpeg", ".jpe", ".jfif"), "JPEG")
PNG = FileType("a PNG image", "image/png", (".png",), "PNG")
WEBP = FileType("a WebP image", "image/webp", (".webp",), "WEBP")
HEIC = FileType("a HEIC photo", "image/heic", (".heic", ".heif", ".hif"), "HEIF")
TEXT = FileType("a text file", "text/plain", (".txt", ".text", ".md", ".log"))
ALLOWED = (PDF, JPEG, PNG, WEBP, HEIC, TEXT)

# What an image is kept as: HEIC becomes JPEG (browsers other than Safari cannot show HEIC).
_KEPT_AS = {HEIC: JPEG}
# Types devices declare for the same content; generic ones (octet-stream, none) say nothing.
_DECLARED = {t.media_type: t for t in ALLOWED} | {
    "application/x-pdf": PDF,
    "image/jpg": JPEG,
    "image/pjpeg": JPEG,
    "image/heif": HEIC,
    "image/heic-sequence": HEIC,
    "image/heif-sequence": HEIC,
    "text/markdown": TEXT,
}
_HEIC_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx"}
_TEXT_CONTROLS = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")  # all but tab, newlines, form feed
_UNSAFE_NAME = re.compile(r"[\"'`\\/:*?<>|;%]")
_NAME_STEM_MAX = 100

TOO_LARGE_DETAIL = "This file is larger than {limit}, the most that can be sent."
NOT_ALLOWED_DETAIL = (
    "This kind of file cannot be sent. You can send PDF documents, photos (JPEG, PNG, WebP, "
    "HEIC) and plain text files; save other documents as PDF first."
)
POLYGLOT_DETAIL = (
    "This file contains hidden content besides {name} and cannot be sent safely. Save or "
    "export it again (for example print it to PDF, or take a screenshot) and send the new file."
)
DAMAGED_DETAIL = "This file seems damaged and cannot be opened. Please send it again."


@dataclass(frozen=True)
class Inspected:
    """An accepted upload, ready to be sealed and stored."""

    file_type: FileType  # of ``data``: what is stored and served
    data: bytes
    filename: str  # safe to download under, with an extension of ``file_type``
    uploaded_type: FileType  # of the upload itself (HEIC is kept as JPEG)
    thumbnail: bytes | None = None  # images only, images.THUMBNAIL_MEDIA_TYPE
    width: int | None = None
    height: int | None = None


def inspect(name: str, data: bytes, declared_type: str | None, *, max_bytes: int) -> Inspected:
    """Accept ``data`` uploaded as ``name`` (with the media type the client declared), or raise
    :class:`Invalid` (422) or :class:`TooLarge` (413) with a code and a message for the sender."""
    if not data:
        raise Invalid("This file is empty.", code="attachment_empty")
    if len(data) > max_bytes:
        limit = _size(max_bytes)
        raise TooLarge(TOO_LARGE_DETAIL.format(limit=limit), code="attachment_too_large")
    file_type = detect(data)
    check_name(name, declared_type, file_type)
    check_single_content(data, file_type)
    if file_type.image_format is None:
        return Inspected(file_type, data, safe_filename(name, file_type), file_type)
    return _clean(name, data, file_type, file_type.image_format)


def detect(data: bytes) -> FileType:
    """The allowed type of ``data`` by its content, or :class:`Invalid` when it is none."""
    if data.startswith(filestructure.PDF_HEADER):
        return PDF
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if filestructure.is_png(data):
        return PNG
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return WEBP
    if _is_heic(data):
        return HEIC
    if _is_text(data):
        if filestructure.MARKUP.search(data):
            raise Invalid(
                "Web pages and files with web page code (HTML, scripts) cannot be sent.",
                code="attachment_type_not_allowed",
            )
        return TEXT
    if filestructure.PDF_HEADER in data[: filestructure.PDF_HEADER_WINDOW]:
        raise _polyglot(PDF)  # something a PDF reader would skip stands before the header
    raise Invalid(NOT_ALLOWED_DETAIL, code="attachment_type_not_allowed")


def check_name(name: str, declared_type: str | None, file_type: FileType) -> None:
    """The file's name and declared type, when they say anything, must agree with its content."""
    extension = _extension(_base_name(name))
    if extension and extension not in file_type.extensions:
        raise Invalid(
            f"This file is named “{extension}” but it is {file_type.name}. Rename it with the "
            f"right ending ({file_type.extensions[0]}) or send another file.",
            code="attachment_name_mismatch",
        )
    declared = (declared_type or "").split(";", 1)[0].strip().lower()
    claimed = _DECLARED.get(declared)
    if claimed is not None and claimed != file_type:
        raise Invalid(
            f"This file was sent as {claimed.name} but it is {file_type.name}.",
            code="attachment_name_mismatch",
        )


def check_single_content(data: bytes, file_type: FileType) -> None:
    """Refuse a polyglot: web page code anywhere in a binary file, or anything after the end of
    its content (see :mod:`carebridge.platform.filestructure`)."""
    if file_type is TEXT:
        return
    if filestructure.MARKUP.search(data):
        raise _polyglot(file_type)
    if file_type is PDF and filestructure.ends_as_zip(data):
        raise _polyglot(file_type)  # PDFs are kept as sent: no re-encoding drops the archive
    try:
        trailer = _TRAILERS[file_type](data)
    except filestructure.Damaged as exc:
        raise Invalid(DAMAGED_DETAIL, code="attachment_damaged") from exc
    if not _harmless_trailer(trailer, file_type):
        raise _polyglot(file_type)


def safe_filename(name: str, file_type: FileType) -> str:
    """``name`` fit to download under: its last path part, without control, quote or path
    characters, at most 100 characters before an extension of ``file_type`` (its own when it
    has one, else the type's first)."""
    base = unicodedata.normalize("NFC", _base_name(name))
    extension = _extension(base)
    stem = base[: -len(extension)] if extension else base
    stem = "".join(c for c in stem if not unicodedata.category(c).startswith("C"))
    stem = " ".join(_UNSAFE_NAME.sub("_", stem).split()).strip(". ")[:_NAME_STEM_MAX].strip()
    if extension not in file_type.extensions:
        extension = file_type.extensions[0]
    return f"{stem or 'attachment'}{extension}"


def _clean(name: str, data: bytes, file_type: FileType, source: str) -> Inspected:
    kept_as = _KEPT_AS.get(file_type, file_type)
    try:
        clean = images.clean_image(data, source, kept_as.image_format or source)
    except images.TooManyPixels as exc:
        megapixels = images.MAX_PIXELS // 1_000_000
        raise Invalid(
            f"This image is too large to process (more than {megapixels} megapixels). Send a "
            "smaller photo or a screenshot.",
            code="attachment_too_many_pixels",
        ) from exc
    except images.Undecodable as exc:
        raise Invalid(DAMAGED_DETAIL, code="attachment_damaged") from exc
    return Inspected(
        file_type=kept_as,
        data=clean.data,
        filename=safe_filename(name, kept_as),
        uploaded_type=file_type,
        thumbnail=clean.thumbnail,
        width=clean.width,
        height=clean.height,
    )


_TRAILERS: dict[FileType, Callable[[bytes], bytes]] = {
    PDF: filestructure.pdf_trailer,
    JPEG: filestructure.jpeg_trailer,
    PNG: filestructure.png_trailer,
    WEBP: filestructure.webp_trailer,
    HEIC: filestructure.heic_trailer,
}


def _harmless_trailer(trailer: bytes, file_type: FileType, depth: int = 0) -> bool:
    """Padding after the end, or (after a JPEG) what phones append to photos: more JPEG images
    (multi-picture format) or a video (motion photos), each itself whole and alone. All of it is
    left behind when the photo is re-encoded."""
    if not trailer.strip(b"\x00" if file_type is not PDF else b"\x00\t\n\x0c\r "):
        return True
    if file_type is not JPEG or depth >= 4:
        return False
    try:
        if trailer.startswith(b"\xff\xd8\xff"):
            return _harmless_trailer(filestructure.jpeg_trailer(trailer), JPEG, depth + 1)
        if trailer[4:8] == b"ftyp":
            return _harmless_trailer(filestructure.heic_trailer(trailer), JPEG, depth + 1)
    except filestructure.Damaged:
        return False
    return False


def _polyglot(file_type: FileType) -> Invalid:
    return Invalid(POLYGLOT_DETAIL.format(name=file_type.name), code="attachment_polyglot")


def _is_heic(data: bytes) -> bool:
    if data[4:8] != b"ftyp":
        return False
    major = data[8:12]
    if major in _HEIC_BRANDS:
        return True
    box_size = int.from_bytes(data[:4], "big")
    compatible = {data[i : i + 4] for i in range(16, min(box_size, 64), 4)}
    return major in (b"mif1", b"msf1") and bool(compatible & _HEIC_BRANDS)


def _is_text(data: bytes) -> bool:
    """UTF-8 (a byte-order mark allowed) without NULs or other control characters."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return False
    return _TEXT_CONTROLS.search(text) is None


def _base_name(name: str) -> str:
    return posixpath.basename(name.replace("\\", "/")).strip()


def _extension(name: str) -> str:
    stem, dot, extension = name.rpartition(".")
    return f".{extension.lower()}" if dot and stem.strip(". ") and extension else ""


def _size(count: int) -> str:
    if count >= 1024 * 1024:
        return f"{count / (1024 * 1024):g} MB"
    return f"{count / 1024:g} KB" if count >= 1024 else f"{count} bytes"
