"""The printed prescription: an A4 PDF drawn with fpdf2, a QR code (segno) to the public verify
page. Pure: data in, bytes out (the job stores them).

What is printed is what a pharmacist needs: the clinic, the doctor and their license number, the
patient, the date, the medication lines, a signature line and the verification code. The
diagnosis and the doctor's notes are not printed (the paper travels further than the record).

A Unicode TrueType font (DejaVu Sans) is used when the system has one, so any name prints;
without it the PDF core font is used and characters outside Latin-1 are replaced.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

_FONT_DIRS = (
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/dejavu"),
    Path("/usr/share/fonts/TTF"),
    Path("/Library/Fonts"),
)


@dataclass(frozen=True)
class PrintedLine:
    name: str
    strength: str | None
    dose: str | None
    route: str | None
    frequency: str | None
    duration: str | None
    quantity: str | None
    refills: int
    instructions: str | None


@dataclass(frozen=True)
class PrintedPrescription:
    clinic_name: str
    clinic_address: str | None
    doctor_name: str
    license_number: str | None
    patient_name: str
    issued_at: datetime
    lines: list[PrintedLine]
    verification_code: str
    verify_url: str


@cache
def _unicode_font() -> tuple[Path, Path] | None:
    for folder in _FONT_DIRS:
        regular, bold = folder / "DejaVuSans.ttf", folder / "DejaVuSans-Bold.ttf"
        if regular.is_file() and bold.is_file():
            return regular, bold
    return None


class _Sheet:
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


def _details(line: PrintedLine) -> str:
    parts = [line.dose, line.route, line.frequency, line.duration and f"for {line.duration}"]
    what = ", ".join(part for part in parts if part)
    extra = [f"Quantity: {line.quantity}" if line.quantity else None]
    extra.append(f"Refills: {line.refills}")
    return "; ".join(part for part in [what, *extra] if part)


def _qr_png(url: str) -> io.BytesIO:
    import segno  # with fpdf2, on the first render

    buffer = io.BytesIO()
    segno.make(url, error="m").save(buffer, kind="png", scale=6, border=2)
    buffer.seek(0)
    return buffer


def render_prescription(data: PrintedPrescription) -> bytes:
    sheet = _Sheet()
    pdf = sheet.pdf
    pdf.set_title(sheet.text(f"Prescription {data.verification_code}"))
    pdf.set_creator("CareBridge")
    sheet.line(data.clinic_name, size=16, bold=True, height=8)
    if data.clinic_address:
        sheet.line(data.clinic_address, size=9)
    sheet.rule()
    sheet.line("Prescription", size=14, bold=True, height=7)
    sheet.line(f"Date: {data.issued_at:%d %B %Y}")
    sheet.line(f"Prescriber: {data.doctor_name}")
    sheet.line(f"License number: {data.license_number or 'not on file'}")
    sheet.line(f"Patient: {data.patient_name}")
    sheet.rule()
    for number, item in enumerate(data.lines, start=1):
        title = f"{number}. {item.name}" + (f" {item.strength}" if item.strength else "")
        sheet.line(title, size=11, bold=True, height=6)
        sheet.line(_details(item))
        if item.instructions:
            sheet.line(f"Instructions: {item.instructions}")
        pdf.ln(2)
    pdf.ln(12)
    y = pdf.get_y()
    pdf.line(pdf.l_margin, y, pdf.l_margin + 80, y)
    pdf.set_y(y + 1)
    sheet.line(f"Signature: {data.doctor_name}", size=9)
    pdf.ln(6)
    if pdf.get_y() > pdf.h - 70:
        pdf.add_page()
    top = pdf.get_y()
    pdf.image(_qr_png(data.verify_url), x=pdf.l_margin, y=top, w=35, h=35)
    pdf.set_xy(pdf.l_margin + 40, top + 4)
    pdf.set_font(sheet.family, "B", 11)
    pdf.cell(0, 6, sheet.text(f"Verification code: {data.verification_code}"))
    pdf.set_xy(pdf.l_margin + 40, top + 11)
    pdf.set_font(sheet.family, "", 9)
    pdf.multi_cell(0, 5, sheet.text(f"Check this prescription at {data.verify_url}"))
    return bytes(pdf.output())
