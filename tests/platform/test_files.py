"""Uploaded files: the type is decided by the content, and every refusal is a clear 422 (413 for
size) with its own code: wrong names, empty and oversized files, polyglots, decompression bombs.
Accepted images come back upright, re-encoded without EXIF, with a thumbnail."""

from __future__ import annotations

import io
import random
import resource
import struct
import time
import zipfile

import pytest
from PIL import ExifTags, Image

from carebridge.platform import files, filestructure, images
from carebridge.platform.errors import CareBridgeError
from carebridge.platform.files import inspect, safe_filename
from tests.factories import files as make

MAX = 10 * 1024 * 1024


def refusal(name: str, data: bytes, declared: str | None = None) -> CareBridgeError:
    with pytest.raises(CareBridgeError) as caught:
        inspect(name, data, declared, max_bytes=MAX)
    return caught.value


def reopened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


class TestAllowedTypes:
    @pytest.mark.parametrize(
        ("name", "data", "declared", "kept_as", "filename"),
        [
            ("scan.pdf", make.pdf(), "application/pdf", files.PDF, "scan.pdf"),
            ("Photo.JPG", make.jpeg(), "image/jpeg", files.JPEG, "Photo.jpg"),
            ("screen.png", make.png(), "image/png", files.PNG, "screen.png"),
            ("wound.webp", make.webp(), "image/webp", files.WEBP, "wound.webp"),
            ("IMG_0001.HEIC", make.heic(), "image/heic", files.JPEG, "IMG_0001.jpg"),
            ("notes.txt", make.text(), "text/plain; charset=utf-8", files.TEXT, "notes.txt"),
        ],
    )
    def test_each_allowed_type_is_accepted(
        self, name: str, data: bytes, declared: str, kept_as: files.FileType, filename: str
    ) -> None:
        accepted = inspect(name, data, declared, max_bytes=MAX)
        assert accepted.file_type == kept_as
        assert accepted.filename == filename
        if kept_as.image_format is None:
            assert accepted.data == data  # documents are kept as sent
            assert accepted.thumbnail is None
        else:
            assert reopened(accepted.data).format == kept_as.image_format
            assert (accepted.width, accepted.height) == (64, 48)

    def test_the_type_comes_from_the_content_not_a_generic_declaration(self) -> None:
        accepted = inspect("scan", make.pdf(), "application/octet-stream", max_bytes=MAX)
        assert accepted.file_type == files.PDF
        assert accepted.filename == "scan.pdf"

    def test_heic_is_decoded_and_kept_as_jpeg(self) -> None:
        accepted = inspect("IMG_0001.heic", make.heic(), None, max_bytes=MAX)
        assert accepted.uploaded_type == files.HEIC
        assert accepted.file_type.media_type == "image/jpeg"
        kept = reopened(accepted.data)
        assert kept.getpixel((5, 5))[0] > 150  # the red half is still red
        assert kept.getpixel((60, 5))[2] > 150  # and the blue half blue

    def test_text_with_a_byte_order_mark_is_text(self) -> None:
        accepted = inspect("notes.txt", b"\xef\xbb\xbfBonjour\r\n", None, max_bytes=MAX)
        assert accepted.file_type == files.TEXT

    def test_a_phones_motion_photo_trailer_is_accepted_and_left_behind(self) -> None:
        # Motion photos append a video (ISO boxes) after the JPEG's end: dropped on re-encoding.
        video = make.heic()
        accepted = inspect("PXL_1.jpg", make.jpeg() + video, None, max_bytes=MAX)
        assert video not in accepted.data
        assert not accepted.data.endswith(video[-32:])


class TestRefusals:
    def test_a_png_renamed_pdf_is_a_name_mismatch(self) -> None:
        error = refusal("results.pdf", make.png())
        assert (error.status, error.error_code) == (422, "attachment_name_mismatch")
        assert "“.pdf”" in error.detail
        assert "PNG image" in error.detail

    def test_an_html_file_named_png_is_refused(self) -> None:
        error = refusal("photo.png", make.html(), "image/png")
        assert (error.status, error.error_code) == (422, "attachment_type_not_allowed")
        assert "HTML" in error.detail

    def test_a_declared_type_that_contradicts_the_content_is_refused(self) -> None:
        error = refusal("scan", make.png(), "application/pdf")
        assert (error.status, error.error_code) == (422, "attachment_name_mismatch")

    def test_a_zero_byte_file_is_refused(self) -> None:
        error = refusal("empty.txt", b"")
        assert (error.status, error.error_code, error.detail) == (
            422,
            "attachment_empty",
            "This file is empty.",
        )

    def test_an_11_mib_file_is_refused_with_413(self) -> None:
        error = refusal("big.txt", b"a" * (11 * 1024 * 1024))
        assert (error.status, error.error_code) == (413, "attachment_too_large")
        assert "10 MB" in error.detail

    def test_the_limit_is_the_one_given(self) -> None:
        data = make.text()
        inspect("notes.txt", data, None, max_bytes=len(data))
        with pytest.raises(CareBridgeError) as caught:
            inspect("notes.txt", data, None, max_bytes=len(data) - 1)
        assert caught.value.status == 413

    @pytest.mark.parametrize(
        "data",
        [b"abc\x00def", b"\x01\x02binary\x03", b"caf\xe9 (latin-1, not UTF-8)", make.zip_archive()],
    )
    def test_text_that_is_not_utf8_text_is_refused(self, data: bytes) -> None:
        error = refusal("notes.txt", data)
        assert (error.status, error.error_code) == (422, "attachment_type_not_allowed")
        assert "PDF documents, photos" in error.detail

    def test_a_truncated_image_is_damaged(self) -> None:
        error = refusal("photo.png", make.png()[:60])
        assert (error.status, error.error_code) == (422, "attachment_damaged")


class TestPolyglots:
    @pytest.mark.parametrize(
        "appended",
        [
            b"<script>fetch('/api/v1/me')</script>",
            make.html(),
            make.pdf(),
            b"PK\x03\x04 archive after the end marker",
        ],
        ids=["script", "html", "pdf", "zip-header"],
    )
    def test_a_jpeg_with_something_appended_is_refused(self, appended: bytes) -> None:
        error = refusal("photo.jpg", make.jpeg() + appended)
        assert (error.status, error.error_code) == (422, "attachment_polyglot")
        assert "hidden content besides a JPEG photo" in error.detail

    def test_a_jpeg_with_a_compressed_zip_appended_is_refused(self) -> None:
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("payload.bin", bytes(range(256)) * 64)
        # No markup in it: it is the JPEG's end marker that catches it.
        assert not filestructure.MARKUP.search(out.getvalue())
        error = refusal("photo.jpg", make.jpeg() + out.getvalue())
        assert error.error_code == "attachment_polyglot"

    def test_a_jpeg_whose_exif_thumbnail_ends_early_is_not_taken_for_a_trailer(self) -> None:
        # The end marker of an embedded thumbnail must not end the walk: a real one follows.
        thumb = make.encode(make.picture(16, 12), "JPEG")
        photo = make.encode(make.picture(), "JPEG", exif=b"Exif\x00\x00" + thumb)
        accepted = inspect("photo.jpg", photo, None, max_bytes=MAX)
        assert accepted.file_type == files.JPEG

    @pytest.mark.parametrize(
        ("name", "data"),
        [
            ("image.png", make.png() + b"<html><body>hi</body></html>"),
            ("image.webp", make.webp() + b"PK\x05\x06" + bytes(18)),
            ("image.heic", make.heic() + make.pdf()),
            ("report.pdf", make.pdf() + b"<script>alert(1)</script>"),
            ("report.pdf", make.pdf() + b"PK\x03\x04 appended archive"),
        ],
        ids=["png+html", "webp+zip", "heic+pdf", "pdf+script", "pdf+zip"],
    )
    def test_content_after_the_end_of_any_type_is_refused(self, name: str, data: bytes) -> None:
        assert refusal(name, data).error_code == "attachment_polyglot"

    def test_a_pdf_carrying_a_zip_before_its_end_is_refused(self) -> None:
        # The archive sits inside the PDF's last object: the PDF still ends with %%EOF, and a
        # ZIP reader still finds the archive's end record near the end of the file.
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as packed:
            packed.writestr("payload.bin", bytes(range(256)) * 64)
        document = make.pdf()
        end = document.rindex(b"%%EOF")
        hidden = b"9 0 obj\n<< /Length 1 >>\nstream\n" + archive.getvalue() + b"\nendstream\n"
        polyglot = document[:end] + hidden + document[end:]
        assert zipfile.is_zipfile(io.BytesIO(polyglot))
        assert refusal("report.pdf", polyglot).error_code == "attachment_polyglot"

    def test_a_pdf_with_html_before_its_header_is_refused(self) -> None:
        error = refusal("report.pdf", make.html() + make.pdf())
        assert (error.status, error.error_code) == (422, "attachment_polyglot")
        assert "hidden content besides a PDF document" in error.detail
        # A PDF written as pure text, behind a web page, is text holding markup: refused too.
        ascii_pdf = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
        error = refusal("report.pdf", make.html() + ascii_pdf)
        assert (error.status, error.error_code) == (422, "attachment_type_not_allowed")

    @pytest.mark.parametrize("marker", [b"<script src=x>", b"<HTML>", b"<svg onload=x>"])
    def test_an_image_holding_markup_inside_is_refused(self, marker: bytes) -> None:
        comment = make.encode(make.picture(), "PNG", pnginfo=_text_chunk(marker))
        error = refusal("image.png", comment)
        assert error.error_code == "attachment_polyglot"

    def test_a_pdf_padded_with_a_final_newline_is_accepted(self) -> None:
        assert inspect("r.pdf", make.pdf() + b"\r\n", None, max_bytes=MAX).file_type == files.PDF


class TestHostileBytes:
    """Walk, don't pick: every truncation of each allowed type, and seeded random damage, is
    either accepted or refused with a code; no parser error escapes as a 500."""

    SEEDS = (
        ("a.jpg", make.jpeg(gps=True, orientation=3)),
        ("a.png", make.png(mode="RGBA")),
        ("a.webp", make.webp()),
        ("a.heic", make.heic()),
        ("a.pdf", make.pdf()),
    )

    @pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow's notes on corrupt EXIF
    @pytest.mark.parametrize(("name", "seed"), SEEDS, ids=[name for name, _ in SEEDS])
    def test_damaged_files_are_refused_cleanly(self, name: str, seed: bytes) -> None:
        rng = random.Random(17)
        damaged = [seed[:cut] for cut in range(1, len(seed), 3)]
        for _ in range(300):
            flipped = bytearray(seed)
            for _ in range(rng.randint(1, 8)):
                flipped[rng.randrange(len(flipped))] = rng.randrange(256)
            damaged.append(bytes(flipped))
        damaged += [seed + b"\xff", seed + b"\xff\xff", seed[:-2] + b"\xff\xff"]
        refusals: list[CareBridgeError] = []
        for data in damaged:
            try:
                inspect(name, data, None, max_bytes=MAX)
            except CareBridgeError as error:
                refusals.append(error)
        assert {error.status for error in refusals} == {422}
        assert "attachment_damaged" in {error.error_code for error in refusals}


class TestImages:
    def test_gps_and_camera_exif_are_removed(self) -> None:
        original = make.jpeg(gps=True)
        exif = Image.open(io.BytesIO(original)).getexif()
        assert exif.get_ifd(ExifTags.IFD.GPSInfo)  # the fixture does carry a position
        accepted = inspect("photo.jpg", original, "image/jpeg", max_bytes=MAX)
        kept = reopened(accepted.data)
        assert not kept.getexif()
        assert not kept.getexif().get_ifd(ExifTags.IFD.GPSInfo)
        assert "exif" not in kept.info
        assert b"PhoneMaker" not in accepted.data
        assert b"Exif\x00\x00" not in accepted.data

    def test_the_orientation_is_applied_before_the_exif_goes(self) -> None:
        # Orientation 6: the camera was turned; the stored pixels are 64 x 48, shown 48 x 64.
        accepted = inspect("photo.jpg", make.jpeg(orientation=6), None, max_bytes=MAX)
        kept = reopened(accepted.data)
        assert kept.size == (48, 64)
        assert (accepted.width, accepted.height) == (48, 64)
        assert kept.getpixel((24, 5))[0] > 150  # the red half, now on top
        assert kept.getpixel((24, 60))[2] > 150  # the blue half, now at the bottom

    @pytest.mark.parametrize(
        ("name", "data"),
        [("big.png", make.png(1200, 800)), ("big.heic", make.heic(1200, 800))],
    )
    def test_the_thumbnail_is_webp_at_most_320_px(self, name: str, data: bytes) -> None:
        accepted = inspect(name, data, None, max_bytes=MAX)
        assert accepted.thumbnail is not None
        thumbnail = reopened(accepted.thumbnail)
        assert thumbnail.format == "WEBP"
        assert images.THUMBNAIL_MEDIA_TYPE == "image/webp"
        assert thumbnail.size == (320, 213)

    def test_png_transparency_is_kept(self) -> None:
        accepted = inspect("icon.png", make.png(mode="RGBA"), None, max_bytes=MAX)
        assert reopened(accepted.data).mode == "RGBA"

    @pytest.mark.parametrize(("name", "fmt"), [("moving.webp", "WEBP"), ("moving.png", "PNG")])
    def test_an_animation_keeps_its_first_frame(self, name: str, fmt: str) -> None:
        frames = [make.picture(), make.picture().rotate(180)]
        animated = make.encode(frames[0], fmt, save_all=True, append_images=frames[1:])
        assert Image.open(io.BytesIO(animated)).n_frames == 2
        kept = reopened(inspect(name, animated, None, max_bytes=MAX).data)
        assert getattr(kept, "n_frames", 1) == 1
        assert kept.getpixel((5, 5))[0] > 150  # the first frame: red on the left

    def test_a_65000_by_65000_png_bomb_is_refused_from_its_header(self) -> None:
        bomb = make.png_bomb()
        assert len(bomb) < 200
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        error = refusal("bomb.png", bomb)
        assert time.perf_counter() - started < 1.0
        grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
        assert grown_kib < 50 * 1024  # decoded, it would be about 12 GB
        assert (error.status, error.error_code) == (422, "attachment_too_many_pixels")
        assert "40 megapixels" in error.detail

    def test_a_heic_whose_header_understates_its_size_is_not_decoded(self) -> None:
        # The header (ispe box) says 64 x 48, so the pixel check passes; the coded picture is
        # 2000 x 1500, and libheif refuses to decode more than the header announced.
        photo = bytearray(make.heic(2000, 1500))
        ispe = photo.find(b"ispe")
        assert struct.unpack_from(">II", photo, ispe + 8) == (2000, 1500)
        struct.pack_into(">II", photo, ispe + 8, 64, 48)
        assert refusal("photo.heic", bytes(photo)).error_code == "attachment_damaged"

    def test_just_over_the_pixel_limit_is_refused_and_just_under_is_not(self) -> None:
        assert refusal("wide.png", make.png_bomb(8001, 5000)).error_code == (
            "attachment_too_many_pixels"
        )
        # Under the limit the header passes, and the (fake) pixel data is what fails.
        assert refusal("wide.png", make.png_bomb(8000, 5000)).error_code == "attachment_damaged"


class TestSafeFilename:
    @pytest.mark.parametrize(
        ("name", "file_type", "expected"),
        [
            ("../../etc/passwd.txt", files.TEXT, "passwd.txt"),
            ("C:\\Users\\ana\\Desktop\\scan.PDF", files.PDF, "scan.pdf"),
            ("re\"sult's;.pdf", files.PDF, "re_sult_s_.pdf"),
            ("line\r\nbreak\x00.png", files.PNG, "linebreak.png"),
            ("photo", files.JPEG, "photo.jpg"),
            ("IMG_2.heic", files.JPEG, "IMG_2.jpg"),
            ("...", files.PDF, "attachment.pdf"),
            (".hidden.txt", files.TEXT, "hidden.txt"),
            ("  ", files.PNG, "attachment.png"),
            ("résumé médical.pdf", files.PDF, "résumé médical.pdf"),
            ("x" * 300 + ".pdf", files.PDF, "x" * 100 + ".pdf"),
            ("a\u202egpj.exe.txt", files.TEXT, "agpj.exe.txt"),
        ],
    )
    def test_names_are_made_safe(self, name: str, file_type: files.FileType, expected: str) -> None:
        assert safe_filename(name, file_type) == expected


def _text_chunk(value: bytes) -> object:
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Comment", value.decode())
    return info
