"""Files the browser saves: the Content-Disposition header carries any name a person chose,
in UTF-8 with an ASCII stand-in, and never breaks the answer."""

from __future__ import annotations

import pytest

from carebridge.platform.downloads import content_disposition, file_response


@pytest.mark.parametrize(
    ("filename", "header"),
    [
        ("scan.pdf", 'attachment; filename="scan.pdf"'),
        (
            "résumé médical.pdf",
            'attachment; filename="resume medical.pdf"; '
            "filename*=UTF-8''r%C3%A9sum%C3%A9%20m%C3%A9dical.pdf",
        ),
        (
            "診断書.pdf",
            'attachment; filename="download.pdf"; '
            "filename*=UTF-8''%E8%A8%BA%E6%96%AD%E6%9B%B8.pdf",
        ),
    ],
)
def test_names_are_given_in_utf8_with_an_ascii_stand_in(filename: str, header: str) -> None:
    assert content_disposition("attachment", filename) == header


def test_a_name_outside_latin1_does_not_break_the_answer() -> None:
    answer = file_response(b"%PDF-", "application/pdf", "診断書.pdf")
    assert answer.headers["content-disposition"].startswith('attachment; filename="download.pdf"')
    assert answer.headers["cache-control"] == "no-store"
