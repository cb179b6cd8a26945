"""Printed documents (a prescription, a home visit report): an A4 sheet drawn with fpdf2.

A Unicode TrueType font (DejaVu Sans) is used when the system has one, so any name prints;
without it the PDF core font is used and characters outside Latin-1 are replaced.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

_FONT_DIRS = (
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/dejavu"),
    Path("/usr/share/fonts/TTF"),
    Path("/Library/Fonts"),
)


@cache
def _unicode_font() -> tuple[Path, Path] | None:
    for folder in _FONT_DIRS:
        regular, bold = folder / "DejaVuSans.ttf", folder / "DejaVuSans-Bold.ttf"
        if regular.is_file() and bold.is_file():
            return regular, bold
    return None


class Sheet:
    """An A4 page with 20 mm margins, in a Unicode font when there is one: lines, rules and a
    signature line."""

    def __init__(self) -> None:
        # fpdf2 (and fontTools under it) is imported on the first render: most of a second of
        # start-up that the web process never needs (docs/performance.md, "Start-up").
        from fpdf import FPDF
        from fpdf.enums import XPos, YPos

        self.next_line: dict[str, Any] = {"new_x": XPos.LMARGIN, "new_y": YPos.NEXT}
        self.pdf = FPDF(format="A4")
        self.pdf.set_auto_page_break(auto=True, margin=20)
        self.pdf.set_margins(20, 20, 20)
        fonts = _unicode_font()
        self.unicode = fonts is not None
        if fonts is not None:
            self.pdf.add_font("body", "", str(fonts[0]))
            self.pdf.add_font("body", "B", str(fonts[1]))
            self.family = "body"
        else:
            self.family = "helvetica"
        self.pdf.add_page()

    def letterhead(self, title: str, clinic_name: str, clinic_address: str | None) -> None:
        """The document's title (its metadata) and the clinic at the top, ruled off."""
        self.pdf.set_title(self.text(title))
        self.pdf.set_creator("CareBridge")
        self.line(clinic_name, size=16, bold=True, height=8)
        if clinic_address:
            self.line(clinic_address, size=9)
        self.rule()

    def text(self, value: str) -> str:
        if self.unicode:
            return value
        return value.encode("latin-1", errors="replace").decode("latin-1")

    def line(self, value: str, *, size: float = 10, bold: bool = False, height: float = 5) -> None:
        self.pdf.set_font(self.family, "B" if bold else "", size)
        self.pdf.multi_cell(0, height, self.text(value), **self.next_line)

    def rule(self) -> None:
        y = self.pdf.get_y() + 2
        self.pdf.line(self.pdf.l_margin, y, self.pdf.w - self.pdf.r_margin, y)
        self.pdf.set_y(y + 3)

    def signature(self, value: str) -> None:
        """A line to sign on, with ``value`` under it."""
        self.pdf.ln(12)
        y = self.pdf.get_y()
        self.pdf.line(self.pdf.l_margin, y, self.pdf.l_margin + 80, y)
        self.pdf.set_y(y + 1)
        self.line(value, size=9)
