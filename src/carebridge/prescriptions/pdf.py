"""The printed prescription: an A4 PDF drawn with fpdf2, a QR code (segno) to the public verify
page. Pure: data in, bytes out (the job stores them).

What is printed is what a pharmacist needs: the clinic, the doctor and their license number, the
patient, the date, the medication lines, a signature line and the verification code. The
diagnosis and the doctor's notes are not printed (the paper travels further than the record).

The page itself (fonts, lines, rules) is :class:`carebridge.platform.pdf.Sheet`.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime

from carebridge.platform.pdf import Sheet


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
    sheet = Sheet()
    pdf = sheet.pdf
    sheet.letterhead(
        f"Prescription {data.verification_code}", data.clinic_name, data.clinic_address
    )
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
    sheet.signature(f"Signature: {data.doctor_name}")
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
